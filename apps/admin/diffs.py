"""Text views of documents for the console: a version's chunks as text, diffs between versions, the source."""

from __future__ import annotations

import difflib


def snapshot_text(snapshot: dict) -> str:
    """A version as reviewable text: its fields, then each chunk with its state."""
    head = [f"title: {snapshot.get('title', '')}", f"status: {snapshot.get('status', '')}",
            f"tags: {', '.join(snapshot.get('tags') or [])}", f"language: {snapshot.get('language', '')}"]
    chunks = sorted(snapshot.get("chunks") or [], key=lambda c: c["position"])
    body = []
    for c in chunks:
        state = "" if c.get("enabled", True) else " (disabled)"
        body += [f"--- chunk {c['position']}{state} keywords: {', '.join(c.get('keywords') or [])}",
                 *c["text"].splitlines()]
    return "\n".join(head + body)


def version_diff(old: dict, new: dict, old_label: str, new_label: str) -> str:
    """Unified diff of two version snapshots (empty when they are the same)."""
    return "\n".join(difflib.unified_diff(snapshot_text(old).splitlines(), snapshot_text(new).splitlines(),
                                          fromfile=old_label, tofile=new_label, lineterm=""))


def source_text(snapshot: dict) -> str:
    """The extracted source as the chunker saw it, rebuilt from an ingest snapshot's chunk offsets.

    Chunks may overlap (fixed-size chunking with overlap); each one adds only the text past what is already there.
    """
    chunks = sorted(snapshot.get("chunks") or [], key=lambda c: (c.get("start", 0), c["position"]))
    text, end = "", None
    for c in chunks:
        start, piece = c.get("start", 0), c["text"]
        if end is None:
            text = piece
        elif start >= end:
            text += "\n\n" + piece  # the gap held only whitespace the chunker dropped
        else:
            text += piece[end - start:]  # overlapping windows: add only what is new
        end = max(end or 0, c.get("end", start + len(piece)))
    return text
