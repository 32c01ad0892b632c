"""Knowledge over HTTP for admins: upload files with a preview before commit, list documents, test retrieval."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel, Field

from backend.accounts import Principal
from backend.api.security import require
from backend.chat import InvalidRequest
from backend.engines import EngineUnavailable

if TYPE_CHECKING:
    from backend.api.app import State


class ChunkOut(BaseModel):
    position: int = Field(description="Order of the chunk in its document.")
    text: str = Field(description="Chunk text.")
    start: int = Field(description="Character offset where the chunk starts in the extracted source text.")
    end: int = Field(description="Character offset where it ends.")


class FilePreview(BaseModel):
    file: str = Field(description="Uploaded file name.")
    document_id: str | None = Field(None, description="Stable id the document would get.")
    title: str | None = Field(None, description="Title extracted from the file.")
    kind: str | None = Field(None, description="Detected format.")
    language: str | None = Field(None, description="Detected or given language.")
    chunking: str | None = Field(None, description="Chunking strategy used.")
    chunks: list[ChunkOut] = Field(default_factory=list, description="The chunks that would be stored.")
    error: str | None = Field(None, description="Why the file would be refused, if it would.")


class IngestOut(BaseModel):
    dry_run: bool = Field(description="True: nothing was stored; `preview` shows what would be.")
    preview: list[FilePreview] = Field(default_factory=list, description="With dry_run: per-file preview.")
    added: list[str] = Field(default_factory=list, description="Files stored as new documents.")
    updated: list[str] = Field(default_factory=list, description="Files that replaced an earlier version.")
    unchanged: list[str] = Field(default_factory=list, description="Files already stored as they are.")
    failed: list[dict] = Field(default_factory=list, description="Files refused, each with its reason.")


class DocumentOut(BaseModel):
    id: str = Field(description="Document id (content hash + source).")
    title: str = Field(description="Title.")
    source: str = Field(description="Where it came from.")
    language: str = Field(description="Language.")
    tags: list[str] = Field(description="Tags.")
    status: str = Field(description="`active`, `disabled` or `archived`.")
    version: int = Field(description="Current version number.")
    updated_by: str = Field(description="Who changed it last.")
    updated_at: datetime = Field(description="When.")


class SearchIn(BaseModel):
    domain: str = Field(description="Domain to search.")
    query: str = Field(min_length=1, description="Question (and any OCR text) to search for.")
    top_k: int | None = Field(None, ge=1, le=50, description="Hits to return.")
    score_threshold: float | None = Field(None, ge=-1, le=1, description="Minimum dense similarity.")


class HitOut(BaseModel):
    chunk_id: str = Field(description="Chunk id.")
    document_id: str = Field(description="Document id.")
    title: str = Field(description="Document title.")
    source: str = Field(description="Document source.")
    text: str = Field(description="Chunk text.")
    score: float = Field(description="Dense cosine similarity.")
    fused: float = Field(description="Fusion score that ordered the hits.")


def _safe_name(name: str | None) -> str:
    # Only the last path component counts: "../../etc/passwd" becomes "passwd".
    clean = Path((name or "").replace("\\", "/")).name
    if not clean or clean.startswith("."):
        raise InvalidRequest(f"file name {name!r} is not usable", code="file_name", param="files")
    return clean


def router(state: State) -> APIRouter:
    r = APIRouter(tags=["knowledge"])

    def augmenter():
        if state.grounding is None:
            raise InvalidRequest("the knowledge layer is turned off (knowledge.enabled)", code="knowledge_disabled")
        if state.grounding.augmenter is None:
            raise EngineUnavailable(state.grounding.readiness()[1], retry_after=5)
        return state.grounding.augmenter

    def known(domain: str):
        aug = augmenter()
        if domain not in aug.profiles:
            raise InvalidRequest(f"unknown domain {domain!r}; known: {', '.join(aug.profiles)}",
                                 code="unknown_domain", param="domain", status=404)
        return aug

    @r.post("/v1/knowledge/{domain}/files", response_model=IngestOut, summary="Upload files; preview or store them")
    async def upload(domain: str, files: list[UploadFile] = File(description="Documents to ingest."),
                     dry_run: bool = Form(False, description="Preview only: extract and chunk, store nothing."),
                     chunking: Literal["fixed", "heading", "qa", "row"] | None = Form(
                         None, description="Chunking strategy; empty: chosen per file type."),
                     tags: str = Form("", description="Comma-separated tags for every file."),
                     language: str | None = Form(None, description="Language code; empty: detected."),
                     principal: Principal = Depends(require("admin"))) -> IngestOut:
        from knowledge.ingest import ingest, preview

        aug = known(domain)
        staging = Path(tempfile.mkdtemp(prefix="upload-", dir=_upload_root(state)))
        try:
            paths = []
            for upload_file in files:
                target = staging / _safe_name(upload_file.filename)
                with target.open("wb") as out:
                    shutil.copyfileobj(upload_file.file, out)
                paths.append(target)
            options = dict(chunking=chunking, tags=[t.strip() for t in tags.split(",") if t.strip()],
                           language=language, source_root=staging)
            if dry_run:
                previews = await asyncio.to_thread(preview, paths, domain, aug.settings, **options)
                return IngestOut(dry_run=True, preview=[
                    FilePreview(file=Path(p.path).name, document_id=p.document_id, title=p.title, kind=p.kind,
                                language=p.language, chunking=p.chunking, error=p.error,
                                chunks=[ChunkOut(position=c.position, text=c.text, start=c.start, end=c.end)
                                        for c in p.chunks])
                    for p in previews])
            summary = await asyncio.to_thread(ingest, aug.store, paths, domain, actor=principal.username, **options)
            return IngestOut(dry_run=False, added=[Path(p).name for p in summary.added],
                             updated=[Path(p).name for p in summary.updated],
                             unchanged=[Path(p).name for p in summary.unchanged],
                             failed=[{"file": Path(p).name, "reason": why} for p, why in summary.failed])
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @r.get("/v1/knowledge/{domain}/documents", response_model=list[DocumentOut], summary="Documents of a domain")
    async def documents(domain: str, _: Principal = Depends(require("admin"))) -> list[DocumentOut]:
        aug = known(domain)
        rows = await asyncio.to_thread(aug.store.documents, domain)
        return [DocumentOut(id=d.id, title=d.title, source=d.source, language=d.language, tags=d.tags or [],
                            status=d.status, version=d.version, updated_by=d.updated_by, updated_at=d.updated_at)
                for d in rows]

    @r.post("/v1/knowledge/search", response_model=list[HitOut],
            summary="Retrieval test: the hits chat would use for this query")
    async def search(body: SearchIn, _: Principal = Depends(require("admin"))) -> list[HitOut]:
        from knowledge.retrieval import RetrievalRequest

        aug = known(body.domain)
        request = RetrievalRequest(query=body.query, domain=body.domain, top_k=body.top_k,
                                   score_threshold=body.score_threshold)
        hits = await asyncio.to_thread(aug.retriever.search, request)
        return [HitOut(chunk_id=h.chunk_id, document_id=h.document_id, title=h.title, source=h.source, text=h.text,
                       score=h.score, fused=h.fused) for h in hits]

    return r


def _upload_root(state: State) -> Path:
    root = state.settings.data_dir / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    return root
