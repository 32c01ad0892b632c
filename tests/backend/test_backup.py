"""Backup and restore: a real backend's users, conversation, feedback and uploaded knowledge survive a wiped data dir.

One backend runs with knowledge on; it is backed up while running, stopped, its data dir wiped and restored
with `python -m backend restore`, then started again. Damaged archives and a non-empty target are refused
with a clear message and change nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from backend.process import ROOT
from backend.process import start_backend as start_backend_process
from support import ADMIN_PASSWORD, start_backend

pytestmark = pytest.mark.slow

LEAFLET = (b"# Clinic opening hours\n\nThe clinic is open Monday to Friday from 8:00 to 18:00. Blood tests are "
           b"taken before 10:00; bring your referral letter.\n")
POLICY = (b"# Gift wrapping\n\nGift wrapping costs 4.50 and is available for every order shipped within "
          b"mainland China. Choose it at checkout; the wrapped parcel carries no price tag.\n")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=600)


def tree(path: Path) -> dict[str, str]:
    """Every file under `path` with its checksum: what "nothing changed" is compared against."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def wait_for(fn, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def ask(server, question: str, headers) -> dict:
    resp = httpx.post(f"{server.url}/v1/chat/completions", headers=headers, timeout=300, json={
        "messages": [{"role": "user", "content": question}], "max_tokens": 8,
        "visiondesk": {"domain": "ecommerce"}})
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory, tiny_llava):
    """A backend with users, a rated conversation and uploaded documents; its archive; then stopped.

    The seed packs stay out (seeding takes minutes on CI's two cores): the uploads are the knowledge.
    """
    tmp = tmp_path_factory.mktemp("backup")
    env = {"VISIONDESK_DATA_DIR": str(tmp / "data"), "VISIONDESK_AUTH__ADMIN_PASSWORD": ADMIN_PASSWORD,
           "VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_KNOWLEDGE__ENABLED": "true",
           "VISIONDESK_KNOWLEDGE__SEED_ON_START": "false"}
    server = start_backend(tmp, env, ready_timeout=600)
    try:
        httpx.post(f"{server.url}/v1/users", headers=server.admin_headers, timeout=30, json={
            "username": "lee", "password": "lee-password-1", "role": "agent"}).raise_for_status()
        stored = httpx.post(f"{server.url}/v1/knowledge/ecommerce/files", headers=server.admin_headers,
                            timeout=300, files=[("files", ("gift-wrap.md", POLICY))])
        assert stored.json()["added"] == ["gift-wrap.md"], stored.text
        leaflet = httpx.post(f"{server.url}/v1/knowledge/medical/files", headers=server.admin_headers,
                             timeout=300, files=[("files", ("opening-hours.md", LEAFLET))])
        assert leaflet.json()["added"] == ["opening-hours.md"], leaflet.text
        answer = ask(server, "How much is gift wrapping?", server.headers)
        conversation = answer["visiondesk"]["conversation_id"]
        wait_for(lambda: httpx.get(f"{server.url}/v1/conversations/{conversation}", headers=server.headers,
                                   timeout=30).status_code == 200)
        feedback = httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30, json={
            "request_id": answer["visiondesk"]["request_id"], "rating": "up", "reasons": [],
            "corrected_answer": "Gift wrapping costs 4.50 [1]."})
        assert feedback.status_code == 201, feedback.text
        archive = tmp / "backups" / "visiondesk.tar.gz"
        made = cli(env, "backup", "--out", str(archive))  # online: the backend is still running
        assert made.returncode == 0, made.stderr
    finally:
        server.stop()
    yield {"tmp": tmp, "env": env, "data": tmp / "data", "archive": archive, "api_key": server.api_key,
           "conversation": conversation, "feedback_id": feedback.json()["id"], "backup_output": made.stdout}


