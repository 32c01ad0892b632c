"""The ingest CLI as users run it: --help, --dry-run, summary, and a SIGKILL mid-ingest that the next run repairs."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "knowledge.ingest", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, **kw)


def test_help_has_examples():
    out = _cli("--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "--dry-run" in out.stdout


def test_dry_run_and_summary_with_failures(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Shipping\n\nWe ship in two days.\n")
    (docs / "bad.csv").write_text("a,b\n1,2,3\n")
    dry = _cli(docs, "--domain", "shop", "--data-dir", tmp_path / "kn", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "[markdown, en, heading]" in dry.stdout and "FAIL" in dry.stdout and "malformed CSV" in dry.stdout
    assert not (tmp_path / "kn" / "knowledge.db").exists()
    run = _cli(docs, "--domain", "shop", "--data-dir", tmp_path / "kn")
    assert run.returncode == 1  # a file failed
    assert "added 1, updated 0, unchanged 0, failed 1" in run.stdout and "malformed CSV" in run.stdout


@pytest.mark.slow
def test_sigkill_mid_ingest_leaves_no_half_document_and_rerun_completes(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    n_files = 8
    for i in range(n_files):  # ~12 chunks each: embedding dominates, so a kill lands between the two commits
        body = "\n\n".join(f"Paragraph {j} of manual {i}: model M{i}-{j} needs weekly cleaning."
                           for j in range(60))
        (docs / f"manual_{i:02}.txt").write_text(body)
    data = tmp_path / "kn"
    proc = subprocess.Popen([sys.executable, "-m", "knowledge.ingest", str(docs), "--domain", "manuals",
                             "--data-dir", str(data), "--chunk-size", "300", "--overlap", "0"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = data / "knowledge.db"
    deadline = time.time() + 240
    pending_seen = False
    while time.time() < deadline:  # kill while a document is half-written (pending chunks, not yet visible)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    done = con.execute("select count(*) from kn_documents where complete = 1").fetchone()[0]
                    pending = con.execute("select count(*) from kn_chunks where pending = 1").fetchone()[0]
            except sqlite3.OperationalError:
                done = pending = 0
            if done >= 2 and pending > 0:
                pending_seen = True
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert pending_seen, "never caught the ingest between its commits"

    from knowledge.settings import KnowledgeSettings
    from knowledge.store import KnowledgeStore

    with KnowledgeStore(KnowledgeSettings(data_dir=data)) as store:
        visible = store.visible_chunks("manuals")
        complete = store.documents("manuals")
        assert 2 <= len(complete) < n_files
        # every visible chunk belongs to a complete document, and complete documents are whole
        assert {c.document_id for c in visible} == {d.id for d in complete}
        assert all(sum(c.document_id == d.id for c in visible) == len(store.document(d.id).chunks) for d in complete)
    rerun = _cli(docs, "--domain", "manuals", "--data-dir", data, "--chunk-size", "300", "--overlap", "0")
    assert rerun.returncode == 0, rerun.stderr
    assert f"added {n_files - len(complete)}, updated 0, unchanged {len(complete)}, failed 0" in rerun.stdout
    with KnowledgeStore(KnowledgeSettings(data_dir=data)) as store:
        assert len(store.documents("manuals")) == n_files
        store.sweep("manuals")  # vectors of the killed attempt that no chunk owns
        assert store.index.count("manuals") == len(store.visible_chunks("manuals"))
