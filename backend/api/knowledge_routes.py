"""Knowledge over HTTP for admins: upload with a preview before commit, curate documents and chunks (edit, merge,
split, enable, archive, delete, tags, versions and rollback), and retrieval tests on chat's own path."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from backend.accounts import Principal
from backend.api.security import require
from backend.chat import InvalidRequest
from backend.engines import EngineUnavailable
from backend.images import ImageRejected

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
    query: str = Field(min_length=1, description="The question, as an agent would ask it.")
    image: str | None = Field(None, description="Optional image as a data: URI; its OCR text joins the query, "
                              "as in chat.")
    top_k: int | None = Field(None, ge=1, le=50, description="Hits to return; empty: the domain profile's.")
    score_threshold: float | None = Field(None, ge=-1, le=1,
                                          description="Minimum dense similarity; empty: the domain profile's.")


class HitOut(BaseModel):
    chunk_id: str = Field(description="Chunk id.")
    document_id: str = Field(description="Document id.")
    title: str = Field(description="Document title.")
    source: str = Field(description="Document source.")
    text: str = Field(description="Chunk text.")
    score: float = Field(description="Dense cosine similarity.")
    fused: float = Field(description="Fusion score that ordered the hits.")


class RetrievalTestOut(BaseModel):
    query: str = Field(description="The query retrieval ran: question plus the image's OCR text, as chat builds it.")
    ocr_text: str = Field(description="Text read from the image (empty without one).")
    top_k: int = Field(description="Hits asked for.")
    score_threshold: float | None = Field(description="Similarity threshold applied.")
    tags: list[str] = Field(description="Tag filter from the domain profile.")
    hits: list[HitOut] = Field(description="The hits chat would put in the prompt, best first.")


class ChunkDetail(BaseModel):
    id: str = Field(description="Chunk id.")
    position: int = Field(description="Order in the document.")
    text: str = Field(description="Text as retrieval sees it.")
    keywords: list[str] = Field(description="Keywords.")
    enabled: bool = Field(description="Disabled chunks are kept but never retrieved.")
    edited: bool = Field(description="Changed by hand (kept over re-ingest).")
    start: int = Field(description="Offset in the extracted source text.")
    end: int = Field(description="End offset.")
    key: str | None = Field(description="Heading, question or row key the chunker gave it.")


class DocumentDetail(DocumentOut):
    domain: str = Field(description="Domain.")
    chunking: str = Field(description="Chunking strategy.")
    meta: dict = Field(description="Free metadata.")
    created_by: str = Field(description="Who added it.")
    created_at: datetime = Field(description="When.")
    chunks: list[ChunkDetail] = Field(description="Chunks in order.")


class DocumentUpdate(BaseModel):
    title: str | None = Field(None, min_length=1, description="New title.")
    tags: list[str] | None = Field(None, description="New tags (replace the old ones).")
    meta: dict | None = Field(None, description="New metadata (replaces the old).")
    language: str | None = Field(None, min_length=2, max_length=16, description="New language code.")
    status: Literal["active", "disabled", "archived"] | None = Field(
        None, description="`disabled` and `archived` take the document out of retrieval; `active` puts it back.")


class ChunkUpdate(BaseModel):
    text: str | None = Field(None, min_length=1, description="New text (re-embedded at once).")
    keywords: list[str] | None = Field(None, description="New keywords; empty with a text edit: recomputed.")
    enabled: bool | None = Field(None, description="Enable or disable the chunk for retrieval.")


class MergeIn(BaseModel):
    chunk_ids: list[str] = Field(min_length=2, description="Neighbouring chunks of one document, any order.")


class SplitIn(BaseModel):
    at: int = Field(ge=1, description="Character offset in the chunk text where the second part starts.")


class ChunkIds(BaseModel):
    chunk_ids: list[str] = Field(description="Ids of the chunks the change produced.")


class VersionOut(BaseModel):
    version: int = Field(description="Version number.")
    note: str = Field(description="What made it, e.g. `ingest`, `chunk.edit`, `document.restore`.")
    created_by: str = Field(description="Who.")
    created_at: datetime = Field(description="When.")
    snapshot: dict = Field(description="The document as it was: fields and chunks.")


def _document(d) -> DocumentOut:
    return DocumentOut(id=d.id, title=d.title, source=d.source, language=d.language, tags=d.tags or [],
                       status=d.status, version=d.version, updated_by=d.updated_by, updated_at=d.updated_at)


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
    async def documents(domain: str,
                        q: str | None = Query(None, description="Only documents whose title or source contains this."),
                        status: Literal["active", "disabled", "archived"] | None = Query(None, description="Status."),
                        tag: str | None = Query(None, description="Only documents with this tag."),
                        _: Principal = Depends(require("admin"))) -> list[DocumentOut]:
        aug = known(domain)
        rows = await asyncio.to_thread(aug.store.documents, domain)
        needle = (q or "").casefold()
        return [_document(d) for d in rows
                if (not needle or needle in d.title.casefold() or needle in d.source.casefold())
                and (status is None or d.status == status) and (tag is None or tag in (d.tags or []))]

    def retrieval_test(body: SearchIn) -> RetrievalTestOut:
        """Chat's own steps: OCR the image, join question + OCR text, retrieve with the domain profile."""
        from knowledge.ocr import OcrTimeout

        aug = known(body.domain)
        profile = aug.profile(body.domain)
        if body.score_threshold is not None:
            profile = profile.model_copy(update={"retrieval": profile.retrieval.model_copy(
                update={"score_threshold": body.score_threshold})})
        ocr_text = ""
        if body.image:
            if not body.image.startswith("data:"):
                raise InvalidRequest("image must be a data: URI (data:image/png;base64,...)", code="image_url",
                                     param="image")
            try:
                image = state.images.load(body.image)  # the same size, format and pixel limits as chat
            except ImageRejected as exc:
                raise InvalidRequest(f"image: {exc}", code=exc.limit, param="image", status=exc.status) from None
            try:
                ocr_text = aug.ocr.read(image).text
            except OcrTimeout as exc:
                raise InvalidRequest(str(exc), code="ocr_timeout", param="image") from None
        query = "\n".join(p for p in (body.query, ocr_text) if p.strip())
        hits = aug.retrieve(profile, query, body.top_k)
        return RetrievalTestOut(
            query=query, ocr_text=ocr_text, top_k=aug.blocks(profile, body.top_k),
            score_threshold=profile.retrieval.score_threshold, tags=list(profile.retrieval.tags or []),
            hits=[HitOut(chunk_id=h.chunk_id, document_id=h.document_id, title=h.title, source=h.source, text=h.text,
                         score=h.score, fused=h.fused) for h in hits])

    @r.post("/v1/knowledge/search", response_model=list[HitOut],
            summary="Retrieval test: the hits chat would use for this question (and image)")
    async def search(body: SearchIn, _: Principal = Depends(require("admin"))) -> list[HitOut]:
        return (await asyncio.to_thread(retrieval_test, body)).hits

    @r.post("/v1/knowledge/retrieval-test", response_model=RetrievalTestOut,
            summary="Retrieval test with the query chat would build, the image's OCR text and the settings used")
    async def retrieval_test_route(body: SearchIn, _: Principal = Depends(require("admin"))) -> RetrievalTestOut:
        return await asyncio.to_thread(retrieval_test, body)

    def store():
        return augmenter().store

    def run(fn, *args, **kwargs):
        """Store calls: unknown ids are 404, refused changes 400, with the store's own message."""
        try:
            return fn(*args, **kwargs)
        except KeyError as exc:
            raise InvalidRequest(str(exc.args[0] if exc.args else exc), code="not_found", status=404) from None
        except ValueError as exc:
            raise InvalidRequest(str(exc), code="invalid_change") from None

    def detail(doc_id: str) -> DocumentDetail:
        d = store().document(doc_id)
        if d is None:
            raise InvalidRequest(f"no document {doc_id}", code="not_found", param="document_id", status=404)
        return DocumentDetail(**_document(d).model_dump(), domain=d.domain, chunking=d.chunking, meta=d.meta or {},
                              created_by=d.created_by, created_at=d.created_at, chunks=[
                                  ChunkDetail(id=c.id, position=c.position, text=c.text, keywords=c.keywords or [],
                                              enabled=c.enabled, edited=c.edited, start=c.start, end=c.end, key=c.key)
                                  for c in d.chunks if not c.pending])

    @r.get("/v1/knowledge/documents/{document_id}", response_model=DocumentDetail,
           summary="One document with its chunks")
    async def get_document(document_id: str, _: Principal = Depends(require("admin"))) -> DocumentDetail:
        return await asyncio.to_thread(detail, document_id)

    @r.patch("/v1/knowledge/documents/{document_id}", response_model=DocumentDetail,
             summary="Edit title, tags, metadata, language; enable, disable or archive")
    async def update_document(document_id: str, body: DocumentUpdate,
                              principal: Principal = Depends(require("admin"))) -> DocumentDetail:
        def apply():
            fields = body.model_dump(exclude_none=True, exclude={"status"})
            if fields:
                run(store().update_document, document_id, actor=principal.username, **fields)
            if body.status is not None:
                run(store().set_status, document_id, body.status, actor=principal.username)
            if not fields and body.status is None:
                raise InvalidRequest("nothing to change: give title, tags, meta, language or status",
                                     code="empty_change")
            return detail(document_id)
        return await asyncio.to_thread(apply)

    @r.delete("/v1/knowledge/documents/{document_id}", status_code=204, summary="Delete a document for good")
    async def delete_document(document_id: str, principal: Principal = Depends(require("admin"))) -> None:
        await asyncio.to_thread(detail, document_id)  # 404 for an unknown id, not a silent no-op
        await asyncio.to_thread(run, store().delete_document, document_id, actor=principal.username)

    @r.patch("/v1/knowledge/chunks/{chunk_id}", response_model=DocumentDetail,
             summary="Edit a chunk's text or keywords; enable or disable it")
    async def update_chunk(chunk_id: str, body: ChunkUpdate,
                           principal: Principal = Depends(require("admin"))) -> DocumentDetail:
        def apply():
            doc_id = run(store().document_of, chunk_id)
            if body.text is None and body.keywords is None and body.enabled is None:
                raise InvalidRequest("nothing to change: give text, keywords or enabled", code="empty_change")
            if body.text is not None or body.keywords is not None:
                run(store().edit_chunk, chunk_id, body.text, keywords=body.keywords, actor=principal.username)
            if body.enabled is not None:
                run(store().set_chunk_enabled, chunk_id, body.enabled, actor=principal.username)
            return detail(doc_id)
        return await asyncio.to_thread(apply)

    @r.post("/v1/knowledge/chunks/merge", response_model=ChunkIds, summary="Merge neighbouring chunks into one")
    async def merge(body: MergeIn, principal: Principal = Depends(require("admin"))) -> ChunkIds:
        new_id = await asyncio.to_thread(run, store().merge_chunks, body.chunk_ids, actor=principal.username)
        return ChunkIds(chunk_ids=[new_id])

    @r.post("/v1/knowledge/chunks/{chunk_id}/split", response_model=ChunkIds, summary="Split a chunk in two")
    async def split(chunk_id: str, body: SplitIn, principal: Principal = Depends(require("admin"))) -> ChunkIds:
        ids = await asyncio.to_thread(run, store().split_chunk, chunk_id, body.at, actor=principal.username)
        return ChunkIds(chunk_ids=list(ids))

    @r.get("/v1/knowledge/documents/{document_id}/versions", response_model=list[VersionOut],
           summary="Version history of a document, oldest first")
    async def versions(document_id: str, _: Principal = Depends(require("admin"))) -> list[VersionOut]:
        await asyncio.to_thread(detail, document_id)
        rows = await asyncio.to_thread(store().versions, document_id)
        return [VersionOut(version=v.version, note=v.note, created_by=v.created_by, created_at=v.created_at,
                           snapshot=v.snapshot) for v in rows]

    @r.post("/v1/knowledge/documents/{document_id}/versions/{version}/restore", response_model=DocumentDetail,
            summary="Roll a document back to an earlier version (recorded as a new version)")
    async def restore(document_id: str, version: int,
                      principal: Principal = Depends(require("admin"))) -> DocumentDetail:
        def apply():
            run(store().restore_version, document_id, version, actor=principal.username)
            return detail(document_id)
        return await asyncio.to_thread(apply)

    return r


def _upload_root(state: State) -> Path:
    root = state.settings.data_dir / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    return root
