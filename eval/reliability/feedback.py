"""Fault drill: concurrent feedback writes while chat streams load the same backend (and its SQLite database).

Writers post ratings (each with a unique comment) for answers as fast as they are acknowledged, while chat
streams keep the request log busy. Passes when no write fails with 5xx or a broken connection, and the feedback
table afterwards holds exactly the acknowledged rows (201): same count, same ids, same comments, nothing twice.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter

import httpx

from eval.reliability.config import FaultConfig
from eval.reliability.load import check_results, run_streams
from eval.reliability.report import Progress
from eval.reliability.stack import Backend, fresh_dir, start_agent_backend, tiny_model


def run(config: FaultConfig, progress: Progress) -> dict:
    work = fresh_dir(config.out_dir / "feedback-work")
    backend = start_agent_backend(work, {"VISIONDESK_MODEL__PATH": str(tiny_model(config.models_dir))})
    try:
        return _drill(backend, config, progress)
    finally:
        backend.stop()


def _drill(backend: Backend, config: FaultConfig, progress: Progress) -> dict:
    answered: list[str] = []
    for n in range(4):  # answers to rate from the first second on
        resp = httpx.post(f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=120,
                          json={"messages": [{"role": "user", "content": f"Question {n}?"}], "max_tokens": 4})
        answered.append(resp.json()["visiondesk"]["request_id"])
    time.sleep(1)

    def on_chat(result) -> None:
        if result.completed and result.request_id:
            answered.append(result.request_id)

    chat_results: list = []
    chat = threading.Thread(target=lambda: chat_results.extend(run_streams(
        backend.url, backend.headers, streams=config.feedback_chat_streams, duration_s=config.feedback_duration_s,
        max_tokens=16, image=None, on_result=on_chat)), daemon=True)
    deadline = time.monotonic() + config.feedback_duration_s
    posts: list[dict] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        rng = random.Random(w)
        n = 0
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < deadline:
                comment = f"drill-{w}-{n}"
                n += 1
                body = {"request_id": rng.choice(answered), "rating": rng.choice(["up", "down"]), "comment": comment}
                try:
                    resp = client.post(f"{backend.url}/v1/feedback", headers=backend.headers, json=body)
                    item = {"comment": comment, "status": resp.status_code,
                            "id": resp.json().get("id") if resp.status_code == 201 else None}
                except httpx.HTTPError as exc:
                    item = {"comment": comment, "status": 0, "id": None, "error": f"{type(exc).__name__}: {exc}"}
                with lock:
                    posts.append(item)

    progress.say(f"{config.feedback_writers} feedback writers and {config.feedback_chat_streams} chat streams for "
                 f"{config.feedback_duration_s:.0f} s")
    chat.start()
    writers = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(config.feedback_writers)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    chat.join()
    time.sleep(1)

    con = sqlite3.connect(f"file:{backend.database}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT id, comment FROM feedback WHERE comment LIKE 'drill-%'").fetchall()
    finally:
        con.close()
    acked = {p["comment"]: p["id"] for p in posts if p["status"] == 201}
    stored = Counter(comment for _, comment in rows)
    statuses = Counter(p["status"] for p in posts)
    chat_facts = check_results(chat_results)
    facts = {
        "posts": len(posts), "post_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "acknowledged": len(acked), "rows_written": len(rows),
        "rows_not_acknowledged": len(set(stored) - set(acked)),
        "acknowledged_not_written": len(set(acked) - set(stored)),
        "rows_twice": sum(1 for c in stored.values() if c > 1),
        "ids_match": sorted(acked.values()) == sorted(i for i, _ in rows),
        "writes_per_s": round(len(acked) / config.feedback_duration_s, 1),
        "chat": {k: chat_facts[k] for k in ("requests", "status_counts", "accepted_completed", "unexpected_status")},
    }
    progress.say(f"{facts['acknowledged']} acknowledged, {facts['rows_written']} rows written, statuses "
                 f"{facts['post_statuses']}; chat {chat_facts['status_counts']}")
    checks = {
        "no_failed_writes": not any(s >= 500 or s == 0 for s in statuses),
        "rows_equal_acknowledged": facts["rows_written"] == facts["acknowledged"] > 0 and facts["ids_match"]
        and facts["rows_not_acknowledged"] == 0 and facts["acknowledged_not_written"] == 0 and facts["rows_twice"] == 0,
        "chat_unaffected": chat_facts["unexpected_status"] == 0 and chat_facts["accepted_incomplete"] == 0
        and chat_facts["accepted_completed"] > 0,
        "backend_alive": backend.alive() and backend.healthy(),
    }
    return {"drill": "feedback", **facts, "checks": checks, "passed": all(checks.values())}
