"""Admin console endpoints: overview, health of the parts, activity over time, the audit log, feedback review
details with images, the SFT export, and LoRA adapters on a vLLM server."""

from __future__ import annotations

import asyncio
import io
import tempfile
import zipfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from backend.accounts import Principal
from backend.api.security import require
from backend.audit import AuditLog, AuditRequests
from backend.chat import InvalidRequest
from backend.db.models import Feedback, Message, MessageImage, RequestLog, User

if TYPE_CHECKING:
    from backend.api.app import State


class DomainStats(BaseModel):
    domain: str = Field(description="Domain (one Chroma collection).")
    documents: dict[str, int] = Field(description="Documents by status: active, disabled, archived.")
    chunks: int = Field(description="Chunks retrieval can see (enabled chunks of active documents).")
    vectors: int = Field(description="Vectors in the domain's Chroma collection.")


class AuditOut(BaseModel):
    id: int = Field(description="Entry id.")
    at: datetime = Field(description="When.")
    actor: str = Field(description="Who.")
    action: str = Field(description="What, e.g. `chunk.edit` or `PATCH /v1/users/{username}`.")
    target: str = Field(description="Document id, username or other target.")
    detail: dict = Field(description="Details (secrets never).")


class Overview(BaseModel):
    domains: list[DomainStats] = Field(description="Knowledge per domain (empty when knowledge is off).")
    users: dict[str, int] = Field(description="Active accounts by role.")
    open_feedback: int = Field(description="Feedback items waiting for review.")
    recent_changes: list[AuditOut] = Field(description="The latest audit entries.")


class Component(BaseModel):
    name: Literal["backend", "model_server", "knowledge"] = Field(description="Which part.")
    ok: bool = Field(description="Working.")
    detail: str = Field(description="Why, in words.")


class DayActivity(BaseModel):
    day: date = Field(description="UTC day.")
    answers: int = Field(description="Chat requests answered.")
    errors: int = Field(description="Chat requests that failed.")
    feedback: int = Field(description="Feedback items given.")
    up: int = Field(description="Thumbs up.")
    down: int = Field(description="Thumbs down.")
    flagged: int = Field(description="Flagged for review.")
    feedback_rate: float = Field(description="Feedback items per answer (0 when there were no answers).")


class FeedbackDetail(BaseModel):
    id: int = Field(description="Feedback id.")
    request_id: str = Field(description="The rated answer.")
    rating: str | None = Field(description="`up`, `down` or empty.")
    reasons: list[str] = Field(description="Reason tags.")
    comment: str | None = Field(description="The agent's comment.")
    corrected_answer: str | None = Field(description="The agent's correction.")
    flagged: bool = Field(description="Asked for review.")
    status: str = Field(description="`open` or `resolved`.")
    created_at: datetime = Field(description="When it was given.")
    question: str = Field(description="The question.")
    answer: str = Field(description="The answer as given.")
    image_hashes: list[str] = Field(description="Images of the question; fetch with /v1/admin/images/{sha}.")
    images_stored: bool = Field(description="Whether the image bytes were kept (database.store_images).")
    domain: str | None = Field(description="Domain of the answer.")
    citations: list[dict] = Field(description="The sources the answer cited.")


class SftExportIn(BaseModel):
    status: Literal["open", "resolved"] | None = Field(
        "resolved", description="Only feedback in this review state; empty: all.")
    approved: bool = Field(True, description="Keep answers rated up without a correction as they were.")


