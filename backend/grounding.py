"""Connects the chat path to the knowledge layer: opened in the background, errors mapped to HTTP answers.

When the knowledge store (a Chroma server) goes away after start-up, chat degrades instead of failing:
/readyz says the store is unreachable, medical domains answer with a fixed "knowledge unavailable" reply (the
model is not asked: medical answers must not be improvised), and other domains answer from the model alone with
the answer flagged `ungrounded`. Everything is back to normal at the first request after the store returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from backend.chat import AnswerFrame, Augmentation, Conversation, InvalidRequest
from backend.engines import Delta, EngineUnavailable

log = logging.getLogger(__name__)

KNOWLEDGE_UNAVAILABLE_EN = ("Knowledge unavailable: the clinic's knowledge base cannot be reached right now, so I "
                            "cannot answer this reliably. Please try again in a few minutes, or ask a doctor or "
                            "pharmacist.")
KNOWLEDGE_UNAVAILABLE_ZH = "知识库暂时无法访问（knowledge unavailable），无法可靠回答。请稍后再试，或咨询医生或药师。"
UNGROUNDED_NOTICE = ("Knowledge unavailable: this answer is not grounded in the knowledge base and cites no "
                     "sources; check it before relying on it.")
UNGROUNDED_PROMPT = ("The knowledge base cannot be reached right now, so no reference data is available for this "
                     "question. Say that you could not check the answer against the knowledge base, give only "
                     "general guidance, and cite no sources.")
PROBE_TIMEOUT_S = 3.0


@dataclass
class Ungrounded(Augmentation):
    """A turn that should have been grounded but was not: the knowledge store could not be reached."""

    reason: str = ""


class Grounding:
    """The Augmenter the backend uses when `knowledge.enabled`: the knowledge store opens (and seeds) in the
    background so health checks answer at once; until it is ready, chat answers 503 and /readyz says why."""

    def __init__(self, settings, max_blocks: int | None = None):
        self.settings = settings
        self.max_blocks = max_blocks
        self.augmenter = None
        self.error: str | None = None
        self.store_error: str | None = None  # the store opened, then stopped answering (a Chroma server died)

    async def start(self) -> None:
        from knowledge.augment import KnowledgeAugmenter

        try:
            self.augmenter = await asyncio.to_thread(KnowledgeAugmenter.from_settings, self.settings,
                                                    max_blocks=self.max_blocks)
        except Exception as exc:  # noqa: BLE001 - reported by readiness and by every chat request
            log.exception("knowledge store failed to open")
            self.error = f"knowledge store failed to open: {exc}"

    def close(self) -> None:
        if self.augmenter is not None:
            self.augmenter.close()

    def readiness(self) -> tuple[bool, str]:
        if self.augmenter is not None:
            if self.store_error:
                return False, f"knowledge unavailable: {self.store_error}"
            return True, "knowledge ready"
        return False, self.error or "knowledge store is opening (the first start loads the seed packs)"

    async def probe(self) -> tuple[bool, str]:
        """Readiness after asking a Chroma server whether it is there (the embedded store cannot go away)."""
        if self.augmenter is not None and self.settings.chroma_url:
            index = self.augmenter.store.index
            try:
                await asyncio.wait_for(asyncio.to_thread(index.client.heartbeat), PROBE_TIMEOUT_S)
                self.store_error = None
            except Exception as exc:  # noqa: BLE001 - any failure means chat cannot retrieve
                self.store_error = (f"Chroma server at {self.settings.chroma_url} is unreachable "
                                    f"({type(exc).__name__}: {exc or 'no answer'})")
        return self.readiness()

    def domains(self) -> list:
        return list(self.augmenter.profiles.values()) if self.augmenter is not None else []

    async def augment(self, conversation: Conversation) -> Augmentation:
        from knowledge.augment import UnknownDomain
        from knowledge.errors import EmbedderMismatch, StoreUnavailable

        if self.augmenter is None:
            raise EngineUnavailable(self.readiness()[1], retry_after=5)
        try:
            augmentation = await self.augmenter.augment(conversation)
        except UnknownDomain as exc:
            known = ", ".join(self.augmenter.profiles)
            raise InvalidRequest(f"{exc}; known domains: {known}", code="unknown_domain",
                                 param="visiondesk.domain") from None
        except StoreUnavailable as exc:
            self.store_error = str(exc)
            log.warning("answering without knowledge: %s", exc)
            return await asyncio.to_thread(self._ungrounded, conversation, str(exc))
        except EmbedderMismatch as exc:
            raise EngineUnavailable(f"knowledge unavailable: {exc}") from None
        if augmentation.retrieval:
            self.store_error = None  # the store answered again
        return augmentation

    def _ungrounded(self, conversation: Conversation, reason: str) -> Ungrounded:
        """The profile's prompt and the images' text, without retrieved knowledge, told that it is missing."""
        from knowledge.augment import message_text

        aug = self.augmenter
        profile = aug.profile(conversation.options.domain)
        ocr_text = aug.read_images(conversation)
        system = aug.system_prompt(profile, [], ocr_text, conversation.question, retrieval=False)
        system += "\n\n" + UNGROUNDED_PROMPT
        earlier = [message_text(m) for m in conversation.messages if m.get("role") == "system"]
        if earlier:
            system += "\n\n" + "\n\n".join(earlier)
        messages = [{"role": "system", "content": [{"type": "text", "text": system}]}]
        messages += [m for m in conversation.messages if m.get("role") != "system"]
        return Ungrounded(messages=messages, ocr_text=ocr_text, retrieval=False, reason=reason)

    def frame(self, conversation: Conversation, augmentation: Augmentation) -> AnswerFrame:
        if self.augmenter is None:
            return AnswerFrame()
        if isinstance(augmentation, Ungrounded) and self.augmenter.profile(conversation.options.domain).safety.medical:
            from knowledge.text import is_chinese

            # The medical frame of a turn that found nothing (emergency notice, disclaimer), with a reply that
            # says the knowledge base is down rather than that it holds nothing on the question.
            frame = self.augmenter.frame(conversation, dataclasses.replace(augmentation, retrieval=True))
            frame.canned = KNOWLEDGE_UNAVAILABLE_ZH if is_chinese(conversation.question) else KNOWLEDGE_UNAVAILABLE_EN
            return frame
        return self.augmenter.frame(conversation, augmentation)

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
