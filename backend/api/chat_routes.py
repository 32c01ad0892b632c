"""OpenAI-compatible routes: /v1/models and /v1/chat/completions (JSON or server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from backend.accounts import Principal
from backend.api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ChunkDelta,
    DomainCard,
    ErrorResponse,
    ModelCard,
    ModelList,
    QuickActionCard,
    Usage,
    VisionDeskResult,
)
from backend.api.security import require
from backend.chat import Conversation, InvalidRequest, parse_conversation, sampling_from
from backend.engines import PLACEHOLDER_NOTICE, Delta, EngineError, GenerationRequest
from backend.engines.feature_cache import image_key
from backend.experiments import assign
from backend.grounding import UNGROUNDED_NOTICE, Ungrounded, canned, framed
from backend.records import ConversationNotFound, TurnRecord

if TYPE_CHECKING:
    from backend.api.app import State

_ERROR_RESPONSES = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Invalid request (names the broken rule or limit)",
        401: "Missing, unknown or expired token",
        403: "The token's role may not do this",
        404: "Unknown model, adapter or conversation",
        413: "Body, image or pixel count too large",
        415: "Unsupported image format",
        429: "Queue full; see Retry-After",
        503: "Model or model server unavailable",
    }.items()
}


def router(state: State) -> APIRouter:
    r = APIRouter(tags=["chat"])
    engine, settings = state.engine, state.settings

    @r.get("/v1/models", response_model=ModelList, summary="The base model and the LoRA adapters requests may select")
    async def models(_: Principal = Depends(require("agent"))) -> ModelList:
        base = ModelCard(id=engine.model_id, created=state.started, kind="base")
        adapters = [ModelCard(id=name, created=state.started, parent=engine.model_id, kind="adapter")
                    for name in engine.adapters()]
        return ModelList(data=[base, *adapters])

    @r.get("/v1/domains", response_model=list[DomainCard],
           summary="Knowledge domains agents can choose, with their quick actions")
    async def domains(_: Principal = Depends(require("agent"))) -> list[DomainCard]:
        return [DomainCard(domain=p.domain, title=p.title, medical=p.safety.medical, default_adapter=p.default_adapter,
                           quick_actions=[QuickActionCard(id=a.id, label=a.label, prompt=a.prompt)
                                          for a in p.quick_actions])
                for p in state.domains()]

    @r.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        summary="Answer a chat turn, optionally with images, as JSON or server-sent events",
        responses={
            200: {"description": "The answer; with `stream: true`, `text/event-stream` of chat.completion.chunk "
                                 "objects", "content": {"text/event-stream": {}}},
            **_ERROR_RESPONSES,
        },
    )
    async def chat_completions(body: ChatCompletionRequest, request: Request,
                               principal: Principal = Depends(require("agent"))):
        started = time.perf_counter()
        turn = TurnRecord(request_id=f"chatcmpl-{uuid.uuid4().hex}", user_id=principal.user_id,
                          model=engine.model_id, status=200, stream=body.stream)
        answer = _Answer(started)  # the non-streamed path collects into it
        try:
            turn.adapter = state.adapter_for(body.model)
            sampling = sampling_from(body, settings)
            conversation = await asyncio.to_thread(parse_conversation, body, settings, state.images)
            options = conversation.options
            turn.domain, turn.variant, turn.question = options.domain, options.variant, conversation.question
            turn.image_hashes = [image_key(img) for img in conversation.images]
            turn.images = conversation.images
            turn.conversation_id = await asyncio.to_thread(state.recorder.conversation_for, principal,
                                                           options.conversation_id)
            _join_experiment(state, conversation, turn)
            augmentation = await state.augmenter.augment(conversation)
            frame = state.augmenter.frame(conversation, augmentation)
            if frame.canned is not None:  # e.g. medical with nothing relevant retrieved: say so, do not improvise
                stream = canned(frame.prefix + frame.canned + frame.suffix)
            else:
                stream = framed(engine.stream(GenerationRequest(
                    messages=augmentation.messages, images=conversation.images, sampling=sampling,
                    adapter=turn.adapter, incremental=body.stream)), frame)
            if body.stream:
                # Pull the first delta before answering, so queue-full and engine errors become proper HTTP errors.
                first = await anext(stream, None)
                turn.ttft_ms = (time.perf_counter() - started) * 1000
            elif not await _unless_disconnected(request, answer.drain(stream)):
                # Nobody waits for the answer: generation was cancelled and its batch slot freed.
                turn.status, turn.error = 499, "client disconnected"
                _account(turn, answer.text, answer.last)
                state.finish(turn, started)
                return JSONResponse({}, status_code=499)
        except (InvalidRequest, EngineError, ConversationNotFound) as exc:
            turn.status, turn.error = getattr(exc, "status", 404), str(exc)
            _account(turn, answer.text, answer.last)
            state.finish(turn, started)
            raise
        extension = VisionDeskResult(
            domain=options.domain, retrieval=augmentation.retrieval, citations=augmentation.citations,
            ocr_text=augmentation.ocr_text, variant=options.variant, experiment=turn.experiment,
            adapter=turn.adapter, conversation_id=turn.conversation_id, request_id=turn.request_id,
            notice=PLACEHOLDER_NOTICE if state.placeholder else None,
        )
        if isinstance(augmentation, Ungrounded) and frame.canned is None:  # the store is down: say so
            extension.ungrounded = True
            extension.notice = " ".join(n for n in (UNGROUNDED_NOTICE, extension.notice) if n)
        turn.answer_meta = extension.model_dump(include={"citations", "variant", "experiment", "adapter", "domain",
                                                         "ungrounded"}, mode="json")
        model_name = turn.adapter or engine.model_id
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            def check(answer: str) -> list[str]:
                return state.augmenter.check(answer, conversation, augmentation)

            events = _sse(state, turn, started, model_name, extension, first, stream, include_usage, check)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

        turn.ttft_ms = answer.ttft_ms
        _account(turn, answer.text, answer.last)
        state.finish(turn, started)
        last = answer.last
        extension.unverified_terms = state.augmenter.check(turn.answer, conversation, augmentation)
        return ChatCompletion(
            id=turn.request_id,
            created=int(time.time()),
            model=model_name,
            choices=[Choice(message=AssistantMessage(content=turn.answer),
                            finish_reason=(last.finish_reason if last else None) or "stop")],
            usage=Usage(prompt_tokens=turn.prompt_tokens, completion_tokens=turn.completion_tokens,
                        total_tokens=turn.prompt_tokens + turn.completion_tokens),
            visiondesk=extension,
        )

    return r


def _join_experiment(state: State, conversation: Conversation, turn: TurnRecord) -> None:
    """Answer with the running experiment's variant for this conversation, unless the client pinned one."""
    options = conversation.options
    if options.variant is not None or turn.conversation_id is None:
        return
    experiment = state.experiments.running_for(options.domain)
    if experiment is None:
        return
    variant = assign(experiment.id, turn.conversation_id, experiment.variants)
    turn.experiment = experiment.id
    turn.variant = options.variant = variant.name
    if variant.model is not None:
        turn.adapter = state.adapter_for(variant.model)
    if variant.retrieval is not None:
        options.retrieval = variant.retrieval
    if variant.top_k is not None:
        options.top_k = variant.top_k
    if variant.system_prompt:
        conversation.messages.insert(0, {"role": "system",
                                         "content": [{"type": "text", "text": variant.system_prompt}]})


