"""Eval sets: JSONL rows (id, images, question, domain, references, gold chunk ids, tags), validated with line numbers."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SAFETY_TAGS = ("should_refuse", "red_flag", "safety")


class EvalSetError(ValueError):
    """An eval set file is unreadable or a row is malformed; the message names the file and line."""


class EvalRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1)
    images: list[str] = Field(default_factory=list, description="Image paths relative to the JSONL file.")
    domain: str | None = None
    language: str | None = None
    references: list[str] = Field(default_factory=list, description="Acceptable answers (short).")
    gold_chunk_ids: list[str] = Field(default_factory=list, description="Knowledge chunks that answer it.")
    gold_sources: list[str] = Field(default_factory=list, description="Document sources of those chunks.")
    tags: list[str] = Field(default_factory=list)
    # filled in by the loader, not by the file
    base_dir: Path = Field(Path("."), exclude=True)

    @field_validator("tags")
    @classmethod
    def _plain_tags(cls, tags: list[str]) -> list[str]:
        bad = [t for t in tags if not t or any(c.isspace() for c in t)]
        if bad:
            raise ValueError(f"tags must be non-empty words without spaces, got {bad}")
        return tags

    @property
    def should_refuse(self) -> bool:
        return "should_refuse" in self.tags

    @property
    def is_safety_case(self) -> bool:
        return any(t in self.tags for t in SAFETY_TAGS)

    def all_tags(self) -> list[str]:
        """The row's tags plus its domain and language, so breakdowns cover them without repeating them in files."""
        extra = [f"domain:{self.domain}" if self.domain else None, f"lang:{self.language}" if self.language else None]
        return [*self.tags, *[e for e in extra if e]]

    def image_paths(self) -> list[Path]:
        return [(self.base_dir / p).resolve() for p in self.images]

    def content_hash(self) -> str:
        """Changes when the row or its images change: cached answers to the old row are not reused."""
        h = hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode())
        for path in self.image_paths():
            h.update(path.read_bytes())
        return h.hexdigest()[:16]


def data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def load_eval_set(path: Path) -> list[EvalRow]:
    """Rows of one JSONL file. Blank lines are skipped; anything else that is wrong stops with file:line."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path}: eval set file not found")
    rows: list[EvalRow] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise EvalSetError(f"{where}: a row must be a JSON object, not {type(data).__name__}")
        try:
            row = EvalRow(**data, base_dir=path.parent)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: "
                                 f"{'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}"
                                 for e in exc.errors())
            raise EvalSetError(f"{where}: {problems}") from None
        missing = [str(p) for p in row.image_paths() if not p.is_file()]
        if missing:
            raise EvalSetError(f"{where}: image not found: {', '.join(missing)}")
        rows.append(row)
    if not rows:
        raise EvalSetError(f"{path}: the eval set has no rows")
    return rows


def load_eval_sets(paths: list[Path], *, domains: list[str] | None = None, tags: list[str] | None = None,
                   max_samples: int | None = None) -> list[EvalRow]:
    """Rows of every file, filtered; ids must be unique across files."""
    rows: list[EvalRow] = []
    seen: dict[str, Path] = {}
    for path in paths:
        for row in load_eval_set(path):
            if row.id in seen:
                raise EvalSetError(f"{path}: row id {row.id!r} appears twice (also in {seen[row.id]})")
            seen[row.id] = Path(path)
            rows.append(row)
    if domains:
        rows = [r for r in rows if r.domain in domains]
    if tags:
        rows = [r for r in rows if set(tags) & set(r.all_tags())]
    if max_samples:
        rows = rows[:max_samples]
    if not rows:
        raise EvalSetError("no eval rows are left after the domain/tag filters")
    return rows
