"""Training data formats → TRL prompt/completion rows: JSONL messages+images, LLaVA JSON, ShareGPT, saved `datasets`.

Every row keeps the line (or row number) it came from, so validation can point at it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

IMAGE_TAG = "<image>"
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
         "model": "assistant", "bot": "assistant"}


def text_part(text: str) -> dict:
    return {"type": "text", "text": text}


def to_parts(content) -> list[dict]:
    """Content (string with `<image>` tags, or a list of parts) → a list of text/image parts."""
    if content is None:
        return []
    if isinstance(content, str):
        parts = []
        for i, piece in enumerate(content.split(IMAGE_TAG)):
            if i:
                parts.append({"type": "image"})
            # LLaVA data writes "<image>\nQuestion": the newline belongs to the tag, not the question.
            piece = piece.lstrip("\n") if i else piece
            if piece:
                parts.append(text_part(piece))
        return parts
    out = []
    for part in content:
        kind = part.get("type")
        if kind in ("image", "image_url", "input_image"):
            out.append({"type": "image"})
        elif kind == "text":
            out.extend(to_parts(part.get("text", "")))  # a text part may still carry <image> tags
    return out


def split_turns(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(prompt, completion): the completion is the last assistant turn, everything before it is the prompt."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return messages, []
    return messages[:last], [messages[last]]


def _image_list(record: dict) -> list:
    images = record.get("images", record.get("image"))
    if images is None:
        return []
    return images if isinstance(images, list) else [images]


def _resolve(image, base: Path):
    # Paths are relative to the data file (or --image_folder); PIL images and bytes pass through.
    if isinstance(image, str):
        path = Path(image)
        return str(path if path.is_absolute() else base / path)
    return image


def record_to_row(record: dict, base: Path, line: int, caption_prompt: str = "") -> dict:
    """One source record (any supported shape) → {prompt, completion, images, line}."""
    if "prompt" in record and "completion" in record:
        prompt = [{"role": m["role"], "content": to_parts(m["content"])} for m in record["prompt"]]
        completion = [{"role": m["role"], "content": to_parts(m["content"])} for m in record["completion"]]
    else:
        if "messages" in record:
            messages = [{"role": ROLES.get(m.get("role"), m.get("role")), "content": to_parts(m.get("content"))}
                        for m in record["messages"]]
        elif "conversations" in record:  # LLaVA and ShareGPT
            messages = [{"role": ROLES.get(t.get("from"), t.get("from")), "content": to_parts(t.get("value"))}
                        for t in record["conversations"]]
        elif "caption" in record:  # image-caption pairs for stage-1 alignment
            prompt_parts = [{"type": "image"}] + ([text_part(caption_prompt)] if caption_prompt else [])
            messages = [{"role": "user", "content": prompt_parts},
                        {"role": "assistant", "content": [text_part(record["caption"])]}]
        else:
            raise ValueError(f"line {line}: no `messages`, `conversations`, `prompt`/`completion` or `caption` field")
        if record.get("system") and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": [text_part(record["system"])]})
        prompt, completion = split_turns(messages)
    return {"prompt": prompt, "completion": completion,
            "images": [_resolve(im, base) for im in _image_list(record)], "line": line}


def _json_array_with_lines(text: str):
    """Yield (line, record) for each element of a top-level JSON array, with the line where it starts."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        record, end = decoder.raw_decode(text, pos)
        yield text.count("\n", 0, pos) + 1, record
        pos = end


def read_records(path: str | Path) -> list[tuple[int, dict | Exception]]:
    """(line, record) pairs from a JSONL file, a JSON array file or a saved `datasets` folder.

    A line that is not valid JSON comes back as (line, the error), so validation can report it too.
    """
    path = Path(path)
    if path.is_dir():
        from datasets import load_from_disk

        data = load_from_disk(str(path))
        if hasattr(data, "keys"):  # a DatasetDict: take its train split
            data = data["train"] if "train" in data else data[next(iter(data.keys()))]
        return [(i + 1, dict(row)) for i, row in enumerate(data)]
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return list(_json_array_with_lines(text))
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((number, json.loads(raw)))
        except json.JSONDecodeError as exc:
            out.append((number, exc))
    return out


def load_rows(path: str | Path, image_folder: str | Path = "", caption_prompt: str = "") -> list[dict | Exception]:
    """Rows (or the parse errors, with their line) from any supported file; images resolved to absolute paths."""
    path = Path(path)
    base = Path(image_folder) if image_folder else (path if path.is_dir() else path.parent)
    rows = []
    for line, record in read_records(path):
        if isinstance(record, Exception):
            rows.append(ValueError(f"line {line}: not valid JSON ({record})"))
            continue
        try:
            rows.append(record_to_row(record, base, line, caption_prompt))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            rows.append(ValueError(f"line {line}: {exc}"))
    return rows


def to_dataset(rows: list[dict]):
    """A `datasets.Dataset` of prompt/completion/images that TRL's vision collator takes; images decode lazily."""
    from datasets import Dataset, Image, List

    if rows and all(isinstance(im, str) for row in rows for im in row["images"]):
        data = Dataset.from_list([{k: row[k] for k in ("prompt", "completion", "images")} for row in rows])
        return data.cast_column("images", List(Image()))
    return Dataset.from_list([{k: row[k] for k in ("prompt", "completion", "images")} for row in rows])


def dataset_hash(path: str | Path) -> str:
    """sha256 over the data file (or folder) and every image it names, so a run records exactly what it saw."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    if not path.is_dir():
        for row in load_rows(path):
            if isinstance(row, dict):
                for image in row["images"]:
                    if isinstance(image, str) and Path(image).is_file():
                        digest.update(Path(image).read_bytes())
    return digest.hexdigest()




def count_image_parts(messages: list[dict]) -> int:
    return sum(1 for m in messages for p in m["content"] if p.get("type") == "image")
