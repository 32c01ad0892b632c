"""The one small interface every model engine implements, and the types that cross it."""

from __future__ import annotations

import abc
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

FinishReason = Literal["stop", "length", "cancelled", "error"]


class EngineError(RuntimeError):
    """An engine failed in a way the caller should report; `status` is the HTTP status to use."""

    status = 500

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class EngineBusy(EngineError):
    """The engine's queue is full; try again after `retry_after` seconds."""

    status = 429


class EngineUnavailable(EngineError):
    """The model (or the model server behind the engine) cannot be reached right now."""

    status = 503


class UnknownAdapter(EngineError):
    """The request named a LoRA adapter the engine does not know."""

    status = 404


@dataclass(frozen=True)
class SamplingParams:
    """Per-request decoding settings. temperature 0 means greedy."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class GenerationRequest:
    """One chat turn to complete.

    `messages` use the Hugging Face multimodal chat format: each content is a list of
    `{"type": "text", "text": ...}` and `{"type": "image"}` parts; `images` holds the decoded
    images in the order their `{"type": "image"}` parts appear.
    """

    messages: list[dict]
    images: list[Image.Image] = field(default_factory=list)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    adapter: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: False when the caller only wants the whole answer: a remote engine may then fetch it in one response,
    #: which spares both servers a serialisation round per token.
    incremental: bool = True


@dataclass
class Delta:
    """A piece of streamed output. The last delta of a stream carries `finish_reason`."""

    text: str
    finish_reason: FinishReason | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Completion:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


class Engine(abc.ABC):
    """Streams completions for chat requests.

    Cancelling works by closing the stream: `aclose()` on the iterator, or cancelling the task that
    consumes it, frees the request's slot in the batch.
    """

    #: the name clients use for the base model (OpenAI `model` field)
    model_id: str

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load weights or open connections. Called once before the first request."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    @abc.abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        """Yield deltas until a finish reason; raises EngineError subclasses on failure."""

    @abc.abstractmethod
    def adapters(self) -> list[str]:
        """Names of LoRA adapters requests may select."""

    @abc.abstractmethod
    async def readiness(self) -> tuple[bool, str]:
        """(ready, reason) — the reason says what is missing when not ready."""

    async def complete(self, request: GenerationRequest) -> Completion:
        """Collect a whole stream into one completion."""
        parts: list[str] = []
        last = Delta("")
        async for delta in self.stream(request):
            parts.append(delta.text)
            last = delta
        return Completion(
            text="".join(parts),
            finish_reason=last.finish_reason or "stop",
            prompt_tokens=last.prompt_tokens or 0,
            completion_tokens=last.completion_tokens or 0,
        )
