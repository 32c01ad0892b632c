"""Request and response bodies of the backend API: OpenAI's chat format plus a `visiondesk` extension."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    # Unknown OpenAI fields (frequency_penalty, logprobs, …) are accepted and ignored, as other servers do.
    model_config = ConfigDict(extra="ignore")


class ImageURL(_Body):
    url: str = Field(description="A `data:image/...;base64,...` URI, or an http(s) URL when remote URLs are enabled.")
    detail: str | None = Field(None, description="Accepted for compatibility; ignored.")


class TextPart(_Body):
    type: Literal["text"] = Field(description="Always `text`.")
    text: str = Field(description="The text.")


class ImagePart(_Body):
    type: Literal["image_url"] = Field(description="Always `image_url`.")
    image_url: ImageURL = Field(description="Where the image is.")


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(_Body):
    role: Literal["system", "user", "assistant"] = Field(description="Who wrote the message.")
    content: str | list[ContentPart] | None = Field(
        None, description="Plain text, or a list of text and image parts in the order the writer placed them."
    )


class VisionDeskOptions(_Body):
    """VisionDesk's extension of the request."""

    domain: str | None = Field(None, description="Knowledge domain whose profile and collection answer, e.g. `ecommerce`.")
    retrieval: bool = Field(True, description="Augment the prompt with retrieved knowledge.")
    top_k: int | None = Field(None, ge=1, le=50, description="Number of knowledge chunks to retrieve.")
    variant: str | None = Field(None, description="Experiment variant that produced this request, recorded with the answer.")
    conversation_id: str | None = Field(None, description="Conversation this turn belongs to.")


class StreamOptions(_Body):
    include_usage: bool = Field(False, description="Send a final chunk with token usage before `[DONE]`.")


