"""Runs every variant over every row (then the judge), caching each finished sample so a rerun resumes.

Each answer is appended to `samples.jsonl` as soon as it arrives; a rerun with the same config reads the file
back and asks only for what is missing. An error answer is a record with `status: error`, never a dead run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from eval.ab.backends import Target, close_all, open_targets, start_all
from eval.ab.client import ask, request_body
from eval.ab.config import ABConfig, JudgeSpec, VariantSpec
from eval.ab.evalset import EvalRow, load_eval_sets
from eval.ab.judge import grading_body, pairwise_body, parse_grade, parse_pairwise

SAMPLES = "samples.jsonl"
JUDGMENTS = "judgments.jsonl"


@dataclass
class RunResult:
    config: ABConfig
    rows: list[EvalRow]
    answers: dict[tuple[str, str], dict]  # (variant, row id) → record
    judgments: list[dict]
    computed: int = 0
    cached: int = 0
    unreadable_lines: int = 0
    seconds: float = 0.0
    keys: dict[tuple[str, str], str] = field(default_factory=dict)


def row_seed(seed: int, row: EvalRow) -> int:
    """The same seed for every variant on one row (paired), different across rows."""
    return (seed * 1_000_003 + int(hashlib.sha256(row.id.encode()).hexdigest()[:8], 16)) % 2**31


def answer_key(spec: VariantSpec, row: EvalRow, seed: int, served: str = "") -> str:
    return f"{spec.name}|{spec.fingerprint()}|{served}|{row.id}|{row.content_hash()}|{seed}"


def served_fingerprint(config: ABConfig, spec: VariantSpec) -> str:
    """What serves a variant: the backend settings, and the size and time of every file under the local model and
    adapter paths they name, so a model retrained in place is asked again instead of answered from the cache.
    (A `backend_url` server is known by its URL only.)"""
    h = hashlib.sha256(json.dumps([config.backend_settings, spec.settings, config.backend_url], sort_keys=True,
                                  default=str).encode())
    if config.backend_config and Path(config.backend_config).is_file():
        h.update(Path(config.backend_config).read_bytes())
    for section in (config.backend_settings.get("model") or {}, (spec.settings or {}).get("model") or {}):
        named = [section.get("path")] + list((section.get("adapters") or {}).values())
        for value in (v for v in named if isinstance(v, str) and v):
            for f in _files(Path(value)):  # a hub id names no local file and adds nothing
                stat = f.stat()
                h.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []


def read_cache(path: Path) -> tuple[dict[str, dict], int]:
    """Records by key; a line cut short by an interruption is skipped (and counted), not fatal."""
    records: dict[str, dict] = {}
    bad = 0
    if not path.is_file():
        return records, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            records[rec["key"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            bad += 1
    return records, bad


def write_jsonl(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)


class _Appender:
    """Appends one JSON line per finished sample and flushes it, so an interruption loses at most that line."""

    def __init__(self, path: Path):
        cut_short = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self.file = path.open("a", encoding="utf-8")
        if cut_short:
            self.file.write("\n")  # end the interrupted line, so the next record starts on its own line

    def __call__(self, record: dict) -> None:
        self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="req", file=sys.stderr, disable=not enabled or total == 0)


async def _call(target: Target, body: dict, timeout_s: float) -> dict:
    try:
        # httpx applies timeouts in its network layer only; the in-process transport needs this one.
        answer = await asyncio.wait_for(ask(target.client, body), timeout_s)
    except TimeoutError:
        return {"status": "error", "error": f"TimeoutError: no complete answer within {timeout_s:.0f} s"}
    except Exception as exc:  # noqa: BLE001 - any failure of one sample is that sample's result
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok", **answer.model_dump(exclude={"citations"}),
            "citations": [c.model_dump() for c in answer.citations], "tokens_per_s": answer.tokens_per_s}


async def run(config: ABConfig) -> RunResult:
    started = time.perf_counter()
    rows = load_eval_sets(config.eval_set, domains=config.domains, tags=config.tags, max_samples=config.max_samples)
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.resolved.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True), encoding="utf-8")

    cached_answers, bad_a = read_cache(out / SAMPLES)
    cached_judgments, bad_j = read_cache(out / JUDGMENTS)
    result = RunResult(config=config, rows=rows, answers={}, judgments=[], unreadable_lines=bad_a + bad_j)

    todo: list[tuple[VariantSpec, EvalRow, str, int]] = []
    for spec in config.variants:
        served = served_fingerprint(config, spec)
        for row in rows:
            seed = row_seed(config.seed, row)
            key = answer_key(spec, row, seed, served)
            result.keys[(spec.name, row.id)] = key
            rec = cached_answers.get(key)
            if rec is not None and not (rec["status"] == "error" and config.retry_errors):
                result.answers[(spec.name, row.id)] = rec
                result.cached += 1
            else:
                todo.append((spec, row, key, seed))

    # Backends start only when something is left to ask: a finished run re-reports without loading a model.
    targets: dict[str, Target] = {}

    async def ready() -> dict[str, Target]:
        if not targets:
            targets.update(open_targets(config))
            await start_all(targets)
        return targets

    try:
        if todo:
            append = _Appender(out / SAMPLES)
            try:
                await _answer_all(config, await ready(), todo, result, append)
            finally:
                append.close()
        if config.judge is not None:
            judge_todo = _judge_tasks(config, rows, result, cached_judgments)
            if judge_todo:
                append = _Appender(out / JUDGMENTS)
                try:
                    await _judge_all(config, await ready(), judge_todo, result, append)
                finally:
                    append.close()
    finally:
        await close_all(targets)
    result.seconds = time.perf_counter() - started
    return result


async def _answer_all(config: ABConfig, targets: dict[str, Target], todo, result: RunResult, append) -> None:
    limit = asyncio.Semaphore(config.concurrency)
    bar = _progress(len(todo), "answers", config.progress)

    async def one(spec: VariantSpec, row: EvalRow, key: str, seed: int) -> None:
        async with limit:
            rec = await _call(targets[spec.name], request_body(spec, row, seed), config.request_timeout_s)
        rec = {"key": key, "variant": spec.name, "row_id": row.id, "seed": seed, **rec}
        append(rec)
        result.answers[(spec.name, row.id)] = rec
        result.computed += 1
        bar.update(1)

    try:
        await asyncio.gather(*(one(*task) for task in todo))
    finally:
        bar.close()


def _judge_tasks(config: ABConfig, rows: list[EvalRow], result: RunResult, cached: dict[str, dict]) -> list[tuple]:
    """Judge requests still to make; already judged ones are taken from the cache into the result."""
    judge: JudgeSpec = config.judge
    fp = judge.fingerprint()
    todo, result.judgments = [], []
    base = config.baseline.name
    for row in rows:
        seed = row_seed(config.seed, row)
        answers = {s.name: result.answers.get((s.name, row.id)) for s in config.variants}
        if judge.pairwise:
            a = answers[base]
            for spec in config.variants[1:]:
                b = answers[spec.name]
                if not a or not b or a["status"] != "ok" or b["status"] != "ok":
                    continue
                for order in ("forward", "backward"):
                    key = f"pair|{fp}|{a['key']}|{b['key']}|{order}"
                    meta = {"key": key, "kind": "pairwise", "row_id": row.id, "baseline": base,
                            "variant": spec.name, "order": order}
                    first, second = (a["text"], b["text"]) if order == "forward" else (b["text"], a["text"])
                    _take_or_queue(cached, key, meta, pairwise_body(judge, row, first, second, seed), config,
                                   result, todo)
        if judge.grading:
            for spec in config.variants:
                rec = answers[spec.name]
                if not rec or rec["status"] != "ok":
                    continue
                key = f"grade|{fp}|{rec['key']}"
                meta = {"key": key, "kind": "grade", "row_id": row.id, "variant": spec.name}
                _take_or_queue(cached, key, meta, grading_body(judge, row, rec["text"], seed), config, result, todo)
    return todo


def _take_or_queue(cached, key, meta, body, config, result, todo) -> None:
    rec = cached.get(key)
    if rec is not None and not (rec["status"] == "error" and config.retry_errors):
        result.judgments.append(rec)
        result.cached += 1
    else:
        todo.append((meta, body))


async def _judge_all(config: ABConfig, targets: dict[str, Target], todo, result: RunResult, append) -> None:
    limit = asyncio.Semaphore(config.concurrency)
    bar = _progress(len(todo), "judge", config.progress)
    target = targets[config.judge.name]

    async def one(meta: dict, body: dict) -> None:
        async with limit:
            rec = await _call(target, body, config.request_timeout_s)
        text = rec.get("text", "")
        parsed = (parse_pairwise(text) if meta["kind"] == "pairwise" else parse_grade(text)) \
            if rec["status"] == "ok" else None
        rec = {**meta, "status": rec["status"], "error": rec.get("error"), "text": text, "parsed": parsed,
               "request_id": rec.get("request_id")}
        append(rec)
        result.judgments.append(rec)
        result.computed += 1
        bar.update(1)

    try:
        await asyncio.gather(*(one(*task) for task in todo))
    finally:
        bar.close()
