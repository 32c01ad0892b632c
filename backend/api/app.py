"""The backend HTTP service: assembles chat, accounts, health, readiness and metrics around one engine."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from backend.accounts import Accounts
from backend.api import accounts_routes, admin_routes, chat_routes, experiment_routes, history_routes, knowledge_routes
from backend.api.errors import install_error_handlers
from backend.api.schemas import ChatCompletionChunk, Health, Readiness
from backend.chat import Augmenter, InvalidRequest, NoAugmenter
from backend.db import Database
from backend.experiments import Experiments
from backend.feedback import FeedbackStore
from backend.privacy import redact_logs
from backend.engines import Engine, context_blocks, is_placeholder
from backend.grounding import Grounding
from backend.images import ImageLoader
from backend.metrics import Metrics
from backend.records import ChatRecorder, TurnRecord
from backend.settings import Settings

log = logging.getLogger(__name__)


class State:
    """Everything the routes share, built once per app."""

    def __init__(self, settings: Settings, engine: Engine, augmenter: Augmenter | None, db: Database):
        from datetime import timedelta

        self.settings = settings
        self.engine = engine
        self.grounding = (Grounding(settings.knowledge, context_blocks(settings))
                          if augmenter is None and settings.knowledge.enabled else None)
        self.augmenter: Augmenter = augmenter or self.grounding or NoAugmenter()
        self.db = db
        auth = settings.auth
        self.accounts = Accounts(db, timedelta(hours=auth.session_ttl_hours), max_failed_logins=auth.max_failed_logins,
                                 lockout=timedelta(minutes=auth.lockout_minutes))
        self.recorder = ChatRecorder(db, settings.database.store_images, redact=settings.server.redact_logs)
        self.feedback = FeedbackStore(db)
        self.experiments = Experiments(db)
        self.images = ImageLoader(settings.limits, settings.images)
        self.metrics = Metrics(queue_depth=lambda: float(getattr(engine, "queue_depth", 0)))
        self.started = int(time.time())
        self.placeholder = is_placeholder(settings)

    def prepare_database(self) -> None:
        """Migrate the schema, then create the first admin on an empty database."""
        self.db.upgrade()
        auth = self.settings.auth
        one_time = self.accounts.ensure_admin(auth.admin_username, auth.admin_password.get_secret_value())
        if one_time:
            # Printed once, to the operator's terminal, because nobody can log in otherwise.
            print(f"\n[visiondesk] created admin account {auth.admin_username!r} with one-time password: {one_time}\n"
                  "[visiondesk] log in with it, then create accounts; set VISIONDESK_AUTH__ADMIN_PASSWORD to choose it\n",
                  flush=True)

    async def start_engine(self) -> None:
        try:
            await self.engine.start()
        except Exception:  # noqa: BLE001 - readiness reports it; the process stays up for diagnosis
            log.exception("engine failed to start")
        if self.grounding is not None:
            await self.grounding.start()

    async def readiness(self) -> tuple[bool, str]:
        ready, reason = await self.engine.readiness()
        if self.grounding is not None:
            knowledge_ready, knowledge_reason = await self.grounding.probe()
            ready, reason = ready and knowledge_ready, f"{reason}; {knowledge_reason}"
        return ready, reason

    def domains(self) -> list:
        return self.grounding.domains() if self.grounding is not None else []

    def adapter_for(self, model: str | None) -> str | None:
        if not model or model == self.engine.model_id:
            return None
        if model in self.engine.adapters():
            return model
        known = ", ".join([self.engine.model_id, *self.engine.adapters()])
        raise InvalidRequest(f"model {model!r} is not served here; choose one of: {known}", code="model_not_found",
                             param="model", status=404)

    def finish(self, turn: TurnRecord, started: float) -> None:
        """Metrics now; the database write in the background, so a slow disk never delays an answer."""
        turn.latency_ms = (time.perf_counter() - started) * 1000
        if turn.status == 200:
            self.metrics.observe_chat(
                model=turn.adapter or turn.model, stream=turn.stream, latency_s=turn.latency_ms / 1000,
                ttft_s=turn.ttft_ms / 1000 if turn.ttft_ms is not None else None,
                prompt_tokens=turn.prompt_tokens, completion_tokens=turn.completion_tokens)
        else:
            self.metrics.errors.labels(type=_error_type(turn.status)).inc()
        asyncio.get_running_loop().run_in_executor(None, self._record, turn)

    def _record(self, turn: TurnRecord) -> None:
        try:
            self.recorder.record(turn)
        except Exception:  # noqa: BLE001 - losing a log row must not break chat; the log says so
            log.exception("could not record request %s", turn.request_id)


def _error_type(status: int) -> str:
    return {400: "invalid_request", 404: "not_found", 413: "too_large", 415: "unsupported_media", 429: "queue_full",
            499: "client_disconnected", 503: "unavailable"}.get(status, "server_error")


def create_app(settings: Settings, engine: Engine, augmenter: Augmenter | None = None,
               db: Database | None = None) -> FastAPI:
    """Build the service around an engine (started in the background so health answers at once)."""
    state = State(settings, engine, augmenter, db or Database(settings.database_url))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.server.redact_logs:
            redact_logs()  # here, after the server has set up its log handlers
        await asyncio.to_thread(state.prepare_database)
        task = asyncio.create_task(state.start_engine())
        yield
        task.cancel()
        await engine.close()
        if state.grounding is not None:
            state.grounding.close()
        state.db.close()

    app = FastAPI(
        title="VisionDesk backend",
        version="0.1.0",
        description="OpenAI-compatible multimodal chat with VisionDesk's knowledge and experiment extensions. "
                    "Send `Authorization: Bearer <token>`: a login token from /v1/auth/login or an API key.",
        lifespan=lifespan,
    )
    app.state.visiondesk = state
    install_error_handlers(app, settings.limits.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    app.include_router(chat_routes.router(state))
    app.include_router(accounts_routes.router(state.accounts, settings.auth.login_failures_per_ip))
    app.include_router(history_routes.router(state.recorder, state.feedback))
    app.include_router(knowledge_routes.router(state))
    app.include_router(experiment_routes.router(state))
    admin_routes.install(app, state)  # admin console routes + the audit of admin actions
    app.openapi = lambda: _openapi(app)

    @app.get("/healthz", response_model=Health, summary="The process is alive", tags=["operations"])
    async def healthz() -> Health:
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        summary="Whether chat requests can be answered (model loaded or upstream reachable)",
        responses={503: {"model": Readiness, "description": "Not ready; `reason` says why"}},
        tags=["operations"],
    )
    async def readyz() -> JSONResponse:
        ready, reason = await state.readiness()
        body = Readiness(ready=ready, reason=reason, model=engine.model_id, engine=settings.model.engine)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", summary="Prometheus metrics", tags=["operations"],
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


class RequestMetrics:
    """ASGI middleware: counts every HTTP request by route template and status."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500

        async def capture(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route=route, status=str(status)).inc()


def _openapi(app: FastAPI) -> dict:
    """The schema as served: validation errors are 400 with ErrorResponse here, never FastAPI's 422."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        chunk = ChatCompletionChunk.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(chunk.pop("$defs", {}))
        components["ChatCompletionChunk"] = chunk
        stream = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
        stream["text/event-stream"] = {"schema": {"$ref": "#/components/schemas/ChatCompletionChunk"}}
        app.openapi_schema = schema
    return app.openapi_schema
