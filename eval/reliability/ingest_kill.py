"""Fault drill: kill -9 during `python -m knowledge.ingest`, several times, then re-run to the end.

A generated corpus (Markdown articles and one large CSV catalogue) is ingested into an embedded store. Each run
is killed with SIGKILL once a growing share of the documents is stored; the next run starts over the same files.
The last run must finish, and the store must then hold exactly what one clean run would: every document complete
at version 1 with one `document.add` audit entry, exactly the chunk ids chunking produces (none missing, none
twice, none pending), and the same ids in Chroma as visible chunks in the records (no orphan or missing vector).
A further run must change nothing.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

from eval.reliability.config import FaultConfig
from eval.reliability.report import Progress
from eval.reliability.stack import fresh_dir, kill9, run_cli, spawn_cli

DOMAIN = "drill"
TOPICS = ["returns", "shipping", "warranty", "payments", "invoices", "accounts", "gift cards", "repairs"]


def write_corpus(folder: Path, files: int, seed: int = 0) -> list[Path]:
    """`files - 1` Markdown articles of several sections and one CSV catalogue of 200 rows (one big document)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files - 1):
        topic = TOPICS[i % len(TOPICS)]
        sections = []
        for j in range(rng.randint(3, 7)):
            days = rng.randint(2, 60)
            sections.append(f"## {topic.title()} rule {i}.{j}\n\n" + " ".join(
                f"Customers asking about {topic} case {i}-{j}-{k} get an answer within {days + k} days; "
                f"reference code {rng.randint(10000, 99999)}." for k in range(rng.randint(2, 5))))
        path = folder / f"article_{i:03d}.md"
        path.write_text(f"# {topic.title()} handbook {i}\n\n" + "\n\n".join(sections) + "\n", encoding="utf-8")
        paths.append(path)
    rows = ["sku,name,price,warranty_years,description"]
    rows += [f"DR-{n:04d},Drill product {n},{rng.randint(5, 500)}.{rng.randint(0, 99):02d},{rng.randint(1, 5)},"
             f"A {TOPICS[n % len(TOPICS)]} accessory number {n} with a {rng.randint(1, 5)}-year warranty"
             for n in range(200)]
    catalogue = folder / "catalogue.csv"
    catalogue.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return [*paths, catalogue]


def expected_chunk_ids(corpus: Path) -> dict[str, list[str]]:
    """document id → chunk ids that one clean ingest of `corpus` stores (chunking only; nothing is written)."""
    from knowledge.ingest import expand, prepare
    from knowledge.settings import KnowledgeSettings
    from knowledge.store import _with_ids

    settings = KnowledgeSettings()
    out = {}
    for path in expand([corpus]):
        new = prepare(path, DOMAIN, settings, source_root=corpus)
        out[new.id] = [cid for cid, _, _ in _with_ids(new.id, new.chunks)]
    return out


def _db_counts(db: Path) -> dict:
    if not db.exists():
        return {"complete": 0, "incomplete": 0, "pending_chunks": 0}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        done = con.execute("SELECT complete, count(*) FROM kn_documents GROUP BY complete").fetchall()
        pending = con.execute("SELECT count(*) FROM kn_chunks WHERE pending = 1").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return {"complete": 0, "incomplete": 0, "pending_chunks": 0}
    finally:
        con.close()
    by = dict(done)
    return {"complete": by.get(1, 0), "incomplete": by.get(0, 0), "pending_chunks": pending}


