"""What the backend remembers about each chat request: the request log, conversations and their messages."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from backend.accounts import Principal
from backend.db import Database
from backend.db.models import Conversation, Message, MessageImage, RequestLog, utcnow
from backend.privacy import redact_text


class ConversationNotFound(LookupError):
    pass


@dataclass
class TurnRecord:
    """One chat request as it ended. Image bytes are kept only when `store_images` is on."""

    request_id: str
    user_id: int | None
    model: str
    status: int
    stream: bool = False
    adapter: str | None = None
    domain: str | None = None
    variant: str | None = None
    experiment: str | None = None
    conversation_id: str | None = None
    question: str = ""
    image_hashes: list[str] = field(default_factory=list)
    images: list = field(default_factory=list, repr=False)  # decoded PIL images, saved only if store_images
    answer: str | None = None
    answer_meta: dict = field(default_factory=dict)
    error: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class ChatRecorder:
    def __init__(self, db: Database, store_images: bool = False, *, redact: bool = True):
        self.db = db
        self.store_images = store_images
        self.redact = redact  # error texts may quote the request: keep identifiers out of the log

    def conversation_for(self, principal: Principal, conversation_id: str | None) -> str:
        """The id to record under: an existing conversation the caller may use, or a new id."""
        if not conversation_id:
            return uuid.uuid4().hex
        with self.db.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                return conversation_id  # a client-chosen id starts a new conversation
            if conv.user_id != principal.user_id and not principal.has("admin"):
                raise ConversationNotFound(f"conversation {conversation_id!r} not found")
            return conversation_id

    def record(self, turn: TurnRecord) -> None:
        with self.db.session() as s:
            s.add(RequestLog(
                id=turn.request_id, user_id=turn.user_id, model=turn.model, adapter=turn.adapter,
                domain=turn.domain, variant=turn.variant, experiment=turn.experiment,
                conversation_id=turn.conversation_id, stream=turn.stream,
                status=turn.status, error=redact_text(turn.error) if self.redact and turn.error else turn.error,
                latency_ms=turn.latency_ms, ttft_ms=turn.ttft_ms,
                prompt_tokens=turn.prompt_tokens, completion_tokens=turn.completion_tokens,
                images=len(turn.image_hashes),
            ))
            if turn.status != 200 or turn.conversation_id is None:
                return
            conv = s.get(Conversation, turn.conversation_id)
            if conv is None:
                s.add(Conversation(id=turn.conversation_id, user_id=turn.user_id, domain=turn.domain,
                                   title=turn.question[:200]))
            else:
                conv.updated_at = utcnow()
            s.add(Message(conversation_id=turn.conversation_id, role="user", content=turn.question,
                          image_hashes=turn.image_hashes, request_id=turn.request_id))
            s.add(Message(conversation_id=turn.conversation_id, role="assistant", content=turn.answer or "",
                          request_id=turn.request_id, meta=turn.answer_meta))
            if self.store_images:
                for sha, image in zip(turn.image_hashes, turn.images, strict=False):
                    if s.get(MessageImage, sha) is None:
                        s.add(MessageImage(sha=sha, data=_png(image)))

    def conversations(self, principal: Principal, limit: int = 50) -> list[Conversation]:
        with self.db.session() as s:
            query = select(Conversation).where(Conversation.user_id == principal.user_id)
            return list(s.scalars(query.order_by(Conversation.updated_at.desc()).limit(limit)))

    def conversation(self, principal: Principal, conversation_id: str) -> tuple[Conversation, list[Message]]:
        with self.db.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None or (conv.user_id != principal.user_id and not principal.has("admin")):
                raise ConversationNotFound(f"conversation {conversation_id!r} not found")
            messages = list(s.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                      .order_by(Message.id)))
            return conv, messages

    def recent_requests(self, limit: int = 50) -> list[RequestLog]:
        with self.db.session() as s:
            return list(s.scalars(select(RequestLog).order_by(RequestLog.time.desc()).limit(limit)))
