"""Write SFT rows (e.g. from agent feedback) as a `messages`+`images` JSONL that `finetune.sft` trains on.

Images are copied next to the JSONL under content-hash names, duplicate rows are dropped, and personal data
(e-mails, phones, ID, card and medical record numbers; `backend.privacy`) is redacted from every text. `python -m finetune.data from-feedback` feeds it
from the app database's feedback.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from backend.privacy import redact_text


def redact(text: str) -> str:
    """Replace e-mails, phones, ID, card and medical record numbers with [EMAIL], [PHONE], [ID], [CARD], [MRN]."""
    return redact_text(text)


def _redact_content(content):
    if isinstance(content, str):
        return redact(content)
    return [{**part, "text": redact(part["text"])} if part.get("type") == "text" else part for part in content]


def _image_bytes(image) -> tuple[bytes, str]:
    """(bytes, file suffix) for a path, raw bytes or a PIL image."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        return path.read_bytes(), path.suffix.lower() or ".png"
    if isinstance(image, (bytes, bytearray)):
        return bytes(image), ".png" if bytes(image[:8]) == b"\x89PNG\r\n\x1a\n" else ".jpg"
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue(), ".png"


@dataclass
class WriteReport:
    path: Path
    written: int
    duplicates: int
    redactions: int


def write_sft_jsonl(rows, out_dir: str | Path, filename: str = "train.jsonl") -> WriteReport:
    """rows: dicts with `messages` (role/content) and optional `images` (paths, bytes or PIL) → out_dir/filename."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    written = duplicates = redactions = 0
    tmp = out / (filename + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            messages = [{"role": m["role"], "content": _redact_content(m["content"])} for m in row["messages"]]
            redactions += sum(json.dumps(a["content"]) != json.dumps(b["content"])
                              for a, b in zip(messages, row["messages"]))
            names = []
            for image in row.get("images") or []:
                data, suffix = _image_bytes(image)
                name = f"images/{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
                target = out / name
                if not target.exists():  # same picture twice is stored once
                    if isinstance(image, (str, Path)):
                        shutil.copyfile(image, target)
                    else:
                        target.write_bytes(data)
                names.append(name)
            record = {"messages": messages, "images": names}
            # Same conversation on the same pictures (after redaction) is one training row.
            key = hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    tmp.replace(out / filename)
    return WriteReport(out / filename, written, duplicates, redactions)