def run(config: FaultConfig, progress: Progress) -> dict:
    work = fresh_dir(config.out_dir / "ingest-work")
    corpus, data = work / "corpus", work / "knowledge"
    files = write_corpus(corpus, config.ingest_files)
    expected = expected_chunk_ids(corpus)
    n_chunks = sum(len(v) for v in expected.values())
    progress.say(f"corpus: {len(files)} files, {n_chunks} chunks when stored once")
    args = ["-m", "knowledge.ingest", str(corpus), "--domain", DOMAIN, "--data-dir", str(data),
            "--source-root", str(corpus)]
    log = work / "ingest.log"
    db = data / "knowledge.db"
    kills = []
    for k in range(config.ingest_kills):
        target = max(1, round(len(files) * (k + 1) / (config.ingest_kills + 1)))  # documents stored before the kill
        proc = spawn_cli(args, log)
        started = time.monotonic()
        while proc.poll() is None and _db_counts(db)["complete"] < target and time.monotonic() - started < 600:
            time.sleep(0.05)
        time.sleep(random.Random(k).uniform(0, 0.5))  # land anywhere inside the next document
        if proc.poll() is not None:
            kills.append({"target": target, "killed": False, "exit_code": proc.returncode})
            progress.say(f"run {k + 1} finished (exit {proc.returncode}) before the kill")
            continue
        kill9(proc)
        state = _db_counts(db)
        kills.append({"target": target, "killed": True, "after_s": round(time.monotonic() - started, 1), **state})
        progress.say(f"run {k + 1} killed after {kills[-1]['after_s']} s: {state['complete']} documents complete, "
                     f"{state['incomplete']} in flight, {state['pending_chunks']} pending chunks")
    started = time.monotonic()
    final_rc = run_cli(args, log)
    final_s = round(time.monotonic() - started, 1)
    again_rc = run_cli(args, work / "again.log")
    again_line = (work / "again.log").read_text().strip().splitlines()[-1:]
    progress.say(f"re-run exit {final_rc} in {final_s} s; one more run: {again_line}")
    facts = verify(data, expected)
    checks = {
        "rerun_completes": final_rc == 0,
        "every_kill_landed": all(k["killed"] for k in kills),
        "documents_complete": facts["documents_complete"] == len(expected) and facts["documents_incomplete"] == 0,
        "no_chunk_lost_or_duplicated": facts["missing_chunks"] == 0 and facts["unexpected_chunks"] == 0
        and facts["duplicate_chunk_ids"] == 0 and facts["pending_chunks"] == 0,
        "vectors_match_chunks": facts["orphan_vectors"] == 0 and facts["missing_vectors"] == 0
        and facts["vectors"] == facts["visible_chunks"] == n_chunks,
        "one_version_and_one_add_per_document": facts["max_version"] == 1
        and facts["document_add_entries"] == len(expected),
        "further_run_changes_nothing": again_rc == 0 and bool(again_line)
        and again_line[0].startswith(f"added 0, updated 0, unchanged {len(expected)}"),
    }
    return {"drill": "ingest", "files": len(files), "expected_chunks": n_chunks, "kills": kills,
            "final_run_s": final_s, "further_run": again_line, **facts, "checks": checks,
            "passed": all(checks.values())}


def verify(data: Path, expected: dict[str, list[str]]) -> dict:
    from sqlalchemy import select

    from knowledge import records as R
    from knowledge.settings import KnowledgeSettings
    from knowledge.store import KnowledgeStore

    with KnowledgeStore(KnowledgeSettings(data_dir=data)) as store:
        docs = store.documents(DOMAIN, include_incomplete=True)
        with store.Session() as s:
            chunk_ids = list(s.scalars(select(R.Chunk.id).join(R.Document).where(R.Document.domain == DOMAIN)))
            pending = s.scalar(select(R.Chunk.id).where(R.Chunk.pending.is_(True)).limit(1))
            adds = Counter(s.scalars(select(R.AuditEntry.target).where(R.AuditEntry.action == "document.add")))
        visible = [c.id for c in store.visible_chunks(DOMAIN)]
        vectors = store.index.all_ids(DOMAIN)
    want = {cid for ids in expected.values() for cid in ids}
    return {
        "documents_complete": sum(1 for d in docs if d.complete),
        "documents_incomplete": sum(1 for d in docs if not d.complete),
        "max_version": max((d.version for d in docs), default=0),
        "document_add_entries": sum(adds.values()),
        "stored_chunks": len(chunk_ids),
        "duplicate_chunk_ids": len(chunk_ids) - len(set(chunk_ids)),
        "missing_chunks": len(want - set(chunk_ids)),
        "unexpected_chunks": len(set(chunk_ids) - want),
        "pending_chunks": int(pending is not None),
        "visible_chunks": len(visible),
        "vectors": len(vectors),
        "orphan_vectors": len(set(vectors) - set(visible)),
        "missing_vectors": len(set(visible) - set(vectors)),
    }
