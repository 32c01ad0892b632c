"""KnowledgeStore: records in SQL (source of truth) + vectors in Chroma, kept in step; every change versioned and audited."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import delete, select

from knowledge import records as R
from knowledge.chunking import ChunkDraft
from knowledge.embedders import Embedder, load_embedder
from knowledge.errors import EmbedderMismatch, mismatch_message
from knowledge.settings import KnowledgeSettings
from knowledge.text import keywords as extract_keywords


def sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def document_id(domain: str, source: str) -> str:
    """Stable id: the same source in the same domain is the same document across re-ingests."""
    return sha(f"{domain}\0{source}")[:24]


@dataclass(frozen=True)
class ChunkView:
    """What retrieval needs about one visible chunk."""

    id: str
    document_id: str
    text: str
    title: str
    source: str
    tags: tuple[str, ...]
    status: str
    language: str
    position: int
    key: str | None


@dataclass
class NewDocument:
    """A document ready to store: the output of extraction + chunking (also what a preview shows)."""

    domain: str
    source: str
    title: str
    content_hash: str
    language: str
    chunking: str
    chunks: list[ChunkDraft]
    tags: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return document_id(self.domain, self.source)


class KnowledgeStore:
    """Open once per process (the embedded Chroma directory is locked to its owner)."""

    def __init__(self, settings: KnowledgeSettings | None = None, *, embedder: Embedder | None = None) -> None:
        self.settings = settings or KnowledgeSettings()
        self.embedder = embedder or load_embedder(self.settings.embedder)
        self.engine = R.make_engine(self.settings.resolved_database_url())
        self.Session = R.make_sessionmaker(self.engine)
        from knowledge.index import VectorIndex  # Chroma loads only when a store opens

        self.index = VectorIndex(persist_dir=self.settings.resolved_persist_dir(),
                                 chroma_url=self.settings.chroma_url, embedder=self.embedder)

    def close(self) -> None:
        self.index.close()
        self.engine.dispose()

    def __enter__(self) -> KnowledgeStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- domains -------------------------------------------------------------------------------------------
    def check_domain(self, domain: str) -> None:
        """Refuse a domain built with another embedder, before anything is written or queried."""
        with self.Session.begin() as s:
            row = s.get(R.DomainIndex, domain)
            if row is None:
                s.add(R.DomainIndex(domain=domain, embedder=self.embedder.name, dim=self.embedder.dim, generation=0))
            elif row.embedder != self.embedder.name:
                raise EmbedderMismatch(mismatch_message(domain, row.embedder, self.embedder.name))
        self.index.collection(domain)

    def domains(self) -> list[str]:
        with self.Session() as s:
            return list(s.scalars(select(R.DomainIndex.domain).order_by(R.DomainIndex.domain)))

    def generation(self, domain: str) -> int:
        with self.Session() as s:
            row = s.get(R.DomainIndex, domain)
            return row.generation if row else -1

    def _bump(self, s, domain: str) -> None:
        row = s.get(R.DomainIndex, domain)
        row.generation += 1

    # ---- ingest --------------------------------------------------------------------------------------------
    def put_document(self, new: NewDocument, *, actor: str = "system") -> str:
        """Add or update a document atomically; returns `added`, `updated` or `unchanged`.

        Two commits around the vector write: chunks are written `pending` (invisible), vectors upserted, then
        one commit makes them visible. A crash in between leaves nothing visible and a re-run completes it.
        """
        self.check_domain(new.domain)
        doc_id = new.id
        drafts = _with_ids(doc_id, new.chunks)
        with self.Session.begin() as s:
            doc = s.get(R.Document, doc_id)
            existed = doc is not None and doc.complete
            if existed and doc.content_hash == new.content_hash and doc.chunking == new.chunking \
                    and sorted(doc.tags or []) == sorted(new.tags):
                return "unchanged"
            old = {c.original_hash: c for c in doc.chunks if not c.pending} if doc else {}
            indexed = doc is None or doc.status == "active"  # disabled/archived documents keep no vectors
            if doc is None:
                doc = R.Document(id=doc_id, domain=new.domain, source=new.source, title=new.title,
                                 content_hash=new.content_hash, language=new.language, tags=list(new.tags),
                                 meta=dict(new.meta), chunking=new.chunking, complete=False, version=0,
                                 created_by=actor, updated_by=actor)
                s.add(doc)
                s.flush()
            s.execute(delete(R.Chunk).where(R.Chunk.document_id == doc_id, R.Chunk.pending.is_(True)))
            live_ids = {c.id for c in doc.chunks if not c.pending}
            to_embed: list[tuple[str, str]] = []
            for pos, (cid, d, ohash) in enumerate(drafts):
                prev = old.get(ohash)
                if cid in live_ids and prev is not None:
                    prev.position, prev.start, prev.end, prev.key = pos, d.start, d.end, d.key
                    continue
                s.add(R.Chunk(id=cid, document_id=doc_id, position=pos, text=d.text, original_hash=ohash,
                              start=d.start, end=d.end, key=d.key, keywords=extract_keywords(d.text), pending=True))
                to_embed.append((cid, d.text))
        new_ids = [cid for cid, _ in to_embed]
        try:
            if to_embed and indexed:
                vectors = self.embedder.embed_documents([t for _, t in to_embed])
                self.index.upsert(new.domain, new_ids, vectors, [doc_id] * len(new_ids))
        except BaseException:
            self._abandon(doc_id, new.domain, new_ids, existed)
            raise
        keep = {cid for cid, _, _ in drafts}
        with self.Session.begin() as s:
            doc = s.get(R.Document, doc_id)
            stale = [c.id for c in doc.chunks if c.id not in keep]
            for c in list(doc.chunks):
                if c.id not in keep:
                    s.delete(c)
                else:
                    c.pending = False
            doc.title, doc.content_hash, doc.language = new.title, new.content_hash, new.language
            doc.tags, doc.meta, doc.chunking = list(new.tags), {**(doc.meta or {}), **new.meta}, new.chunking
            doc.complete, doc.updated_by, doc.updated_at = True, actor, R.utcnow()
            doc.version += 1
            s.flush()
            s.refresh(doc)
            s.add(R.DocumentVersion(document_id=doc_id, version=doc.version, snapshot=R.snapshot(doc),
                                    note="ingest", created_by=actor))
            s.add(R.AuditEntry(actor=actor, action="document.update" if existed else "document.add",
                               target=doc_id, detail={"source": new.source, "chunks": len(keep),
                                                      "embedded": len(new_ids), "version": doc.version}))
            self._bump(s, new.domain)
        self.index.delete(new.domain, stale)
        return "updated" if existed else "added"

    def _abandon(self, doc_id: str, domain: str, ids: list[str], existed: bool) -> None:
        """Undo a failed ingest: drop pending rows (and the document if it was new) and any vectors written."""
        with self.Session.begin() as s:
            s.execute(delete(R.Chunk).where(R.Chunk.document_id == doc_id, R.Chunk.pending.is_(True)))
            doc = s.get(R.Document, doc_id)
            if doc is not None and not existed:
                s.delete(doc)
        try:
            self.index.delete(domain, ids)
        except Exception:  # noqa: BLE001 - the index may be the thing that failed; stale ids are ignored by retrieval
            pass

    def sweep(self, domain: str) -> int:
        """Remove vectors that no visible chunk owns (left by a crash); returns how many."""
        visible = {c.id for c in self.visible_chunks(domain)}
        orphans = [i for i in self.index.all_ids(domain) if i not in visible]
        self.index.delete(domain, orphans)
        return len(orphans)

    # ---- reading -------------------------------------------------------------------------------------------
    def visible_chunks(self, domain: str) -> list[ChunkView]:
        """Enabled chunks of complete, active documents: exactly what the vector index should hold."""
        with self.Session() as s:
            rows = s.execute(
                select(R.Chunk.id, R.Chunk.document_id, R.Chunk.text, R.Document.title, R.Document.source,
                       R.Document.tags, R.Document.status, R.Document.language, R.Chunk.position, R.Chunk.key)
                .join(R.Document)
                .where(R.Document.domain == domain, R.Document.complete.is_(True), R.Document.status == "active",
                       R.Chunk.enabled.is_(True), R.Chunk.pending.is_(False))
                .order_by(R.Chunk.document_id, R.Chunk.position)
            ).all()
        return [ChunkView(r[0], r[1], r[2], r[3], r[4], tuple(r[5] or ()), r[6], r[7], r[8], r[9]) for r in rows]

    def document(self, doc_id: str) -> R.Document | None:
        with self.Session() as s:
            doc = s.get(R.Document, doc_id)
            if doc is not None:
                _ = list(doc.chunks)
            return doc

    def documents(self, domain: str, *, include_incomplete: bool = False) -> list[R.Document]:
        with self.Session() as s:
            q = select(R.Document).where(R.Document.domain == domain).order_by(R.Document.source)
            if not include_incomplete:
                q = q.where(R.Document.complete.is_(True))
            return list(s.scalars(q))

    def versions(self, doc_id: str) -> list[R.DocumentVersion]:
        with self.Session() as s:
            return list(s.scalars(select(R.DocumentVersion).where(R.DocumentVersion.document_id == doc_id)
                                  .order_by(R.DocumentVersion.version)))

    def audit_log(self, target: str | None = None) -> list[R.AuditEntry]:
        with self.Session() as s:
            q = select(R.AuditEntry).order_by(R.AuditEntry.id)
            if target:
                q = q.where(R.AuditEntry.target == target)
            return list(s.scalars(q))

    # ---- curation: each change re-syncs the index, makes a version and an audit entry --------------------
    def edit_chunk(self, chunk_id: str, text: str | None = None, *, actor: str,
                   keywords: list[str] | None = None) -> None:
        """Replace a chunk's text and/or keywords by hand; the edit survives re-ingesting the same document.

        Keywords given here are kept as they are; a text edit without them recomputes them from the text.
        """
        if text is not None and not text.strip():
            raise ValueError("chunk text must not be empty")
        if text is None and keywords is None:
            raise ValueError("give the new text, the new keywords, or both")

        def change(s, doc):
            chunk = s.get(R.Chunk, chunk_id)
            if text is not None:
                chunk.text = text
            chunk.keywords = list(keywords) if keywords is not None else extract_keywords(chunk.text)
            chunk.edited = True
            return {"chunk": chunk_id, **({"text": True} if text is not None else {}),
                    **({"keywords": list(keywords)} if keywords is not None else {})}
        self._change(self._doc_of(chunk_id), "chunk.edit", change, actor)

    def merge_chunks(self, chunk_ids: list[str], *, actor: str, separator: str = "\n\n") -> str:
        """Join neighbouring chunks of one document into one (in document order); returns the new chunk's id."""
        if len(set(chunk_ids)) < 2:
            raise ValueError("merging needs at least two different chunks")
        doc_ids = {self._doc_of(cid) for cid in chunk_ids}
        if len(doc_ids) != 1:
            raise ValueError("only chunks of the same document can be merged")
        doc_id = doc_ids.pop()
        merged_id: list[str] = []

        def change(s, doc):
            live = [c for c in doc.chunks if not c.pending]
            picked = [c for c in live if c.id in set(chunk_ids)]
            positions = [live.index(c) for c in picked]
            if positions != list(range(positions[0], positions[0] + len(positions))):
                raise ValueError("only neighbouring chunks can be merged; the chunks in between would be skipped")
            text = separator.join(c.text for c in picked)
            first = picked[0]
            new_id = sha(f"{doc_id}\0merge\0{sha(text)}")[:32]
            for c in picked:
                s.delete(c)
            s.flush()
            s.add(R.Chunk(id=new_id, document_id=doc_id, position=first.position, text=text,
                          original_hash=f"merge:{sha(text)}", start=first.start, end=picked[-1].end, key=first.key,
                          keywords=extract_keywords(text), enabled=any(c.enabled for c in picked), edited=True))
            merged_id.append(new_id)
            return {"merged": list(chunk_ids), "into": new_id}
        self._change(doc_id, "chunk.merge", change, actor)
        return merged_id[0]

    def split_chunk(self, chunk_id: str, at: int, *, actor: str) -> tuple[str, str]:
        """Cut a chunk's text in two at character offset `at`; returns the two new chunk ids."""
        doc_id = self._doc_of(chunk_id)
        made: list[str] = []

        def change(s, doc):
            chunk = s.get(R.Chunk, chunk_id)
            head, tail = chunk.text[:at].strip(), chunk.text[at:].strip()
            if not 0 < at < len(chunk.text) or not head or not tail:
                raise ValueError(f"split offset {at} must fall inside the text (1..{len(chunk.text) - 1}) and "
                                 "leave text on both sides")
            for c in doc.chunks:  # make room for the second half
                if c.position > chunk.position:
                    c.position += 1
            ids = []
            for n, (part, pos) in enumerate(((head, chunk.position), (tail, chunk.position + 1))):
                ids.append(sha(f"{doc_id}\0split\0{chunk_id}\0{n}\0{sha(part)}")[:32])
                s.add(R.Chunk(id=ids[-1], document_id=doc_id, position=pos, text=part,
                              original_hash=f"split:{sha(part)}", start=chunk.start if n == 0 else chunk.start + at,
                              end=chunk.start + at if n == 0 else chunk.end, key=chunk.key,
                              keywords=extract_keywords(part), enabled=chunk.enabled, edited=True))
            s.delete(chunk)
            made.extend(ids)
            return {"split": chunk_id, "at": at, "into": ids}
        self._change(doc_id, "chunk.split", change, actor)
        return made[0], made[1]

    def set_chunk_enabled(self, chunk_id: str, enabled: bool, *, actor: str) -> None:
        def change(s, doc):
            s.get(R.Chunk, chunk_id).enabled = enabled
            return {"chunk": chunk_id, "enabled": enabled}
        self._change(self._doc_of(chunk_id), "chunk.enable" if enabled else "chunk.disable", change, actor)

    def set_status(self, doc_id: str, status: str, *, actor: str) -> None:
        if status not in R.STATUSES:
            raise ValueError(f"status must be one of {', '.join(R.STATUSES)}")
        def change(s, doc):
            doc.status = status
            return {"status": status}
        self._change(doc_id, f"document.{status}", change, actor)

    def update_document(self, doc_id: str, *, actor: str, title: str | None = None, tags: list[str] | None = None,
                        meta: dict | None = None, language: str | None = None) -> None:
        def change(s, doc):
            for name, value in (("title", title), ("tags", tags), ("meta", meta), ("language", language)):
                if value is not None:
                    setattr(doc, name, value)
            return {k: v for k, v in (("title", title), ("tags", tags), ("meta", meta)) if v is not None}
        self._change(doc_id, "document.edit", change, actor)

    def restore_version(self, doc_id: str, version: int, *, actor: str) -> None:
        """Bring a document back to an earlier version (as a new version)."""
        with self.Session() as s:
            snap = s.scalar(select(R.DocumentVersion.snapshot).where(R.DocumentVersion.document_id == doc_id,
                                                                     R.DocumentVersion.version == version))
        if snap is None:
            raise KeyError(f"document {doc_id} has no version {version}")

        def change(s, doc):
            for name in ("title", "source", "content_hash", "language", "tags", "meta", "status", "chunking"):
                setattr(doc, name, snap[name])
            for c in list(doc.chunks):
                s.delete(c)
            s.flush()
            for c in snap["chunks"]:
                s.add(R.Chunk(document_id=doc_id, pending=False, **c))
            return {"restored": version}
        self._change(doc_id, "document.restore", change, actor)

    def delete_document(self, doc_id: str, *, actor: str) -> None:
        with self.Session.begin() as s:
            doc = s.get(R.Document, doc_id)
            if doc is None:
                return
            ids, domain = [c.id for c in doc.chunks], doc.domain
            s.delete(doc)
            s.add(R.AuditEntry(actor=actor, action="document.delete", target=doc_id, detail={"source": doc.source}))
            self._bump(s, domain)
        self.index.delete(domain, ids)

    def document_of(self, chunk_id: str) -> str:
        """The id of the document a chunk belongs to; KeyError for an unknown chunk."""
        return self._doc_of(chunk_id)

    def _doc_of(self, chunk_id: str) -> str:
        with self.Session() as s:
            chunk = s.get(R.Chunk, chunk_id)
            if chunk is None:
                raise KeyError(f"no chunk {chunk_id}")
            return chunk.document_id

    def _change(self, doc_id: str, action: str, change, actor: str) -> None:
        with self.Session.begin() as s:
            doc = s.get(R.Document, doc_id)
            if doc is None:
                raise KeyError(f"no document {doc_id}")
            before = {c.id: (c.text, c.enabled) for c in doc.chunks}
            was_active = doc.status == "active"
            detail = change(s, doc)
            s.flush()
            s.expire(doc, ["chunks"])
            doc.version += 1
            doc.updated_by, doc.updated_at = actor, R.utcnow()
            s.add(R.DocumentVersion(document_id=doc_id, version=doc.version, snapshot=R.snapshot(doc),
                                    note=action, created_by=actor))
            s.add(R.AuditEntry(actor=actor, action=action, target=doc_id, detail={**detail, "version": doc.version}))
            active = doc.status == "active" and doc.complete
            want = {c.id: c.text for c in doc.chunks if c.enabled and active}
            removed = [cid for cid in before if cid not in want]
            changed = [(cid, t) for cid, t in want.items() if before.get(cid, (None, False)) != (t, True)
                       or not was_active]
            domain = doc.domain
            # index first, commit second: if the vector write fails the change is rolled back with it
            self.index.delete(domain, removed)
            if changed:
                vecs = self.embedder.embed_documents([t for _, t in changed])
                self.index.upsert(domain, [c for c, _ in changed], vecs, [doc_id] * len(changed))
            self._bump(s, domain)

    # ---- maintenance ---------------------------------------------------------------------------------------
    def reembed(self, domain: str) -> int:
        """Rebuild a domain's vectors with this store's embedder from the records; returns chunks embedded."""
        self.index.drop(domain)
        with self.Session.begin() as s:
            row = s.get(R.DomainIndex, domain)
            if row is None:
                raise KeyError(f"no domain {domain!r}")
            row.embedder, row.dim = self.embedder.name, self.embedder.dim
            row.generation += 1
            s.add(R.AuditEntry(actor="system", action="domain.reembed", target=domain,
                               detail={"embedder": self.embedder.name}))
        chunks = self.visible_chunks(domain)
        for i in range(0, len(chunks), 256):
            part = chunks[i:i + 256]
            vecs = self.embedder.embed_documents([c.text for c in part])
            self.index.upsert(domain, [c.id for c in part], vecs, [c.document_id for c in part])
        return len(chunks)

    def is_empty(self, domain: str) -> bool:
        with self.Session() as s:
            return s.scalar(select(R.Document.id).where(R.Document.domain == domain).limit(1)) is None

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed_query(text)


def _with_ids(doc_id: str, drafts: Iterable[ChunkDraft]) -> list[tuple[str, ChunkDraft, str]]:
    """Chunk ids from the document and the chunk's own text (plus its occurrence), so they survive re-ingest."""
    seen: dict[str, int] = {}
    out = []
    for d in drafts:
        ohash = sha(d.text)
        n = seen.get(ohash, 0)
        seen[ohash] = n + 1
        ohash_n = ohash if n == 0 else f"{ohash}:{n}"
        out.append((sha(f"{doc_id}\0{ohash_n}")[:32], d, ohash_n))
    return out