def test_backup_archive_holds_a_manifest_with_checksums_and_counts(backed_up):
    with tarfile.open(backed_up["archive"]) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        app_db = tar.extractfile("app.sqlite").read()
    assert names[0] == "manifest.json" and set(names) == {"manifest.json", "app.sqlite", "knowledge.sqlite"}
    assert manifest["app_revision"] and manifest["versions"]["visiondesk"]
    assert hashlib.sha256(app_db).hexdigest() == manifest["files"]["app.sqlite"]["sha256"]
    rows = manifest["files"]["app.sqlite"]["rows"]
    assert rows["users"] == 3 and rows["feedback"] == 1 and rows["conversations"] >= 1
    assert manifest["files"]["knowledge.sqlite"]["rows"]["kn_documents"] == 2
    assert set(manifest["embedders"]) == {"ecommerce", "medical"}
    assert app_db[:16] == b"SQLite format 3\x00"
    assert "wrote" in backed_up["backup_output"] and "users 3" in backed_up["backup_output"]
    assert oct(backed_up["archive"].stat().st_mode & 0o777) == "0o600"


def test_backup_refuses_to_overwrite_an_archive(backed_up):
    again = cli(backed_up["env"], "backup", "--out", str(backed_up["archive"]))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_restore_onto_a_non_empty_data_dir_needs_force(backed_up):
    before = tree(backed_up["data"])
    refused = cli(backed_up["env"], "restore", str(backed_up["archive"]))
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "--force" in refused.stderr and "visiondesk.db" in refused.stderr
    assert tree(backed_up["data"]) == before


