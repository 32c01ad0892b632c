"""From an API chat request to an engine request: input limits, image decoding, and the knowledge hook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from backend.api.schemas import ChatCompletionRequest, Citation, TextPart, VisionDeskOptions
from backend.engines.base import SamplingParams
from backend.images import ImageLoader, ImageRejected
from backend.settings import Settings


class InvalidRequest(ValueError):
    """The request breaks a rule; `code` names it (for limits, the setting's name)."""

    def __init__(self, message: str, *, code: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.param = param
        self.status = status


@dataclass
class Conversation:
    """A validated request: Hugging Face-format messages, decoded images, and the user's last question."""

    messages: list[dict]
    images: list[Image.Image]
    question: str
    options: VisionDeskOptions


@dataclass
class Augmentation:
    """What the knowledge layer adds to a turn."""

    messages: list[dict]
    citations: list[Citation] = field(default_factory=list)
    ocr_text: list[str] = field(default_factory=list)
    retrieval: bool = False


@dataclass
class AnswerFrame:
    """What a domain's safety rules put around an answer: a prefix, a suffix, or a fixed reply instead of one."""

    prefix: str = ""
    suffix: str = ""
    canned: str | None = None  # when set, the model is not asked at all


class Augmenter(Protocol):
    """The knowledge hook: may rewrite the messages (system prompt, context blocks) and report sources."""

    async def augment(self, conversation: Conversation) -> Augmentation: ...

    def frame(self, conversation: Conversation, augmentation: Augmentation) -> AnswerFrame: ...

    def check(self, answer: str, conversation: Conversation, augmentation: Augmentation) -> list[str]: ...


class NoAugmenter:
    """Passes the conversation through unchanged (no knowledge layer configured)."""

    async def augment(self, conversation: Conversation) -> Augmentation:
        return Augmentation(messages=conversation.messages)

    def frame(self, conversation: Conversation, augmentation: Augmentation) -> AnswerFrame:
        return AnswerFrame()

    def check(self, answer: str, conversation: Conversation, augmentation: Augmentation) -> list[str]:
        return []


def parse_conversation(body: ChatCompletionRequest, settings: Settings, images: ImageLoader) -> Conversation:
    """Check every input limit and decode images; raises InvalidRequest or ImageRejected."""
    limits = settings.limits
    if not body.messages:
        raise InvalidRequest("messages must not be empty", code="empty_messages", param="messages")
    if len(body.messages) > limits.max_messages:
        raise InvalidRequest(
            f"{len(body.messages)} messages; the limit is {limits.max_messages} (limits.max_messages)",
            code="max_messages",
            param="messages",
        )
    image_parts = [
        part
        for msg in body.messages
        if isinstance(msg.content, list)
        for part in msg.content
        if part.type == "image_url"
    ]
    if len(image_parts) > limits.max_images_per_request:
        raise InvalidRequest(
            f"{len(image_parts)} images; the limit is {limits.max_images_per_request} per request "
            "(limits.max_images_per_request)",
            code="max_images_per_request",
            param="messages",
        )
    chars = sum(len(_text_of(msg.content)) for msg in body.messages)
    if chars > limits.max_prompt_chars:
        raise InvalidRequest(
            f"the messages hold {chars:,} characters; the limit is {limits.max_prompt_chars:,} (limits.max_prompt_chars)",
            code="max_prompt_chars",
            param="messages",
        )
    last = body.messages[-1]
    question = _text_of(last.content).strip()
    if last.role != "user":
        raise InvalidRequest("the last message must be the user's", code="last_message_not_user", param="messages")
    if not question:
        raise InvalidRequest(
            "the question is empty: the last user message needs some text", code="empty_question", param="messages"
        )
    decoded: list[Image.Image] = []
    messages: list[dict] = []
    for index, msg in enumerate(body.messages):
        parts: list[dict] = []
        for part in msg.content if isinstance(msg.content, list) else [TextPart(type="text", text=msg.content or "")]:
            if part.type == "text":
                parts.append({"type": "text", "text": part.text})
                continue
            try:
                decoded.append(images.load(part.image_url.url))
            except ImageRejected as exc:
                raise InvalidRequest(
                    f"image {len(decoded) + 1} (message {index}): {exc}",
                    code=exc.limit,
                    param=f"messages[{index}].content",
                    status=exc.status,
                ) from None
            parts.append({"type": "image"})
        messages.append({"role": msg.role, "content": parts})
    return Conversation(messages, decoded, question, body.visiondesk or VisionDeskOptions())


def sampling_from(body: ChatCompletionRequest, settings: Settings) -> SamplingParams:
    max_tokens = body.max_completion_tokens or body.max_tokens or settings.model.default_max_tokens
    if max_tokens > settings.model.max_tokens_limit:
        raise InvalidRequest(
            f"max_tokens {max_tokens} is above the limit {settings.model.max_tokens_limit} (model.max_tokens_limit)",
            code="max_tokens_limit",
            param="max_tokens",
        )
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > 4 or any(not s for s in stop):
        raise InvalidRequest("stop takes up to 4 non-empty strings", code="invalid_stop", param="stop")
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=body.temperature or 0.0,
        top_p=body.top_p if body.top_p is not None else 1.0,
        seed=body.seed,
        stop=tuple(stop),
    )


def _text_of(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.type == "text")
