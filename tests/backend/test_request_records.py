"""What the backend remembers: the request log, conversations and messages, and Prometheus metrics."""

from __future__ import annotations

import base64
import sqlite3
import time

import httpx
import pytest

from support import image_bytes, start_backend, stop_backend


def chat(server, text: str, *, image: bytes | None = None, stream: bool = False, **visiondesk) -> httpx.Response:
    content = [{"type": "text", "text": text}]
    if image is not None:
        uri = "data:image/png;base64," + base64.b64encode(image).decode()
        content.insert(0, {"type": "image_url", "image_url": {"url": uri}})
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 6, "stream": stream,
            "visiondesk": visiondesk}
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=server.headers, timeout=120)


def rows(server, sql: str, args=(), *, expect: int | None = None, wait: float = 10) -> list[tuple]:
    """Query the backend's SQLite file (WAL lets us read while it writes); rows are written just after answers."""
    deadline = time.monotonic() + wait
    while True:
        with sqlite3.connect(server.data_dir / "visiondesk.db") as conn:
            found = conn.execute(sql, args).fetchall()
        if expect is None or len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_each_answer_is_logged_with_user_model_tokens_and_latency(backend):
    resp = chat(backend, "What is in this photo?", image=image_bytes(), domain="ecommerce", variant="B")
    assert resp.status_code == 200
    request_id = resp.json()["visiondesk"]["request_id"]
    assert request_id == resp.json()["id"]
    [row] = rows(backend, "SELECT r.model, r.domain, r.variant, r.status, r.latency_ms, r.prompt_tokens, "
                          "r.completion_tokens, r.images, u.username FROM request_log r JOIN users u "
                          "ON u.id = r.user_id WHERE r.id = ?", (request_id,), expect=1)
    model, domain, variant, status, latency, prompt, completion, images, user = row
    assert (model, domain, variant, status, images, user) == ("tiny-llava", "ecommerce", "B", 200, 1, "agent")
    assert latency > 0 and prompt > 16 and 0 < completion <= 6


def test_refused_requests_are_logged_too(backend):
    resp = chat(backend, "   ")
    assert resp.status_code == 400
    logged = rows(backend, "SELECT status, error FROM request_log WHERE status = 400 AND error LIKE '%empty%'",
                  expect=1)
    assert logged


def test_streamed_answers_are_logged_with_time_to_first_token(backend):
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=120,
                      json={"messages": [{"role": "user", "content": "stream please"}], "max_tokens": 5,
                            "stream": True}) as resp:
        lines = [line for line in resp.iter_lines() if line.startswith("data:")]
    first = lines[0]
    request_id = first.split('"id":"')[1].split('"')[0]
    [(stream, ttft, latency)] = rows(backend, "SELECT stream, ttft_ms, latency_ms FROM request_log WHERE id = ?",
                                     (request_id,), expect=1)
    assert stream == 1 and 0 < ttft <= latency


def test_a_non_streamed_answer_nobody_waits_for_is_cancelled_and_logged_499(backend):
    body = {"messages": [{"role": "user", "content": "Where is my order?"}], "max_tokens": 2048,
            "temperature": 0, "visiondesk": {"conversation_id": "abandoned-non-streamed"}}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up long before 2048 tokens are decoded
        httpx.post(f"{backend.url}/v1/chat/completions", json=body, headers=backend.headers, timeout=1.0)
    [(status, error, completion)] = rows(
        backend, "SELECT status, error, completion_tokens FROM request_log WHERE conversation_id = ?",
        ("abandoned-non-streamed",), expect=1, wait=30)
    assert (status, error) == (499, "client disconnected")
    assert completion < 2048  # generation stopped; it did not run to max_tokens first


def test_conversations_continue_and_belong_to_their_agent(backend):
    first = chat(backend, "Where is my order 8812?").json()["visiondesk"]["conversation_id"]
    again = chat(backend, "And when will it arrive?", conversation_id=first).json()["visiondesk"]
    assert again["conversation_id"] == first
    messages = rows(backend, "SELECT role, content FROM messages WHERE conversation_id = ? ORDER BY id", (first,),
                    expect=4)
    assert [m[0] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2][1] == "And when will it arrive?"
    # Another agent cannot write into it.
    httpx.post(f"{backend.url}/v1/users", headers=backend.admin_headers, timeout=30,
               json={"username": "other-agent", "password": "other-password", "role": "agent"})
    token = httpx.post(f"{backend.url}/v1/auth/login", timeout=30,
                       json={"username": "other-agent", "password": "other-password"}).json()["token"]
    other = type("Other", (), {"url": backend.url, "headers": {"Authorization": f"Bearer {token}"}})
    resp = chat(other, "Let me in", conversation_id=first)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "conversation_not_found"


def test_image_bytes_are_not_stored_by_default(backend):
    chat(backend, "Look at this", image=image_bytes(color=(1, 2, 3)))
    hashes = rows(backend, "SELECT image_hashes FROM messages WHERE content = 'Look at this'", expect=1)
    assert hashes and len(hashes[0][0]) > 10
    assert rows(backend, "SELECT COUNT(*) FROM message_images")[0][0] == 0


@pytest.fixture(scope="module")
def keeps_images(tmp_path_factory, tiny_llava):
    server = start_backend(tmp_path_factory.mktemp("store-images"),
                           {"VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_DATABASE__STORE_IMAGES": "true"})
    yield server
    stop_backend(server)


def test_image_bytes_are_stored_when_configured(keeps_images):
    assert chat(keeps_images, "Keep this", image=image_bytes(color=(9, 9, 9))).status_code == 200
    [(size,)] = rows(keeps_images, "SELECT length(data) FROM message_images", expect=1)
    assert size > 50


def test_metrics_count_requests_tokens_latency_and_queue(backend):
    before = httpx.get(f"{backend.url}/metrics", timeout=30).text
    assert chat(backend, "count me").status_code == 200
    chat(backend, "   ")
    text = httpx.get(f"{backend.url}/metrics", timeout=30).text

    def value(body: str, name: str) -> float:
        found = [float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name)]
        return sum(found)

    assert value(text, 'visiondesk_requests_total{route="/v1/chat/completions",status="200"}') >= \
        value(before, 'visiondesk_requests_total{route="/v1/chat/completions",status="200"}') + 1
    assert value(text, 'visiondesk_errors_total{type="invalid_request"}') >= 1
    assert value(text, "visiondesk_generated_tokens_total") > value(before, "visiondesk_generated_tokens_total")
    assert value(text, "visiondesk_request_latency_seconds_count") > \
        value(before, "visiondesk_request_latency_seconds_count")
    assert value(text, "visiondesk_time_to_first_token_seconds_count") >= 1
    assert "visiondesk_queue_depth 0.0" in text
    assert "visiondesk_tokens_per_second_bucket" in text


def test_error_texts_in_the_request_log_are_redacted(backend):
    resp = httpx.post(f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=60,
                      json={"model": "jane.doe@example.com", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 404 and "jane.doe@example.com" in resp.json()["error"]["message"]  # the caller sees it
    logged = rows(backend, "SELECT error FROM request_log WHERE status = 404 AND error LIKE '%[EMAIL]%'", expect=1)
    assert logged and "jane.doe" not in logged[0][0]