class _Answer:
    """A whole answer collected from a stream, with its time to first token."""

    def __init__(self, started: float):
        self.started = started
        self.parts: list[str] = []
        self.last: Delta | None = None
        self.ttft_ms: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def drain(self, stream: AsyncIterator[Delta]) -> None:
        try:
            async for delta in stream:
                if self.ttft_ms is None:
                    self.ttft_ms = (time.perf_counter() - self.started) * 1000
                self.parts.append(delta.text)
                self.last = delta
        finally:
            await stream.aclose()


async def _unless_disconnected(request: Request, work: Coroutine, poll_s: float = 0.25) -> bool:
    """Run `work` to the end (True), or cancel it when the client goes away first (False)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                task.result()  # re-raises the engine's error
                return True
            if await request.is_disconnected():
                return False
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _account(turn: TurnRecord, answer: str, last: Delta | None) -> None:
    turn.answer = answer
    turn.prompt_tokens = (last.prompt_tokens if last else 0) or 0
    turn.completion_tokens = (last.completion_tokens if last else 0) or 0


async def _sse(state: State, turn: TurnRecord, started: float, model_name: str, extension: VisionDeskResult,
               first: Delta | None, stream: AsyncIterator[Delta], include_usage: bool, check):
    created = int(time.time())

    def chunk(**fields) -> str:
        payload = ChatCompletionChunk(id=turn.request_id, created=created, model=model_name, **fields)
        data = payload.model_dump(mode="json")
        # As OpenAI does: finish_reason stays (null until the end); absent extras and empty delta fields go.
        for key in ("usage", "visiondesk"):
            if data[key] is None:
                del data[key]
        for choice in data["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
        return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"

    parts: list[str] = []
    last = first
    finished = False
    try:
        yield chunk(choices=[ChunkChoice(delta=ChunkDelta(role="assistant", content=""))], visiondesk=extension)
        try:
            if first is not None:
                parts.append(first.text)
                if first.text or first.finish_reason:
                    yield chunk(choices=[ChunkChoice(delta=ChunkDelta(content=first.text),
                                                     finish_reason=first.finish_reason)])
                async for delta in stream:
                    last = delta
                    parts.append(delta.text)
                    yield chunk(choices=[ChunkChoice(delta=ChunkDelta(content=delta.text),
                                                     finish_reason=delta.finish_reason)])
        except EngineError as exc:
            # Headers are gone already: report the error in-band the way OpenAI-compatible servers do.
            turn.status, turn.error = exc.status, str(exc)
            error = {"error": {"message": str(exc), "type": "server_error", "code": type(exc).__name__}}
            yield f"data: {json.dumps(error)}\n\n"
        if include_usage and last is not None:
            p, c = last.prompt_tokens or 0, last.completion_tokens or 0
            yield chunk(choices=[], usage=Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c))
        terms = check("".join(parts))
        if terms:
            yield chunk(choices=[], visiondesk=extension.model_copy(update={"unverified_terms": terms}))
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        # Record first: under cancellation the await below may be the last thing that runs.
        if not finished and turn.status == 200:
            turn.status, turn.error = 499, "client disconnected mid-stream"
        _account(turn, "".join(parts), last)
        state.finish(turn, started)
        await stream.aclose()
