"""Retention: delete chat records older than a cutoff — conversations and their messages, stored images no
message still uses, feedback, and the request log. Accounts, experiments and knowledge are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from backend.db import Database
from backend.db.models import Conversation, Feedback, Message, MessageImage, RequestLog


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    conversations: int
    messages: int
    images: int
    feedback: int
    requests: int
    dry_run: bool

    def describe(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (f"{verb}, older than {self.cutoff:%Y-%m-%d %H:%M} UTC: {self.conversations} conversations "
                f"({self.messages} messages), {self.images} stored images, {self.feedback} feedback items, "
                f"{self.requests} request-log rows")


def purge(db: Database, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    """Delete what is older than `older_than` in one transaction (nothing half-deleted if it fails)."""
    if older_than <= timedelta(0):
        raise ValueError("the retention period must be positive")
    cutoff = (now or datetime.now(UTC)) - older_than
    with db.session() as s:
        # A conversation goes when its last activity is older than the cutoff, with all its messages.
        old_conversations = select(Conversation.id).where(Conversation.updated_at < cutoff)
        n_conv = s.scalar(select(func.count()).select_from(old_conversations.subquery()))
        n_msg = s.scalar(select(func.count(Message.id)).where(Message.conversation_id.in_(old_conversations)))
        n_fb = s.scalar(select(func.count(Feedback.id)).where(Feedback.created_at < cutoff))
        n_req = s.scalar(select(func.count(RequestLog.id)).where(RequestLog.time < cutoff))
        # Stored images go once no remaining message shows them.
        kept = {h for hashes in s.scalars(select(Message.image_hashes).where(
            Message.conversation_id.not_in(old_conversations))) for h in (hashes or [])}
        orphans = [sha for sha in s.scalars(select(MessageImage.sha)) if sha not in kept]
        if not dry_run:
            s.execute(delete(Message).where(Message.conversation_id.in_(old_conversations)))
            s.execute(delete(Conversation).where(Conversation.updated_at < cutoff))
            s.execute(delete(Feedback).where(Feedback.created_at < cutoff))
            s.execute(delete(RequestLog).where(RequestLog.time < cutoff))
            if orphans:
                s.execute(delete(MessageImage).where(MessageImage.sha.in_(orphans)))
    return PurgeReport(cutoff, n_conv, n_msg, len(orphans), n_fb, n_req, dry_run)
