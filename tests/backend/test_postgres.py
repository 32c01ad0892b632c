"""`database.url` switches the app database to Postgres: migrations, accounts and chat records on a real server.

The test starts a throwaway PostgreSQL cluster (Debian's `postgresql` package) on a free local port.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from backend.accounts import Accounts
from backend.db import Database
from backend.process import free_port
from support import image_bytes, start_backend, stop_backend

pytestmark = pytest.mark.slow


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root, developers usually not.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir, port = _pg_bin(), free_port()
    # Outside pytest's private tmp tree: the postgres user must be able to reach the data directory.
    root = Path(tempfile.mkdtemp(prefix="visiondesk-pg-"))
    data = root / "data"
    os.chmod(root, 0o777)
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "vd", "-E", "UTF8"]),
                   check=True, capture_output=True)
    log = root / "pg.log"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                                 f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    server = f"postgresql+psycopg://vd@127.0.0.1:{port}"
    try:
        yield lambda name: _create_database(server, name)
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _create_database(server: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{server}/{name}"


def test_migrations_and_accounts_on_postgres(postgres_url):
    db = Database(postgres_url("accounts"))
    db.upgrade()
    assert db.current_revision() == "0004"
    assert {"users", "tokens", "request_log", "feedback", "experiments"} <= set(db.tables())
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from backend.db.models import Base

    with db.engine.connect() as conn:  # the migrations build on Postgres exactly what the models describe
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    accounts = Accounts(db)
    accounts.create_user("pg-agent", "a long password", "agent")
    issued, _ = accounts.login("pg-agent", "a long password")
    assert accounts.resolve(issued.secret).username == "pg-agent"
    db.close()


def test_backend_records_chat_in_postgres(postgres_url, tmp_path, tiny_llava):
    import base64

    import httpx
    from sqlalchemy import text

    url = postgres_url("backend")
    backend = start_backend(tmp_path, {"VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_DATABASE__URL": url})
    try:
        uri = "data:image/png;base64," + base64.b64encode(image_bytes()).decode()
        resp = httpx.post(f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=120, json={
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                      {"type": "text", "text": "Stored in Postgres?"}]}],
            "max_tokens": 4})
        assert resp.status_code == 200, resp.text
        request_id = resp.json()["id"]
        db = Database(url)
        deadline = time.monotonic() + 10
        row = None
        while row is None and time.monotonic() < deadline:
            with db.engine.connect() as conn:
                row = conn.execute(text("SELECT status, images FROM request_log WHERE id = :id"),
                                   {"id": request_id}).first()
            time.sleep(0.1)
        assert row is not None and tuple(row) == (200, 1)
        db.close()
    finally:
        stop_backend(backend)
