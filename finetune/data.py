"""`python -m finetune.data from-feedback`: an SFT dataset from agents' rated and corrected answers.

Corrected answers become the targets; answers rated up are kept as they were (unless --no-approved);
thumbs-down without a correction is left out. Rows are de-duplicated, PII is redacted, and the images are
copied next to the JSONL (they exist only where the backend ran with `database.store_images: true`).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from backend.db import Database
from backend.db.models import Feedback, Message, MessageImage
from finetune.dataset_writer import WriteReport, write_sft_jsonl

EXAMPLES = """examples:
  python -m finetune.data from-feedback --out data/feedback-sft
  python -m finetune.data from-feedback --config config/visiondesk.yaml --out data/fb --status resolved
  python -m finetune.sft --config finetune/configs/sft_tiny.yaml --train_file data/feedback-sft/train.jsonl
"""


@dataclass
class FeedbackDataset:
    rows: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def collect(db: Database, *, status: str | None = None, approved: bool = True) -> FeedbackDataset:
    """Training rows from the feedback table, newest feedback per answer winning."""
    out = FeedbackDataset()
    with db.session() as s:
        items = list(s.scalars(select(Feedback).order_by(Feedback.created_at.desc(), Feedback.id.desc())))
        seen_requests: set[str] = set()
        for fb in items:
            if fb.request_id in seen_requests:
                continue  # a later rating of the same answer replaces earlier ones
            seen_requests.add(fb.request_id)
            if status and fb.status != status:
                out.skipped["status"] += 1
                continue
            turn = {m.role: m for m in s.scalars(select(Message).where(Message.request_id == fb.request_id))}
            question, answer = turn.get("user"), turn.get("assistant")
            if question is None or answer is None:
                out.skipped["answer not recorded"] += 1
                continue
            if fb.corrected_answer and fb.corrected_answer.strip():
                target = fb.corrected_answer.strip()
            elif fb.rating == "up" and approved:
                target = answer.content
            else:
                out.skipped["thumbs-down without a correction" if fb.rating == "down" else "no target"] += 1
                continue
            images = []
            for sha in question.image_hashes or []:
                stored = s.get(MessageImage, sha)
                if stored is None:
                    break
                images.append(stored.data)
            if len(images) != len(question.image_hashes or []):
                out.skipped["image bytes not stored (database.store_images is off)"] += 1
                continue
            content = [{"type": "image"} for _ in images] + [{"type": "text", "text": question.content}]
            out.rows.append({"messages": [{"role": "user", "content": content},
                                          {"role": "assistant", "content": [{"type": "text", "text": target}]}],
                             "images": images})
    return out


def from_feedback(db: Database, out_dir: Path, *, status: str | None = None, approved: bool = True
                  ) -> tuple[WriteReport, Counter]:
    dataset = collect(db, status=status, approved=approved)
    return write_sft_jsonl(dataset.rows, out_dir), dataset.skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.data", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fb = sub.add_parser("from-feedback", help="build an SFT dataset from the app database's feedback",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    fb.add_argument("--out", required=True, type=Path, help="output folder (train.jsonl + images/)")
    fb.add_argument("--config", help="VisionDesk settings YAML (for the database URL); default: the environment")
    fb.add_argument("--database-url", help="SQLAlchemy URL of the app database; overrides the settings")
    fb.add_argument("--status", choices=["open", "resolved"], help="only feedback in this review state")
    fb.add_argument("--no-approved", action="store_true", help="leave out answers rated up without a correction")
    args = parser.parse_args(argv)

    from backend.settings import SettingsError, load_settings

    try:
        url = args.database_url or load_settings(args.config).database_url
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = Database(url)
    if db.current_revision() is None:
        print(f"error: {url} holds no VisionDesk database (run the backend or `python -m backend db upgrade`)",
              file=sys.stderr)
        return 2
    report, skipped = from_feedback(db, args.out, status=args.status, approved=not args.no_approved)
    print(f"wrote {report.written} rows to {report.path} ({report.duplicates} duplicates dropped, "
          f"{report.redactions} texts redacted)")
    for reason, count in skipped.most_common():
        print(f"  skipped {count}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
