"""The backend HTTP service: OpenAI-compatible chat, models, health and readiness."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from backend.api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ChunkDelta,
    ErrorResponse,
    Health,
    ModelCard,
    ModelList,
    Readiness,
    Usage,
    VisionDeskResult,
)
from backend.chat import Augmenter, InvalidRequest, NoAugmenter, parse_conversation, sampling_from
from backend.engines import PLACEHOLDER_NOTICE, Engine, EngineError, GenerationRequest, is_placeholder
from backend.images import ImageLoader
from backend.settings import Settings

log = logging.getLogger(__name__)

_ERROR_RESPONSES = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Invalid request (names the broken rule or limit)",
        404: "Unknown model or adapter",
        413: "Body, image or pixel count too large",
        415: "Unsupported image format",
        429: "Queue full; see Retry-After",
        503: "Model or model server unavailable",
    }.items()
}


def create_app(settings: Settings, engine: Engine, augmenter: Augmenter | None = None) -> FastAPI:
    """Build the service around an engine (started in the background so health answers at once)."""
    state = _State(settings, engine, augmenter or NoAugmenter())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(state.start_engine())
        yield
        task.cancel()
        await engine.close()

    app = FastAPI(
        title="VisionDesk backend",
        version="0.1.0",
        description="OpenAI-compatible multimodal chat with VisionDesk's knowledge and experiment extensions.",
        lifespan=lifespan,
    )
    app.state.visiondesk = state
    _install_error_handlers(app, settings)
    app.openapi = lambda: _openapi_without_422(app)

    @app.get("/healthz", response_model=Health, summary="The process is alive")
    async def healthz() -> Health:
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        summary="Whether chat requests can be answered (model loaded or upstream reachable)",
        responses={503: {"model": Readiness, "description": "Not ready; `reason` says why"}},
    )
    async def readyz() -> JSONResponse:
        ready, reason = await engine.readiness()
        body = Readiness(ready=ready, reason=reason, model=engine.model_id, engine=settings.model.engine)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/v1/models", response_model=ModelList, summary="The base model and the LoRA adapters requests may select")
    async def models() -> ModelList:
        base = ModelCard(id=engine.model_id, created=state.started, kind="base")
        adapters = [
            ModelCard(id=name, created=state.started, parent=engine.model_id, kind="adapter")
            for name in engine.adapters()
        ]
        return ModelList(data=[base, *adapters])

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        summary="Answer a chat turn, optionally with images, as JSON or server-sent events",
        responses={
            200: {
                "description": "The answer; with `stream: true`, `text/event-stream` of chat.completion.chunk objects",
                "content": {"text/event-stream": {}},
            },
            **_ERROR_RESPONSES,
        },
    )
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        adapter = state.adapter_for(body.model)
        sampling = sampling_from(body, settings)
        conversation = await asyncio.to_thread(parse_conversation, body, settings, state.images)
        augmentation = await state.augmenter.augment(conversation)
        gen = GenerationRequest(
            messages=augmentation.messages, images=conversation.images, sampling=sampling, adapter=adapter
        )
        extension = VisionDeskResult(
            domain=conversation.options.domain,
            retrieval=augmentation.retrieval,
            citations=augmentation.citations,
            ocr_text=augmentation.ocr_text,
            variant=conversation.options.variant,
            adapter=adapter,
            notice=PLACEHOLDER_NOTICE if state.placeholder else None,
        )
        model_name = adapter or engine.model_id
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        stream = engine.stream(gen)
        # Pull the first delta before answering so queue-full and engine errors become proper HTTP errors.
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            first = None
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = _sse(completion_id, model_name, extension, first, stream, include_usage)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        parts, last = [], first
        if first is not None:
            parts.append(first.text)
            try:
                async for delta in stream:
                    parts.append(delta.text)
                    last = delta
                    if await request.is_disconnected():
                        # Nobody is waiting for the answer: stop generating and free the batch slot.
                        return JSONResponse({}, status_code=499)
            finally:
                await stream.aclose()
        prompt_tokens = (last.prompt_tokens if last else 0) or 0
        completion_tokens = (last.completion_tokens if last else 0) or 0
        return ChatCompletion(
            id=completion_id,
            created=int(time.time()),
            model=model_name,
            choices=[
                Choice(
                    message=AssistantMessage(content="".join(parts)),
                    finish_reason=(last.finish_reason if last else None) or "stop",
                )
            ],
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            visiondesk=extension,
        )

    return app


def _openapi_without_422(app: FastAPI) -> dict:
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


class _State:
    def __init__(self, settings: Settings, engine: Engine, augmenter: Augmenter):
        self.settings = settings
        self.engine = engine
        self.augmenter = augmenter
        self.images = ImageLoader(settings.limits, settings.images)
        self.started = int(time.time())
        self.placeholder = is_placeholder(settings)

    async def start_engine(self) -> None:
        try:
            await self.engine.start()
        except Exception:  # noqa: BLE001 - readiness reports it; the process stays up for diagnosis
            log.exception("engine failed to start")

    def adapter_for(self, model: str | None) -> str | None:
        if not model or model == self.engine.model_id:
            return None
        if model in self.engine.adapters():
            return model
        known = ", ".join([self.engine.model_id, *self.engine.adapters()])
        raise InvalidRequest(f"model {model!r} is not served here; choose one of: {known}", code="model_not_found",
                             param="model", status=404)


async def _sse(completion_id, model_name, extension, first, stream: AsyncIterator, include_usage: bool):
    created = int(time.time())

    def chunk(**fields) -> str:
        payload = ChatCompletionChunk(id=completion_id, created=created, model=model_name, **fields)
        data = payload.model_dump(mode="json")
        # As OpenAI does: finish_reason stays (null until the end); absent extras and empty delta fields go.
        for key in ("usage", "visiondesk"):
            if data[key] is None:
                del data[key]
        for choice in data["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
        return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"

    yield chunk(choices=[ChunkChoice(delta=ChunkDelta(role="assistant", content=""))], visiondesk=extension)
    last = first
    try:
        if first is not None:
            if first.text or first.finish_reason:
                yield chunk(choices=[ChunkChoice(delta=ChunkDelta(content=first.text), finish_reason=first.finish_reason)])
            async for delta in stream:
                last = delta
                yield chunk(choices=[ChunkChoice(delta=ChunkDelta(content=delta.text), finish_reason=delta.finish_reason)])
    except EngineError as exc:
        # Headers are gone already: report the error in-band the way OpenAI-compatible servers do.
        error = {"error": {"message": str(exc), "type": "server_error", "code": type(exc).__name__}}
        yield f"data: {json.dumps(error)}\n\n"
    finally:
        await stream.aclose()
    if include_usage and last is not None:
        p, c = last.prompt_tokens or 0, last.completion_tokens or 0
        yield chunk(choices=[], usage=Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c))
    yield "data: [DONE]\n\n"


def _error(status: int, message: str, *, type_: str, code: str | None = None, param: str | None = None,
           headers: dict | None = None) -> JSONResponse:
    body = ErrorResponse(error={"message": message, "type": type_, "code": code, "param": param})
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit, by Content-Length or while counting chunked bodies."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send, f"request body is {int(length):,} bytes")
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send, "request body is larger than allowed")

    async def _refuse(self, scope, receive, send, what: str):
        response = _error(413, f"{what}; the limit is {self.max_bytes:,} bytes (limits.max_body_bytes)",
                          type_="invalid_request_error", code="max_body_bytes")
        await response(scope, receive, send)


class _BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body parsing lets it through instead of turning it into a 400.
    def __init__(self):
        super().__init__(status_code=413)


def _install_error_handlers(app: FastAPI, settings: Settings) -> None:

    max_body = settings.limits.max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=max_body)

    @app.exception_handler(_BodyTooLarge)
    async def too_large(request: Request, exc: _BodyTooLarge):
        return _error(413, f"request body is larger than {max_body:,} bytes (limits.max_body_bytes)",
                      type_="invalid_request_error", code="max_body_bytes")

    @app.exception_handler(InvalidRequest)
    async def invalid(request: Request, exc: InvalidRequest):
        return _error(exc.status, str(exc), type_="invalid_request_error", code=exc.code, param=exc.param)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError):
        headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None
        type_ = {429: "rate_limit_error", 404: "invalid_request_error"}.get(exc.status, "server_error")
        return _error(exc.status, str(exc), type_=type_, code=type(exc).__name__, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid body"}
        if first.get("type") == "json_invalid":
            # loc holds the character offset of the syntax error, not a field name.
            at = first["loc"][-1] if first["loc"] else "?"
            detail = (first.get("ctx") or {}).get("error") or first["msg"]
            return _error(400, f"the request body is not valid JSON: {detail} at character {at}",
                          type_="invalid_request_error", code="invalid_body")
        field = ".".join(str(p) for p in first["loc"] if p != "body")
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in errors[:5]
        )
        return _error(400, f"invalid request body: {message}", type_="invalid_request_error",
                      code="invalid_body", param=field or None)
