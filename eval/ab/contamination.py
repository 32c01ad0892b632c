"""`python -m eval.ab.contamination`: check that no eval question appears in a training set.

Training sets are read with the fine-tuning package's own reader (JSONL, JSON arrays, saved `datasets` folders),
so every format `finetune.sft` accepts is covered. A question counts as leaked when its normalised tokens equal,
or appear in, any text of a training row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pydantic import BaseModel

from eval.ab.evalset import EvalRow, load_eval_sets
from eval.ab.metrics import tokens

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "eval" / "data" / "ab").glob("*.jsonl"))
TEXT_KEYS = ("content", "text", "value", "question", "prompt", "completion", "answer", "instruction", "input")
MIN_CONTAINED = 5  # tokens (words, or CJK characters): shorter questions would match by accident inside long texts


class Leak(BaseModel):
    row_id: str
    question: str
    file: str
    line: int


def training_files(root: Path = ROOT) -> list[Path]:
    """Data files shipped in the finetune package, plus train/eval files its configs name (when present)."""
    found = {p for ext in ("*.jsonl", "*.json") for p in (root / "finetune").rglob(ext) if "__pycache__" not in p.parts}
    for config in (root / "finetune" / "configs").glob("*.yaml"):
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        for key in ("train_file", "eval_file", "dataset_path"):
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str) and (root / value).exists():
                found.add(root / value)
    return sorted(found)


def _texts(value) -> list[str]:
    """Every string under a text-like key, however deeply the format nests its messages."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key in TEXT_KEYS:
                out.append(item)
            elif isinstance(item, (dict, list)):
                out += _texts(item)
    elif isinstance(value, list):
        for item in value:
            out += _texts(item) if not isinstance(item, str) else [item]
    return out


def find_leaks(rows: list[EvalRow], files: list[Path]) -> list[Leak]:
    from finetune.datasets import read_records

    def norm(text: str) -> str:
        return " " + " ".join(tokens(text)) + " "

    questions = [(r, norm(r.question)) for r in rows]
    exact = {}
    for row, q in questions:
        exact.setdefault(q, []).append(row)
    leaks: list[Leak] = []
    for path in files:
        for line, record in read_records(path):
            if isinstance(record, Exception):
                raise ValueError(f"{path}:{line}: not valid JSON ({record})")  # noqa: TRY004 - bad data, not a bad type
            for text in _texts(record):
                t = norm(text)
                hits = list(exact.get(t, []))
                hits += [r for r, q in questions if q.count(" ") > MIN_CONTAINED and q != t and q in t]
                leaks += [Leak(row_id=r.id, question=r.question, file=str(path), line=line) for r in hits]
    unique = {(leak.row_id, leak.file, leak.line): leak for leak in leaks}
    return list(unique.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.ab.contamination", description=__doc__.splitlines()[0],
        epilog="examples:\n  python -m eval.ab.contamination                       # bundled sets vs finetune/ data\n"
               "  python -m eval.ab.contamination --train var/data/sft/train.jsonl --eval-set my_eval.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-set", nargs="+", type=Path, default=BUNDLED, help="eval JSONL files (default: bundled)")
    parser.add_argument("--train", nargs="+", type=Path, default=None,
                        help="training files or saved datasets (default: data shipped with or named by finetune/)")
    args = parser.parse_args(argv)
    files = args.train if args.train is not None else training_files()
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        print(f"error: training file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = load_eval_sets(args.eval_set)
    leaks = find_leaks(rows, files)
    for leak in leaks:
        print(f"LEAK {leak.row_id}: {leak.question!r} appears in {leak.file}:{leak.line}")
    print(f"{len(rows)} eval questions checked against {len(files)} training file(s): {len(leaks)} leak(s)")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