def rewrite(archive: Path, out: Path, *, manifest=None, app_db=None) -> Path:
    """A copy of `archive` with the manifest and/or the app database replaced (checksums left as they were)."""
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
    if manifest is not None:
        members["manifest.json"] = json.dumps(manifest(json.loads(members["manifest.json"]))).encode()
    if app_db is not None:
        members["app.sqlite"] = app_db(members["app.sqlite"])
    with tarfile.open(out, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


@pytest.fixture
def empty_target(backed_up, tmp_path):
    """Settings pointing at a data dir that does not exist yet."""
    return {**backed_up["env"], "VISIONDESK_DATA_DIR": str(tmp_path / "fresh")}, tmp_path / "fresh"


def test_corrupt_archive_is_refused_and_changes_nothing(backed_up, empty_target, tmp_path):
    env, target = empty_target
    data = bytearray(backed_up["archive"].read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(bytes(data))
    result = cli(env, "restore", str(corrupt))
    assert result.returncode == 1 and "corrupt or truncated" in result.stderr, result.stderr
    assert "nothing was changed" in result.stderr and tree(target) == {}


def test_truncated_archive_is_refused_and_changes_nothing(backed_up, empty_target, tmp_path):
    env, target = empty_target
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(backed_up["archive"].read_bytes()[: backed_up["archive"].stat().st_size * 2 // 3])
    result = cli(env, "restore", str(truncated))
    assert result.returncode == 1 and "corrupt or truncated" in result.stderr, result.stderr
    assert tree(target) == {}


def test_altered_database_fails_its_checksum(backed_up, empty_target, tmp_path):
    env, target = empty_target

    def tamper(db: bytes) -> bytes:
        return db[:-100] + b"\x01" * 100
    altered = rewrite(backed_up["archive"], tmp_path / "altered.tar.gz", app_db=tamper)
    result = cli(env, "restore", str(altered))
    assert result.returncode == 1 and "app.sqlite does not match its checksum" in result.stderr, result.stderr
    assert "another copy" in result.stderr and tree(target) == {}


def test_unknown_schema_revision_is_refused_with_what_to_do(backed_up, empty_target, tmp_path):
    env, target = empty_target
    future = rewrite(backed_up["archive"], tmp_path / "future.tar.gz",
                     manifest=lambda m: {**m, "app_revision": "9999_from_the_future",
                                         "versions": {**m["versions"], "visiondesk": "9.0.0"}})
    result = cli(env, "restore", str(future))
    assert result.returncode == 1 and "9999_from_the_future" in result.stderr, result.stderr
    assert "Upgrade VisionDesk" in result.stderr and "9.0.0" in result.stderr and tree(target) == {}


def test_something_else_is_not_taken_for_a_backup(backed_up, empty_target, tmp_path):
    env, target = empty_target
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(gzip.compress(b"not a tar at all" * 100))
    result = cli(env, "restore", str(plain))
    assert result.returncode == 1 and "corrupt or truncated" in result.stderr
    missing = cli(env, "restore", str(tmp_path / "nope.tar.gz"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr and tree(target) == {}


def test_dry_run_checks_everything_and_changes_nothing(backed_up, empty_target):
    env, target = empty_target
    result = cli(env, "restore", str(backed_up["archive"]), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout and tree(target) == {}


def test_wiped_data_dir_comes_back_complete_and_chat_cites_the_upload(backed_up):
    """Last in the module: it wipes the data dir the other tests compare against."""
    env, data = backed_up["env"], backed_up["data"]
    shutil.rmtree(data)
    restored = cli(env, "restore", str(backed_up["archive"]))
    assert restored.returncode == 0, restored.stderr
    assert "re-indexed ecommerce: 1 chunks" in restored.stdout and "re-indexed medical: 1 chunks" in restored.stdout

    # seeding on: it loads seed packs only into empty domains, so a restore that lost knowledge would show
    server = start_backend_process(backed_up["tmp"], {**env, "VISIONDESK_KNOWLEDGE__SEED_ON_START": "true"},
                                   timeout=600)
    try:
        login = httpx.post(f"{server.url}/v1/auth/login", timeout=30,
                           json={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        agent = {"Authorization": f"Bearer {backed_up['api_key']}"}  # the API key made before the backup

        users = {u["username"] for u in httpx.get(f"{server.url}/v1/users", headers=admin, timeout=30).json()}
        assert users == {"admin", "agent", "lee"}
        assert httpx.post(f"{server.url}/v1/auth/login", timeout=30,
                          json={"username": "lee", "password": "lee-password-1"}).status_code == 200

        conversation = httpx.get(f"{server.url}/v1/conversations/{backed_up['conversation']}", headers=agent,
                                 timeout=30)
        assert conversation.status_code == 200
        assert conversation.json()["messages"][0]["content"] == "How much is gift wrapping?"
        feedback = httpx.get(f"{server.url}/v1/feedback", headers=admin, timeout=30).json()
        item = next(f for f in feedback if f["id"] == backed_up["feedback_id"])
        assert item["rating"] == "up" and item["corrected_answer"] == "Gift wrapping costs 4.50 [1]."

        docs = httpx.get(f"{server.url}/v1/knowledge/ecommerce/documents", headers=admin, timeout=60).json()
        assert [d["source"] for d in docs] == ["gift-wrap.md"], "restored as it was: no seed pack loaded again"
        medical = httpx.get(f"{server.url}/v1/knowledge/medical/documents", headers=admin, timeout=60).json()
        assert [d["source"] for d in medical] == ["opening-hours.md"]
        answer = ask(server, "How much is gift wrapping?", agent)
        assert answer["visiondesk"]["citations"][0]["source"] == "gift-wrap.md"

        busy = cli(env, "restore", str(backed_up["archive"]), "--force")
        assert busy.returncode == 1 and "a backend is running" in busy.stderr, busy.stderr
        locked = cli(env, "reindex")
        assert locked.returncode == 1 and "in use by another process" in locked.stderr, locked.stderr
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200
    finally:
        server.stop()
    rebuilt = cli(env, "reindex")  # the vectors alone, from the restored records
    assert rebuilt.returncode == 0 and "re-indexed ecommerce" in rebuilt.stdout, rebuilt.stderr


def test_postgres_and_missing_databases_get_clear_errors(tmp_path):
    env = {"VISIONDESK_DATA_DIR": str(tmp_path / "data")}
    empty = cli(env, "backup", "--out", str(tmp_path / "x.tar.gz"))
    assert empty.returncode == 1 and "no app database" in empty.stderr
    postgres = cli({**env, "VISIONDESK_DATABASE__URL": "postgresql+psycopg://vd:pw@db/visiondesk"}, "backup")
    assert postgres.returncode == 1 and "pg_dump" in postgres.stderr and ":pw@" not in postgres.stderr
    assert not (tmp_path / "x.tar.gz").exists()
