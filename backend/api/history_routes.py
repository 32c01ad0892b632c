"""Conversation history for agents, and feedback on answers (given by agents, reviewed by admins)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from backend.accounts import Principal
from backend.api.security import require
from backend.csv_export import to_csv
from backend.feedback import FeedbackIn, FeedbackStore
from backend.records import ChatRecorder


class ConversationOut(BaseModel):
    id: str = Field(description="Conversation id; send it as `visiondesk.conversation_id` to continue.")
    title: str = Field(description="The first question, shortened.")
    domain: str | None = Field(description="Domain of the conversation.")
    created_at: datetime = Field(description="When it started.")
    updated_at: datetime = Field(description="Last turn.")


class MessageOut(BaseModel):
    role: Literal["user", "assistant"] = Field(description="Who wrote it.")
    content: str = Field(description="Text of the message.")
    image_hashes: list[str] = Field(description="Content hashes of the images the user attached.")
    request_id: str | None = Field(description="The answer's request id, for feedback.")
    meta: dict = Field(description="For answers: citations, variant, adapter, domain.")
    created_at: datetime = Field(description="When it was written.")


class ConversationDetail(ConversationOut):
    messages: list[MessageOut] = Field(description="Messages in order.")


class FeedbackCreate(BaseModel):
    request_id: str = Field(description="The answer's `visiondesk.request_id`.")
    rating: Literal["up", "down"] | None = Field(None, description="Thumbs up or down.")
    reasons: list[str] = Field(default_factory=list, max_length=10,
                               description="Reason tags, e.g. `wrong_facts`, `missing_source`, `unsafe`.")
    corrected_answer: str | None = Field(None, max_length=20_000, description="What the answer should have said.")
    comment: str | None = Field(None, max_length=5_000, description="Free text for the reviewer.")
    flagged: bool = Field(False, description="Ask an admin to review this answer.")


class FeedbackOut(BaseModel):
    id: int = Field(description="Feedback id.")
    request_id: str = Field(description="The rated answer.")
    conversation_id: str | None = Field(description="Its conversation.")
    rating: str | None = Field(description="`up`, `down` or empty.")
    reasons: list[str] = Field(description="Reason tags.")
    corrected_answer: str | None = Field(description="The agent's correction.")
    comment: str | None = Field(description="Free text.")
    flagged: bool = Field(description="Asked for review.")
    status: Literal["open", "resolved"] = Field(description="Review state.")
    created_at: datetime = Field(description="When it was given.")
    question: str = Field("", description="The question that was answered (admin listing).")
    answer: str = Field("", description="The answer that was rated (admin listing).")


class FeedbackUpdate(BaseModel):
    status: Literal["open", "resolved"] = Field(description="New review state.")


def _feedback(row, question: str = "", answer: str = "") -> FeedbackOut:
    return FeedbackOut(id=row.id, request_id=row.request_id, conversation_id=row.conversation_id, rating=row.rating,
                       reasons=row.reasons or [], corrected_answer=row.corrected_answer, comment=row.comment,
                       flagged=row.flagged, status=row.status, created_at=row.created_at, question=question,
                       answer=answer)


def _conversation(conv) -> dict:
    return dict(id=conv.id, title=conv.title, domain=conv.domain, created_at=conv.created_at,
                updated_at=conv.updated_at)


def router(recorder: ChatRecorder, feedback: FeedbackStore) -> APIRouter:
    r = APIRouter(tags=["history and feedback"])

    @r.get("/v1/conversations", response_model=list[ConversationOut], summary="The caller's conversations, newest first")
    async def list_conversations(limit: int = Query(50, ge=1, le=500, description="Most conversations to return."),
                                 principal: Principal = Depends(require("agent"))) -> list[ConversationOut]:
        rows = await asyncio.to_thread(recorder.conversations, principal, limit)
        return [ConversationOut(**_conversation(c)) for c in rows]

    @r.get("/v1/conversations/{conversation_id}", response_model=ConversationDetail,
           summary="One conversation with its messages (its owner or an admin)")
    async def get_conversation(conversation_id: str,
                               principal: Principal = Depends(require("agent"))) -> ConversationDetail:
        conv, messages = await asyncio.to_thread(recorder.conversation, principal, conversation_id)
        return ConversationDetail(**_conversation(conv), messages=[
            MessageOut(role=m.role, content=m.content, image_hashes=m.image_hashes or [], request_id=m.request_id,
                       meta=m.meta or {}, created_at=m.created_at) for m in messages])

    @r.post("/v1/feedback", response_model=FeedbackOut, status_code=201, summary="Rate, correct or flag an answer")
    async def give_feedback(body: FeedbackCreate, principal: Principal = Depends(require("agent"))) -> FeedbackOut:
        item = FeedbackIn(request_id=body.request_id, rating=body.rating, reasons=body.reasons,
                          corrected_answer=body.corrected_answer, comment=body.comment, flagged=body.flagged)
        return _feedback(await asyncio.to_thread(feedback.add, principal, item))

    @r.get("/v1/feedback", response_model=list[FeedbackOut], summary="The review queue (admins)")
    async def list_feedback(status: Literal["open", "resolved"] | None = Query(None, description="Review state."),
                            flagged: bool | None = Query(None, description="Only flagged, or only not flagged."),
                            rating: Literal["up", "down"] | None = Query(None, description="Only this rating."),
                            limit: int = Query(100, ge=1, le=1000, description="Most items to return."),
                            _: Principal = Depends(require("admin"))) -> list[FeedbackOut]:
        rows = await asyncio.to_thread(feedback.list, status=status, flagged=flagged, rating=rating, limit=limit)
        return [_feedback(row, q, a) for row, q, a in rows]

    @r.get("/v1/feedback/export.csv", response_class=Response, summary="The review queue as CSV (admins)",
           responses={200: {"content": {"text/csv": {}}}})
    async def export_feedback(status: Literal["open", "resolved"] | None = Query(None, description="Review state."),
                              limit: int = Query(10000, ge=1, le=100000, description="Most items to export."),
                              _: Principal = Depends(require("admin"))) -> Response:
        rows = await asyncio.to_thread(feedback.list, status=status, flagged=None, rating=None, limit=limit)
        items = [_feedback(row, q, a) for row, q, a in rows]
        header = ["id", "created_at", "status", "rating", "flagged", "reasons", "question", "answer",
                  "corrected_answer", "comment", "request_id"]
        body = to_csv(header, ([i.id, i.created_at.isoformat(), i.status, i.rating or "", i.flagged, " ".join(i.reasons),
                                i.question, i.answer, i.corrected_answer or "", i.comment or "", i.request_id]
                               for i in items))
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="feedback.csv"'})

    @r.patch("/v1/feedback/{feedback_id}", response_model=FeedbackOut, summary="Resolve or reopen a feedback item")
    async def update_feedback(feedback_id: int, body: FeedbackUpdate,
                              principal: Principal = Depends(require("admin"))) -> FeedbackOut:
        return _feedback(await asyncio.to_thread(feedback.resolve, feedback_id, principal, body.status))

    return r
