"""The app database: migrations build the schema the models describe; SQLite runs in WAL mode."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.db import Database
from backend.db.models import Base


def test_migrations_create_every_table_and_match_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    db.upgrade()
    db.upgrade()  # idempotent: runs at every start
    assert db.current_revision() == "0004"
    assert {"users", "tokens", "conversations", "messages", "message_images", "request_log", "feedback",
            "experiments"} <= set(db.tables())
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"
    db.close()


def test_upgrading_an_older_database_keeps_its_rows(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    db.upgrade("0002")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO request_log (id, time, model, variant, stream, status, latency_ms, "
                             "prompt_tokens, completion_tokens, images) VALUES "
                             "('r1', '2026-11-01 10:00:00', 'm', 'B', 0, 200, 12.5, 3, 4, 0)")
    db.upgrade()
    assert db.current_revision() == "0004"
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, variant, experiment, latency_ms FROM request_log").fetchall()
    assert [tuple(r) for r in rows] == [("r1", "B", None, 12.5)]
    db.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.close()
