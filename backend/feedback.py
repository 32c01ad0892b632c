"""Agents' ratings of answers: stored against the request they rate, reviewed and resolved by admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from backend.accounts import Principal
from backend.db import Database
from backend.db.models import Feedback, Message, RequestLog


class FeedbackError(LookupError):
    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


@dataclass
class FeedbackIn:
    request_id: str
    rating: str | None = None
    reasons: list[str] | None = None
    corrected_answer: str | None = None
    comment: str | None = None
    flagged: bool = False


class FeedbackStore:
    def __init__(self, db: Database):
        self.db = db

    def add(self, principal: Principal, item: FeedbackIn) -> Feedback:
        if item.rating is None and not item.flagged and not item.corrected_answer and not item.comment:
            raise FeedbackError("feedback needs a rating, a correction, a comment or a flag", status=400)
        with self.db.session() as s:
            request = s.get(RequestLog, item.request_id)
            if request is None or request.status != 200:
                raise FeedbackError(f"no answered request {item.request_id!r}")
            if request.user_id != principal.user_id and not principal.has("admin"):
                raise FeedbackError(f"no answered request {item.request_id!r}")  # others' answers stay invisible
            row = Feedback(request_id=item.request_id, conversation_id=request.conversation_id,
                           user_id=principal.user_id, rating=item.rating, reasons=item.reasons or [],
                           corrected_answer=item.corrected_answer, comment=item.comment, flagged=item.flagged)
            s.add(row)
            s.flush()
            return row

    def list(self, *, status: str | None = None, flagged: bool | None = None, rating: str | None = None,
             limit: int = 100) -> list[tuple[Feedback, str, str]]:
        """Feedback with the question and answer it is about, newest first."""
        with self.db.session() as s:
            query = select(Feedback).order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit)
            if status:
                query = query.where(Feedback.status == status)
            if flagged is not None:
                query = query.where(Feedback.flagged == flagged)
            if rating:
                query = query.where(Feedback.rating == rating)
            out = []
            for fb in s.scalars(query):
                turn = {m.role: m.content for m in s.scalars(select(Message).where(Message.request_id == fb.request_id))}
                out.append((fb, turn.get("user", ""), turn.get("assistant", "")))
            return out

    def resolve(self, feedback_id: int, principal: Principal, status: str = "resolved") -> Feedback:
        with self.db.session() as s:
            row = s.get(Feedback, feedback_id)
            if row is None:
                raise FeedbackError(f"no feedback {feedback_id}")
            row.status = status
            row.resolved_by = principal.user_id if status == "resolved" else None
            row.resolved_at = datetime.now(UTC) if status == "resolved" else None
            return row