class AdapterLoad(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$", description="Adapter name.")
    path: str = Field(min_length=1, description="Adapter folder as the vLLM server sees it.")


class AdapterUnload(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Adapter name.")


class ServedModels(BaseModel):
    engine: str = Field(description="`transformers` (in-process) or `openai` (a model server).")
    base_url: str | None = Field(description="The model server, for the `openai` engine.")
    served: list[str] = Field(description="Models and adapters the model server lists now.")


def _audit(e) -> AuditOut:
    return AuditOut(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail or {})


def install(app: FastAPI, state: State) -> None:
    """Add the admin routes and the middleware that audits admin actions."""
    audit = AuditLog(state.settings.knowledge.resolved_database_url())
    app.add_middleware(AuditRequests, audit=audit)
    app.include_router(router(state, audit))


def router(state: State, audit: AuditLog) -> APIRouter:
    r = APIRouter(tags=["admin"])
    db = state.db

    def knowledge_store():
        aug = state.grounding.augmenter if state.grounding is not None else None
        return aug.store if aug is not None else None

    def domain_stats() -> list[DomainStats]:
        store = knowledge_store()
        if store is None:
            return []
        out = []
        # every profile's domain, even before its first document, and any domain the store holds
        held = set(store.domains())
        for domain in sorted(held | set(state.grounding.augmenter.profiles)):
            counts = Counter(d.status for d in store.documents(domain))
            out.append(DomainStats(domain=domain, documents={s: counts.get(s, 0) for s in ("active", "disabled",
                                                                                            "archived")},
                                   chunks=len(store.visible_chunks(domain)),
                                   vectors=store.index.count(domain) if domain in held else 0))
        return out

    def overview() -> Overview:
        with db.session() as s:
            users = dict(s.execute(select(User.role, func.count()).where(User.disabled.is_(False))
                                   .group_by(User.role)).all())
            open_items = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.status == "open"))
        return Overview(domains=domain_stats(), users=users, open_feedback=open_items or 0,
                        recent_changes=[_audit(e) for e in audit.entries(limit=20)])

    @r.get("/v1/admin/overview", response_model=Overview, summary="Knowledge per domain, accounts, recent changes")
    async def get_overview(_: Principal = Depends(require("admin"))) -> Overview:
        return await asyncio.to_thread(overview)

    @r.get("/v1/admin/health", response_model=list[Component],
           summary="Health of the backend, the model server (or in-process model) and the knowledge store/Chroma")
    async def health(_: Principal = Depends(require("admin"))) -> list[Component]:
        engine_ok, engine_detail = await state.engine.readiness()
        if state.grounding is None:
            knowledge = Component(name="knowledge", ok=False, detail="knowledge is turned off (knowledge.enabled)")
        else:
            ok, why = state.grounding.readiness()
            if ok:
                try:
                    store = knowledge_store()
                    vectors = await asyncio.to_thread(lambda: sum(store.index.count(d) for d in store.domains()))
                    why = f"Chroma answers; {vectors} vectors in {len(store.domains())} collections"
                except Exception as exc:  # noqa: BLE001 - a broken Chroma is what this endpoint reports
                    ok, why = False, f"Chroma does not answer: {exc}"
            knowledge = Component(name="knowledge", ok=ok, detail=why)
        since = datetime.fromtimestamp(state.started, UTC)
        return [Component(name="backend", ok=True, detail=f"up since {since:%Y-%m-%d %H:%M} UTC"),
                Component(name="model_server", ok=engine_ok, detail=engine_detail), knowledge]

    def activity(days: int) -> list[DayActivity]:
        start = datetime.now(UTC).date() - timedelta(days=days - 1)
        since = datetime.combine(start, datetime.min.time(), UTC)
        table = {start + timedelta(days=n): Counter() for n in range(days)}
        with db.session() as s:
            for time, status in s.execute(select(RequestLog.time, RequestLog.status).where(RequestLog.time >= since)):
                table.setdefault(_day(time), Counter())["answers" if status == 200 else "errors"] += 1
            for time, rating, flagged in s.execute(select(Feedback.created_at, Feedback.rating, Feedback.flagged)
                                                   .where(Feedback.created_at >= since)):
                row = table.setdefault(_day(time), Counter())
                row["feedback"] += 1
                row[rating or "none"] += 1
                row["flagged"] += bool(flagged)
        return [DayActivity(day=d, answers=c["answers"], errors=c["errors"], feedback=c["feedback"], up=c["up"],
                            down=c["down"], flagged=c["flagged"],
                            feedback_rate=round(c["feedback"] / c["answers"], 4) if c["answers"] else 0.0)
                for d, c in sorted(table.items()) if d >= start]

    @r.get("/v1/admin/activity", response_model=list[DayActivity], summary="Answers and feedback per day")
    async def get_activity(days: int = Query(14, ge=1, le=366, description="Days back from today (UTC)."),
                           _: Principal = Depends(require("admin"))) -> list[DayActivity]:
        return await asyncio.to_thread(activity, days)

    @r.get("/v1/admin/audit", response_model=list[AuditOut],
           summary="The audit log, newest first: knowledge changes and every other admin action")
    async def get_audit(target: str | None = Query(None, description="Only entries about this target."),
                        actor: str | None = Query(None, description="Only entries by this account."),
                        action: str | None = Query(None, description="Only actions starting with this, e.g. `chunk.`."),
                        limit: int = Query(200, ge=1, le=5000, description="Most entries to return."),
                        _: Principal = Depends(require("admin"))) -> list[AuditOut]:
        rows = await asyncio.to_thread(audit.entries, target=target, actor=actor, action=action, limit=limit)
        return [_audit(e) for e in rows]

    def feedback_detail(feedback_id: int) -> FeedbackDetail:
        with db.session() as s:
            fb = s.get(Feedback, feedback_id)
            if fb is None:
                raise InvalidRequest(f"no feedback {feedback_id}", code="not_found", status=404)
            turn = {m.role: m for m in s.scalars(select(Message).where(Message.request_id == fb.request_id))}
            question, answer = turn.get("user"), turn.get("assistant")
            hashes = list(question.image_hashes or []) if question else []
            stored = all(s.get(MessageImage, h) is not None for h in hashes)
            meta = answer.meta or {} if answer else {}
            log = s.get(RequestLog, fb.request_id)
            return FeedbackDetail(
                id=fb.id, request_id=fb.request_id, rating=fb.rating, reasons=fb.reasons or [], comment=fb.comment,
                corrected_answer=fb.corrected_answer, flagged=fb.flagged, status=fb.status, created_at=fb.created_at,
                question=question.content if question else "", answer=answer.content if answer else "",
                image_hashes=hashes, images_stored=bool(hashes) and stored,
                domain=meta.get("domain") or (log.domain if log else None), citations=meta.get("citations") or [])

    @r.get("/v1/admin/feedback/{feedback_id}", response_model=FeedbackDetail,
           summary="One feedback item with its question, answer, images and sources")
    async def get_feedback(feedback_id: int, _: Principal = Depends(require("admin"))) -> FeedbackDetail:
        return await asyncio.to_thread(feedback_detail, feedback_id)

    def image(sha: str) -> bytes:
        with db.session() as s:
            row = s.get(MessageImage, sha)
            if row is None:
                raise InvalidRequest(f"no stored image {sha} (images are kept only with database.store_images)",
                                     code="not_found", status=404)
            return row.data

    @r.get("/v1/admin/images/{sha}", summary="A stored chat image (PNG)", response_class=Response,
           responses={200: {"content": {"image/png": {}}, "description": "PNG bytes"}})
    async def get_image(sha: str, _: Principal = Depends(require("admin"))) -> Response:
        return Response(await asyncio.to_thread(image, sha), media_type="image/png")

    def sft_export(body: SftExportIn) -> bytes:
        from finetune.data import from_feedback

        with tempfile.TemporaryDirectory(prefix="sft-export-") as tmp:
            report, skipped = from_feedback(db, Path(tmp), status=body.status, approved=body.approved)
            if not report.written:
                why = "; ".join(f"{n} {reason}" for reason, n in skipped.most_common()) or "no feedback matches"
                raise InvalidRequest(f"no SFT rows to export ({why})", code="empty_export")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(Path(tmp).rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(tmp).as_posix())
            return buf.getvalue()

    @r.post("/v1/admin/sft-export", response_class=Response, summary="SFT dataset from feedback, as a zip",
            responses={200: {"content": {"application/zip": {}},
                             "description": "train.jsonl (+ images/), the format `python -m finetune.sft` reads"}})
    async def post_sft_export(body: SftExportIn, _: Principal = Depends(require("admin"))) -> Response:
        data = await asyncio.to_thread(sft_export, body)
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="feedback-sft.zip"'})

    def model_server() -> str:
        if state.settings.model.engine != "openai":
            raise InvalidRequest("adapters can be loaded at run time only on a model server (model.engine: openai, "
                                 "a vLLM server started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)",
                                 code="no_model_server")
        return state.settings.openai.base_url.rstrip("/")

    async def upstream(method: str, path: str, body: dict | None = None) -> httpx.Response:
        base = model_server()
        headers = {"Authorization": f"Bearer {state.settings.openai.api_key.get_secret_value()}"}
        try:
            async with httpx.AsyncClient(timeout=120) as client:
                resp = await client.request(method, f"{base}{path}", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise InvalidRequest(f"model server at {base} is unreachable: {exc}", code="model_server_unreachable",
                                 status=502) from None
        if resp.status_code >= 400:
            raise InvalidRequest(f"model server refused {path}: {resp.status_code} {resp.text[:500]}",
                                 code="model_server_refused", status=502 if resp.status_code >= 500 else 400)
        return resp

    @r.get("/v1/admin/model-server", response_model=ServedModels,
           summary="What the model server serves now (base model and loaded adapters)")
    async def served(_: Principal = Depends(require("admin"))) -> ServedModels:
        if state.settings.model.engine != "openai":
            return ServedModels(engine=state.settings.model.engine, base_url=None,
                                served=[state.engine.model_id, *state.engine.adapters()])
        data = (await upstream("GET", "/models")).json()
        return ServedModels(engine="openai", base_url=model_server(), served=[m["id"] for m in data.get("data", [])])

    @r.post("/v1/admin/adapters/load", response_model=ServedModels, summary="Load a LoRA adapter on the vLLM server")
    async def load_adapter(body: AdapterLoad, principal: Principal = Depends(require("admin"))) -> ServedModels:
        await upstream("POST", "/load_lora_adapter", {"lora_name": body.name, "lora_path": body.path})
        return await served(principal)

    @r.post("/v1/admin/adapters/unload", response_model=ServedModels,
            summary="Unload a LoRA adapter from the vLLM server")
    async def unload_adapter(body: AdapterUnload, principal: Principal = Depends(require("admin"))) -> ServedModels:
        await upstream("POST", "/unload_lora_adapter", {"lora_name": body.name})
        return await served(principal)

    return r


def _day(value: datetime) -> date:
    # SQLite hands back naive datetimes; they were written in UTC
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()
