"""`python -m finetune.data from-feedback` on feedback given through a real backend, end to end."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import httpx
import pytest

from support import ROOT, image_bytes, start_backend, stop_backend
from finetune.datasets import load_rows


@pytest.fixture(scope="module")
def backend_with_images(tmp_path_factory, tiny_llava):
    server = start_backend(tmp_path_factory.mktemp("feedback"), {
        "VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_DATABASE__STORE_IMAGES": "true"})
    yield server
    stop_backend(server)


def answer(server, question: str, image: bytes | None = None) -> str:
    content = [{"type": "text", "text": question}]
    if image is not None:
        uri = "data:image/png;base64," + base64.b64encode(image).decode()
        content.insert(0, {"type": "image_url", "image_url": {"url": uri}})
    resp = httpx.post(f"{server.url}/v1/chat/completions", headers=server.headers, timeout=120,
                      json={"messages": [{"role": "user", "content": content}], "max_tokens": 4})
    request_id = resp.json()["visiondesk"]["request_id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the turn is recorded just after the answer
        given = httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30,
                           json={"request_id": request_id, "comment": "probe"})
        if given.status_code == 201:
            return request_id
        time.sleep(0.1)
    raise AssertionError("turn was never recorded")


def rate(server, request_id: str, **fields) -> None:
    resp = httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30,
                      json={"request_id": request_id, **fields})
    assert resp.status_code == 201, resp.text


def test_feedback_becomes_a_training_set(backend_with_images, tmp_path):
    server = backend_with_images
    corrected = answer(server, "Is the box in this photo damaged?", image_bytes(color=(200, 10, 10)))
    rate(server, corrected, rating="down",
         corrected_answer="Yes, the corner is crushed [1]. Call us on 138 0013 8000 for a replacement.")
    duplicate = answer(server, "Is the box in this photo damaged?", image_bytes(color=(200, 10, 10)))
    rate(server, duplicate, rating="down",
         corrected_answer="Yes, the corner is crushed [1]. Call us on 138 0013 8000 for a replacement.")
    approved = answer(server, "What colour is this bag?", image_bytes(color=(10, 10, 200)))
    rate(server, approved, rating="up")
    rejected = answer(server, "When does my order arrive?")
    rate(server, rejected, rating="down", reasons=["wrong_facts"])

    out = tmp_path / "sft"
    run = subprocess.run([sys.executable, "-m", "finetune.data", "from-feedback", "--out", str(out),
                          "--database-url", f"sqlite:///{server.data_dir / 'visiondesk.db'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "wrote 2 rows" in run.stdout and "1 duplicates dropped" in run.stdout
    assert "thumbs-down without a correction" in run.stdout

    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    targets = [r["messages"][1]["content"][0]["text"] for r in records]
    assert any(t.startswith("Yes, the corner is crushed [1].") and "[PHONE]" in t and "138" not in t for t in targets)
    assert all(len(r["images"]) == 1 and (out / r["images"][0]).exists() for r in records)
    rows = load_rows(out / "train.jsonl")  # what finetune.sft reads
    assert len(rows) == 2 and not any(isinstance(r, Exception) for r in rows)


def test_without_stored_images_rows_with_images_are_skipped_with_the_reason(backend, tmp_path):
    request_id = answer(backend, "Which size is this shoe?", image_bytes(color=(1, 1, 1)))
    rate(backend, request_id, corrected_answer="It is size 42.")
    run = subprocess.run([sys.executable, "-m", "finetune.data", "from-feedback", "--out", str(tmp_path / "o"),
                          "--database-url", f"sqlite:///{backend.data_dir / 'visiondesk.db'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "image bytes not stored (database.store_images is off)" in run.stdout


def test_an_empty_database_url_is_refused_clearly(tmp_path):
    run = subprocess.run([sys.executable, "-m", "finetune.data", "from-feedback", "--out", str(tmp_path / "o"),
                          "--database-url", f"sqlite:///{tmp_path / 'nothing.db'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "holds no VisionDesk database" in run.stderr
