"""Chunking strategies: fixed size with overlap, by heading, one Q&A pair or one row per chunk."""

from __future__ import annotations

import re
from dataclasses import dataclass

STRATEGIES = ("fixed", "heading", "qa", "row")
_HEADING = re.compile(r"^#{1,6}\s+\S", re.M)
_QA = re.compile(r"^(?:Q|Question|问)\s*[:：]", re.M | re.I)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: text and character offsets into the document's extracted text."""

    text: str
    start: int
    end: int
    key: str | None = None


@dataclass(frozen=True)
class Record:
    """One unit of a structured source (a CSV row, an FAQ pair) with its offsets in the extracted text."""

    key: str | None
    text: str
    start: int
    end: int


def fixed(text: str, size: int, overlap: int, base: int = 0) -> list[ChunkDraft]:
    """Windows of about `size` characters that prefer to end at a paragraph or sentence boundary."""
    overlap = min(overlap, size // 2)
    out: list[ChunkDraft] = []
    start, n = 0, len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            window = text[start:end]
            for sep in ("\n\n", "\n", "。", ". ", "！", "？", "; ", "；", " "):
                cut = window.rfind(sep)
                if cut > size // 2:
                    end = start + cut + len(sep)
                    break
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(ChunkDraft(piece.strip(), base + start + lead, base + start + lead + len(piece.strip())))
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return out


def by_heading(text: str, size: int, overlap: int) -> list[ChunkDraft]:
    """One chunk per Markdown-style section; long sections are split further and keep their heading."""
    starts = [m.start() for m in _HEADING.finditer(text)]
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    # a heading with no body of its own (a document title over its first section) joins the next section
    merged: list[int] = []
    for i, s in enumerate(starts):
        if merged and i > 0 and "\n" not in text[merged[-1]:s].strip():
            continue
        merged.append(s)
    starts = merged
    out: list[ChunkDraft] = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        section = text[s:e]
        if not section.strip():
            continue
        if len(section) <= size * 1.5:
            lead = len(section) - len(section.lstrip())
            body = section.strip()
            out.append(ChunkDraft(body, s + lead, s + lead + len(body)))
            continue
        heading = section.splitlines()[0].strip() if _HEADING.match(section) else ""
        for d in fixed(section, size, overlap, base=s):
            prefixed = d.text if not heading or d.text.startswith(heading) else f"{heading}\n{d.text}"
            out.append(ChunkDraft(prefixed, d.start, d.end))
    return out


def qa_pairs(text: str) -> list[ChunkDraft]:
    """Split a plain-text FAQ at each `Q:` / `问：` line."""
    starts = [m.start() for m in _QA.finditer(text)]
    if not starts:
        return []
    out = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        body = text[s:e].strip()
        if body:
            out.append(ChunkDraft(body, s, s + len(body)))
    return out


def chunk(text: str, records: list[Record] | None, strategy: str, size: int, overlap: int) -> list[ChunkDraft]:
    """Apply `strategy`; structured sources (rows, FAQ pairs) always give one chunk per record."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown chunking {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if records:
        return [ChunkDraft(r.text, r.start, r.end, r.key) for r in records if r.text.strip()]
    if strategy == "heading":
        return by_heading(text, size, overlap)
    if strategy == "qa":
        return qa_pairs(text) or fixed(text, size, overlap)
    return fixed(text, size, overlap)
