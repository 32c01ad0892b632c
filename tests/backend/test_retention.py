"""Retention: `python -m backend purge` deletes old chat records, keeps recent ones and images still in use."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.db import Database
from backend.db.models import Conversation, Feedback, Message, MessageImage, RequestLog
from backend.retention import purge
from support import ROOT

NOW = datetime.now(UTC)  # the CLI test below runs on the real clock
OLD, NEW = NOW - timedelta(days=120), NOW - timedelta(days=5)


def fill(db: Database) -> None:
    with db.session() as s:
        for cid, when, images in (("old-1", OLD, ["shared", "only-old"]), ("old-2", OLD, []), ("new-1", NEW, ["shared"])):
            s.add(Conversation(id=cid, title=cid, created_at=when, updated_at=when))
            s.add(Message(conversation_id=cid, role="user", content="q", image_hashes=images, request_id=f"r-{cid}",
                          created_at=when))
            s.add(Message(conversation_id=cid, role="assistant", content="a", request_id=f"r-{cid}", created_at=when))
            s.add(RequestLog(id=f"r-{cid}", time=when, model="m", status=200))
            s.add(Feedback(request_id=f"r-{cid}", rating="up", reasons=[], created_at=when))
        for sha in ("shared", "only-old"):
            s.add(MessageImage(sha=sha, data=b"png"))


def counts(db: Database) -> dict:
    with db.session() as s:
        return {table.__tablename__: s.scalar(select(func.count()).select_from(table))
                for table in (Conversation, Message, MessageImage, Feedback, RequestLog)}


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'visiondesk.db'}")
    database.upgrade()
    fill(database)
    yield database
    database.close()


def test_dry_run_counts_exactly_what_purge_then_deletes(db):
    before = counts(db)
    dry = purge(db, timedelta(days=90), dry_run=True, now=NOW)
    assert counts(db) == before
    done = purge(db, timedelta(days=90), now=NOW)
    assert (dry.conversations, dry.messages, dry.images, dry.feedback, dry.requests) == \
        (done.conversations, done.messages, done.images, done.feedback, done.requests) == (2, 4, 1, 2, 2)
    assert counts(db) == {"conversations": 1, "messages": 2, "message_images": 1, "feedback": 1, "request_log": 1}
    with db.session() as s:
        assert s.scalars(select(MessageImage.sha)).all() == ["shared"]  # still shown in new-1
        assert s.scalars(select(Conversation.id)).all() == ["new-1"]
    assert purge(db, timedelta(days=90), now=NOW).conversations == 0  # idempotent
    with pytest.raises(ValueError, match="positive"):
        purge(db, timedelta(0))


def test_purge_command(tmp_path, db):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")},
           "VISIONDESK_DATA_DIR": str(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "backend", "purge", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    missing = run()
    assert missing.returncode == 2 and "retention period" in missing.stderr
    dry = run("--older-than-days", "90", "--dry-run")
    assert dry.returncode == 0 and "would delete" in dry.stdout and "2 conversations" in dry.stdout
    assert counts(db)["conversations"] == 3
    # every record is at least 5 days old: a 1-day period takes them all
    done = run("--older-than-days", "1")
    assert done.returncode == 0 and "deleted" in done.stdout
    assert counts(db)["conversations"] == 0
    env["VISIONDESK_DATABASE__RETENTION_DAYS"] = "1"
    assert "deleted" in run().stdout