class ChatCompletionRequest(_Body):
    model: str | None = Field(
        None, description="Base model id or a LoRA adapter name from /v1/models; empty: the base model."
    )
    messages: list[ChatMessage] = Field(description="The conversation so far; the last message is the user's question.")
    stream: bool = Field(False, description="Stream the answer as server-sent events.")
    stream_options: StreamOptions | None = Field(None, description="Streaming options.")
    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate (the server's default when empty).")
    max_completion_tokens: int | None = Field(None, ge=1, description="Alias of `max_tokens` (newer OpenAI clients).")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature; 0 or empty is greedy.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    seed: int | None = Field(None, description="Seed for reproducible sampling.")
    stop: str | list[str] | None = Field(None, description="Up to 4 strings that end the answer when generated.")
    n: int = Field(1, ge=1, le=1, description="Number of choices; only 1 is supported.")
    user: str | None = Field(None, description="End-user id, recorded for auditing.")
    visiondesk: VisionDeskOptions | None = Field(None, description="VisionDesk options: domain, retrieval and variant.")


class Citation(BaseModel):
    number: int = Field(description="The [n] used in the answer.")
    document_id: str = Field(description="Knowledge document id.")
    chunk_id: str = Field(description="Chunk id within the document.")
    title: str = Field(description="Document title.")
    snippet: str = Field(description="The cited text.")
    score: float = Field(description="Retrieval score.")
    source: str = Field(description="Where the document came from (file name or URL).")


class VisionDeskResult(BaseModel):
    """VisionDesk's extension of the response."""

    domain: str | None = Field(None, description="Domain that answered.")
    retrieval: bool = Field(False, description="Whether retrieved knowledge was in the prompt.")
    citations: list[Citation] = Field(default_factory=list, description="Sources behind the [n] markers in the answer.")
    ocr_text: list[str] = Field(default_factory=list, description="Text read from each image, in order.")
    variant: str | None = Field(None, description="Experiment variant that answered.")
    experiment: str | None = Field(None, description="Online experiment that chose the variant, if one did.")
    adapter: str | None = Field(None, description="LoRA adapter that answered; empty for the base model.")
    conversation_id: str | None = Field(None, description="Conversation the turn was recorded in; send it back to continue.")
    unverified_terms: list[str] = Field(
        default_factory=list,
        description="Medical answers: drug or test names found in neither the glossary nor the cited sources — "
                    "check them before relying on the answer. Streams send it in a last chunk before [DONE].")
    request_id: str | None = Field(None, description="Id of this answer, for feedback and the request log.")
    notice: str | None = Field(None, description="A message the UI should show, e.g. that a placeholder model answers.")
    ungrounded: bool = Field(
        False,
        description="True when the answer should have been grounded in the knowledge base but the knowledge store "
                    "could not be reached: it cites nothing and was not checked against the sources (`notice` says "
                    "so). Medical domains answer \"knowledge unavailable\" instead.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = Field("assistant", description="Always `assistant`.")
    content: str = Field(description="The answer.")


class Choice(BaseModel):
    index: int = Field(0, description="Always 0.")
    message: AssistantMessage = Field(description="The answer.")
    finish_reason: str = Field(description="`stop`, `length` or `cancelled`.")


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens in the prompt, image tokens included.")
    completion_tokens: int = Field(description="Tokens generated.")
    total_tokens: int = Field(description="Sum of both.")


class ChatCompletion(BaseModel):
    id: str = Field(description="Completion id.")
    object: Literal["chat.completion"] = Field("chat.completion", description="Object type.")
    created: int = Field(description="Unix time of creation.")
    model: str = Field(description="Model or adapter that answered.")
    choices: list[Choice] = Field(description="One choice.")
    usage: Usage = Field(description="Token counts.")
    visiondesk: VisionDeskResult = Field(description="Citations, OCR text and variant.")


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = Field(None, description="Set on the first chunk.")
    content: str | None = Field(None, description="New text.")


class ChunkChoice(BaseModel):
    index: int = Field(0, description="Always 0.")
    delta: ChunkDelta = Field(description="What is new.")
    finish_reason: str | None = Field(None, description="Set on the last chunk.")


class ChatCompletionChunk(BaseModel):
    id: str = Field(description="Completion id, the same on every chunk.")
    object: Literal["chat.completion.chunk"] = Field("chat.completion.chunk", description="Object type.")
    created: int = Field(description="Unix time of creation.")
    model: str = Field(description="Model or adapter that answers.")
    choices: list[ChunkChoice] = Field(description="Empty on the usage chunk.")
    usage: Usage | None = Field(None, description="On the last chunk when `stream_options.include_usage` is set.")
    visiondesk: VisionDeskResult | None = Field(None, description="On the first chunk: citations, OCR text, variant.")


class ModelCard(BaseModel):
    id: str = Field(description="Name to put in a request's `model` field.")
    object: Literal["model"] = Field("model", description="Object type.")
    created: int = Field(description="Unix time the backend started.")
    owned_by: str = Field("visiondesk", description="Owner.")
    parent: str | None = Field(None, description="For an adapter: the base model it applies to.")
    kind: Literal["base", "adapter"] = Field(description="Base model or LoRA adapter.")


class ModelList(BaseModel):
    object: Literal["list"] = Field("list", description="Object type.")
    data: list[ModelCard] = Field(description="Base model first, then adapters.")


class QuickActionCard(BaseModel):
    id: str = Field(description="Stable id of the action.")
    label: str = Field(description="Button text.")
    prompt: str = Field(description="The question the button sends.")


class DomainCard(BaseModel):
    domain: str = Field(description="Name to send as `visiondesk.domain`.")
    title: str = Field(description="Human-readable name.")
    medical: bool = Field(description="Medical safety rules apply: disclaimer, red flags, no improvising.")
    default_adapter: str | None = Field(None, description="LoRA adapter the domain's profile suggests.")
    quick_actions: list[QuickActionCard] = Field(description="One-click prompts for the chat screen.")


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong and what to do.")
    type: str = Field(description="`invalid_request_error`, `rate_limit_error`, `server_error`, …")
    code: str | None = Field(None, description="Machine-readable cause; for limits, the setting's name.")
    param: str | None = Field(None, description="Request field involved, when one is.")


class ErrorResponse(BaseModel):
    error: ErrorDetail = Field(description="The error.")


class Health(BaseModel):
    status: Literal["ok"] = Field("ok", description="The process is alive.")


class Readiness(BaseModel):
    ready: bool = Field(description="Whether chat requests can be answered now.")
    reason: str = Field(description="Why not, when not ready; what is loaded otherwise.")
    model: str = Field(description="Base model id.")
    engine: str = Field(description="Engine kind.")
