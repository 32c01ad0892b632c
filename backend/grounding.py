"""Connects the chat path to the knowledge layer: opened in the background, errors mapped to HTTP answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from backend.chat import AnswerFrame, Augmentation, Conversation, InvalidRequest
from backend.engines import Delta, EngineUnavailable

log = logging.getLogger(__name__)


class Grounding:
    """The Augmenter the backend uses when `knowledge.enabled`: the knowledge store opens (and seeds) in the
    background so health checks answer at once; until it is ready, chat answers 503 and /readyz says why."""

    def __init__(self, settings):
        self.settings = settings
        self.augmenter = None
        self.error: str | None = None

    async def start(self) -> None:
        from knowledge.augment import KnowledgeAugmenter

        try:
            self.augmenter = await asyncio.to_thread(KnowledgeAugmenter.from_settings, self.settings)
        except Exception as exc:  # noqa: BLE001 - reported by readiness and by every chat request
            log.exception("knowledge store failed to open")
            self.error = f"knowledge store failed to open: {exc}"

    def close(self) -> None:
        if self.augmenter is not None:
            self.augmenter.close()

    def readiness(self) -> tuple[bool, str]:
        if self.augmenter is not None:
            return True, "knowledge ready"
        return False, self.error or "knowledge store is opening (the first start loads the seed packs)"

    def domains(self) -> list:
        return list(self.augmenter.profiles.values()) if self.augmenter is not None else []

    async def augment(self, conversation: Conversation) -> Augmentation:
        from knowledge.augment import UnknownDomain
        from knowledge.errors import EmbedderMismatch, StoreUnavailable

        if self.augmenter is None:
            raise EngineUnavailable(self.readiness()[1], retry_after=5)
        try:
            return await self.augmenter.augment(conversation)
        except UnknownDomain as exc:
            known = ", ".join(self.augmenter.profiles)
            raise InvalidRequest(f"{exc}; known domains: {known}", code="unknown_domain",
                                 param="visiondesk.domain") from None
        except (StoreUnavailable, EmbedderMismatch) as exc:
            raise EngineUnavailable(f"knowledge unavailable: {exc}") from None

    def frame(self, conversation: Conversation, augmentation: Augmentation) -> AnswerFrame:
        return self.augmenter.frame(conversation, augmentation) if self.augmenter is not None else AnswerFrame()

    def check(self, answer: str, conversation: Conversation, augmentation: Augmentation) -> list[str]:
        return self.augmenter.check(answer, conversation, augmentation) if self.augmenter is not None else []


async def framed(stream: AsyncIterator[Delta], frame: AnswerFrame) -> AsyncIterator[Delta]:
    """The engine's stream with the frame's prefix before it and suffix just before its final delta.

    The engine's first delta is awaited before the prefix is sent, so queue-full and engine errors still
    happen before anything reaches the client.
    """
    try:
        first = await anext(stream, None)
        pending = [Delta(frame.prefix)] if frame.prefix else []
        async for delta in _chain(first, stream):
            if delta.finish_reason is not None and frame.suffix:
                pending.append(Delta(frame.suffix))
            pending.append(delta)
            for item in pending:
                yield item
            pending = []
    finally:
        await stream.aclose()


async def canned(text: str) -> AsyncIterator[Delta]:
    """A fixed answer in the shape of an engine stream (the model is not asked)."""
    yield Delta(text, finish_reason="stop", prompt_tokens=0, completion_tokens=0)


async def _chain(first: Delta | None, rest: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    if first is None:
        return
    yield first
    async for delta in rest:
        yield delta
