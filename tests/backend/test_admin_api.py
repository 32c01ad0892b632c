"""The admin API over HTTP on a real backend: curation (edit, keywords, merge, split, status, delete, versions and
rollback), retrieval tests with OCR, the audit log, overview/health/activity, feedback review, SFT export."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from finetune.datasets import load_rows
from support import image_bytes, start_backend, stop_backend

pytestmark = pytest.mark.slow

LABEL = Path(__file__).resolve().parents[2] / "knowledge" / "seeds" / "ecommerce" / "images" / "label_nw-kt-101.png"
POLICY = (b"# Gift wrapping\n\nGift wrapping costs 4.50 and is available for every order.\n\n"
          b"# Gift messages\n\nA gift message of up to 200 characters is printed on a card.\n\n"
          b"# Gift receipts\n\nGift receipts show no prices.\n")
KETTLE = b"# Breeze Kettle NW-KT-101\n\nThe Breeze Kettle NW-KT-101 holds 1.7 litres and has a two-year warranty.\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_llava):
    running = start_backend(tmp_path_factory.mktemp("admin-api"), {
        "VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_KNOWLEDGE__ENABLED": "true",
        "VISIONDESK_KNOWLEDGE__SEED_ON_START": "false", "VISIONDESK_DATABASE__STORE_IMAGES": "true"},
        ready_timeout=300)
    yield running
    stop_backend(running)


def call(server, method: str, path: str, *, agent: bool = False, **kwargs) -> httpx.Response:
    headers = server.headers if agent else server.admin_headers
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=120, **kwargs)


def upload(server, name: str, data: bytes, **form) -> dict:
    resp = call(server, "POST", "/v1/knowledge/ecommerce/files", files=[("files", (name, data))], data=form)
    assert resp.status_code == 200, resp.text
    return resp.json()


def document(server, source: str) -> dict:
    [listed] = [d for d in call(server, "GET", "/v1/knowledge/ecommerce/documents", params={"q": source}).json()
                if d["source"] == source]
    return call(server, "GET", f"/v1/knowledge/documents/{listed['id']}").json()


def error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


def test_new_admin_endpoints_refuse_agents(server):
    for method, path in [("GET", "/v1/knowledge/documents/x"), ("PATCH", "/v1/knowledge/chunks/x"),
                         ("POST", "/v1/knowledge/chunks/merge"), ("DELETE", "/v1/knowledge/documents/x"),
                         ("POST", "/v1/knowledge/retrieval-test"), ("GET", "/v1/admin/overview"),
                         ("GET", "/v1/admin/audit"), ("POST", "/v1/admin/sft-export"),
                         ("POST", "/v1/admin/adapters/load"), ("GET", "/v1/admin/images/x")]:
        assert call(server, method, path, agent=True, json={}).status_code == 403, (method, path)


def test_edit_keywords_then_roll_back_to_the_first_version(server):
    upload(server, "gifts.md", POLICY)
    doc = document(server, "gifts.md")
    assert [c["position"] for c in doc["chunks"]] == [0, 1, 2] and doc["version"] == 1
    first = doc["chunks"][0]
    edited = call(server, "PATCH", f"/v1/knowledge/chunks/{first['id']}",
                  json={"text": "# Gift wrapping\n\nGift wrapping costs 6.00 and is free over 100.",
                        "keywords": ["gift wrap", "price"]}).json()
    chunk = edited["chunks"][0]
    assert "6.00" in chunk["text"] and chunk["keywords"] == ["gift wrap", "price"] and chunk["edited"]
    hits = call(server, "POST", "/v1/knowledge/search", json={"domain": "ecommerce", "query": "gift wrapping cost",
                                                             "score_threshold": 0.0}).json()
    assert "6.00" in hits[0]["text"]

    versions = call(server, "GET", f"/v1/knowledge/documents/{doc['id']}/versions").json()
    assert [v["note"] for v in versions] == ["ingest", "chunk.edit"]
    assert "4.50" in versions[0]["snapshot"]["chunks"][0]["text"]
    restored = call(server, "POST", f"/v1/knowledge/documents/{doc['id']}/versions/1/restore").json()
    assert "4.50" in restored["chunks"][0]["text"] and restored["version"] == 3
    hits = call(server, "POST", "/v1/knowledge/search", json={"domain": "ecommerce", "query": "gift wrapping cost",
                                                             "score_threshold": 0.0}).json()
    assert "4.50" in hits[0]["text"]  # the index follows the rollback
    actions = [e["action"] for e in call(server, "GET", "/v1/admin/audit", params={"target": doc["id"]}).json()]
    assert actions[:3] == ["document.restore", "chunk.edit", "document.add"]


def test_merge_split_enable_and_the_errors_that_name_the_problem(server):
    upload(server, "gift-cards.md", POLICY.replace(b"Gift", b"Card"))
    doc = document(server, "gift-cards.md")
    a, b, c = (ch["id"] for ch in doc["chunks"])
    gap = error(call(server, "POST", "/v1/knowledge/chunks/merge", json={"chunk_ids": [a, c]}), 400)
    assert "neighbouring" in gap["message"]
    [merged] = call(server, "POST", "/v1/knowledge/chunks/merge", json={"chunk_ids": [b, a]}).json()["chunk_ids"]
    after = call(server, "GET", f"/v1/knowledge/documents/{doc['id']}").json()
    assert [ch["id"] for ch in after["chunks"]] == [merged, c]
    text = after["chunks"][0]["text"]
    at = text.index("# Card messages")
    bad = error(call(server, "POST", f"/v1/knowledge/chunks/{merged}/split", json={"at": len(text) + 10}), 400)
    assert "inside the text" in bad["message"]
    ids = call(server, "POST", f"/v1/knowledge/chunks/{merged}/split", json={"at": at}).json()["chunk_ids"]
    after = call(server, "GET", f"/v1/knowledge/documents/{doc['id']}").json()
    assert [ch["id"] for ch in after["chunks"]] == [*ids, c]
    assert after["chunks"][1]["text"].startswith("# Card messages")

    off = call(server, "PATCH", f"/v1/knowledge/chunks/{c}", json={"enabled": False}).json()
    assert off["chunks"][-1]["enabled"] is False
    hits = call(server, "POST", "/v1/knowledge/search", json={"domain": "ecommerce", "query": "Card receipts prices",
                                                             "score_threshold": 0.0, "top_k": 50}).json()
    assert c not in {h["chunk_id"] for h in hits}

    assert error(call(server, "PATCH", f"/v1/knowledge/chunks/{c}", json={}), 400)["code"] == "empty_change"
    assert error(call(server, "GET", "/v1/knowledge/documents/nope"), 404)["code"] == "not_found"
    unknown = error(call(server, "PATCH", "/v1/knowledge/chunks/nope", json={"enabled": True}), 404)
    assert unknown["code"] == "not_found"
    missing = error(call(server, "POST", f"/v1/knowledge/documents/{doc['id']}/versions/99/restore"), 404)
    assert "no version 99" in missing["message"]
    assert error(call(server, "PATCH", f"/v1/knowledge/documents/{doc['id']}", json={"status": "gone"}), 400)


def test_status_tags_archive_and_delete(server):
    upload(server, "returns-old.md", b"# Old returns\n\nReturns were accepted within 14 days in 2019.\n")
    doc = document(server, "returns-old.md")
    change = {"tags": ["legacy", "returns"], "meta": {"owner": "returns team"}, "title": "Old returns"}
    tagged = call(server, "PATCH", f"/v1/knowledge/documents/{doc['id']}", json=change).json()
    assert tagged["tags"] == ["legacy", "returns"] and tagged["meta"] == {"owner": "returns team"}
    listed = call(server, "GET", "/v1/knowledge/ecommerce/documents", params={"tag": "legacy"}).json()
    assert [d["id"] for d in listed] == [doc["id"]]
    query = {"domain": "ecommerce", "query": "returns accepted within 14 days 2019", "score_threshold": 0.0}
    assert doc["id"] in {h["document_id"] for h in call(server, "POST", "/v1/knowledge/search", json=query).json()}
    call(server, "PATCH", f"/v1/knowledge/documents/{doc['id']}", json={"status": "archived"})
    assert doc["id"] not in {h["document_id"] for h in call(server, "POST", "/v1/knowledge/search", json=query).json()}
    archived = call(server, "GET", "/v1/knowledge/ecommerce/documents", params={"status": "archived"}).json()
    assert [d["id"] for d in archived] == [doc["id"]]
    assert call(server, "DELETE", f"/v1/knowledge/documents/{doc['id']}").status_code == 204
    assert call(server, "GET", f"/v1/knowledge/documents/{doc['id']}").status_code == 404
    assert call(server, "DELETE", f"/v1/knowledge/documents/{doc['id']}").status_code == 404
    actions = [e["action"] for e in call(server, "GET", "/v1/admin/audit", params={"target": doc["id"]}).json()]
    assert actions[:3] == ["document.delete", "document.archived", "document.edit"]


def test_retrieval_test_reads_the_image_like_chat_does(server):
    upload(server, "kettle.md", KETTLE)
    uri = "data:image/png;base64," + base64.b64encode(LABEL.read_bytes()).decode()
    result = call(server, "POST", "/v1/knowledge/retrieval-test", json={
        "domain": "ecommerce", "query": "What product is this?", "image": uri, "score_threshold": 0.0}).json()
    assert "NW-KT-101" in result["ocr_text"].upper()
    assert result["query"].startswith("What product is this?\n") and result["top_k"] == 5
    assert result["hits"][0]["source"] == "kettle.md"
    profile = call(server, "POST", "/v1/knowledge/retrieval-test",
                   json={"domain": "ecommerce", "query": "kettle warranty"}).json()
    assert profile["score_threshold"] == 0.8  # the ecommerce profile's own setting, as chat uses it
    bad = error(call(server, "POST", "/v1/knowledge/retrieval-test",
                     json={"domain": "ecommerce", "query": "x", "image": "https://example.com/a.png"}), 400)
    assert "data: URI" in bad["message"]
    junk = "data:image/png;base64," + base64.b64encode(b"not a png").decode()
    broken = error(call(server, "POST", "/v1/knowledge/retrieval-test",
                        json={"domain": "ecommerce", "query": "x", "image": junk}), 400)
    assert broken["param"] == "image" and broken["message"].startswith("image: ")
    assert error(call(server, "POST", "/v1/knowledge/retrieval-test",
                      json={"domain": "astrology", "query": "x"}), 404)["code"] == "unknown_domain"


def test_account_changes_land_in_the_audit_log_without_secrets(server):
    assert call(server, "POST", "/v1/users", json={"username": "dana", "password": "dana-password-1",
                                                   "role": "agent"}).status_code == 201
    assert call(server, "PATCH", "/v1/users/dana", json={"password": "dana-password-2"}).status_code == 200
    assert call(server, "PATCH", "/v1/users/dana", json={"disabled": True}).status_code == 200
    refused = call(server, "POST", "/v1/users", json={"username": "dana", "password": "whatever-123"})
    assert refused.status_code >= 400
    entries = call(server, "GET", "/v1/admin/audit", params={"target": "dana"}).json()
    assert [e["action"] for e in entries] == ["PATCH /v1/users/{username}"] * 2
    assert entries[0]["detail"]["disabled"] is True and entries[1]["detail"]["password"] == "(changed)"
    created = call(server, "GET", "/v1/admin/audit", params={"action": "POST /v1/users"}).json()
    # the test fixture created `agent` the same way; the refused duplicate is not an action
    assert [(e["actor"], e["detail"]["username"], e["detail"]["role"]) for e in created] == [
        ("admin", "dana", "agent"), ("admin", "agent", "agent")]
    assert "dana-password" not in json.dumps(call(server, "GET", "/v1/admin/audit").json())


def _answer(server, question: str, image: bytes | None = None) -> str:
    content = [{"type": "text", "text": question}]
    if image:
        content.insert(0, {"type": "image_url", "image_url": {"url": "data:image/png;base64," +
                                                              base64.b64encode(image).decode()}})
    resp = httpx.post(f"{server.url}/v1/chat/completions", headers=server.headers, timeout=300, json={
        "messages": [{"role": "user", "content": content}], "max_tokens": 4, "visiondesk": {"domain": "ecommerce"}})
    assert resp.status_code == 200, resp.text
    return resp.json()["visiondesk"]["request_id"]


def _feedback(server, request_id: str, **body) -> dict:
    deadline = time.monotonic() + 30  # the turn is recorded in the background
    while True:
        resp = httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30,
                          json={"request_id": request_id, **body})
        if resp.status_code == 201 or time.monotonic() > deadline:
            assert resp.status_code == 201, resp.text
            return resp.json()
        time.sleep(0.2)


def test_feedback_review_and_sft_export(server):
    request_id = _answer(server, "How much is gift wrapping?", image_bytes())
    item = _feedback(server, request_id, rating="down", flagged=True, reasons=["wrong_facts"])
    detail = call(server, "GET", f"/v1/admin/feedback/{item['id']}").json()
    assert detail["question"] == "How much is gift wrapping?" and detail["flagged"] and detail["images_stored"]
    [sha] = detail["image_hashes"]
    png = call(server, "GET", f"/v1/admin/images/{sha}")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert error(call(server, "GET", "/v1/admin/images/nope"), 404)["code"] == "not_found"

    nothing = error(call(server, "POST", "/v1/admin/sft-export", json={"status": "resolved"}), 400)
    assert nothing["code"] == "empty_export" and "no SFT rows" in nothing["message"]
    correction = "Gift wrapping costs 4.50 [1]."
    fixed = call(server, "POST", "/v1/feedback", json={"request_id": request_id, "corrected_answer": correction})
    assert fixed.status_code == 201, fixed.text
    for feedback_id in (fixed.json()["id"], item["id"]):
        assert call(server, "PATCH", f"/v1/feedback/{feedback_id}", json={"status": "resolved"}).status_code == 200
    export = call(server, "POST", "/v1/admin/sft-export", json={"status": "resolved"})
    assert export.headers["content-type"] == "application/zip", export.text
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        names = zf.namelist()
        assert "train.jsonl" in names and any(n.startswith("images/") for n in names)
        out = Path(server.data_dir) / "sft-export"
        zf.extractall(out)
    rows = load_rows(out / "train.jsonl")
    assert [r["completion"][0]["content"][0]["text"] for r in rows] == [correction]
    assert len(rows[0]["images"]) == 1 and Path(rows[0]["images"][0]).is_file()
    resolved = [e for e in call(server, "GET", "/v1/admin/audit", params={"action": "PATCH /v1/feedback"}).json()]
    assert resolved and resolved[0]["target"] == str(item["id"]) and resolved[0]["detail"]["status"] == "resolved"


def test_overview_health_and_activity(server):
    request_id = _answer(server, "Where is my order?")
    _feedback(server, request_id, rating="up")
    overview = call(server, "GET", "/v1/admin/overview").json()
    shop = next(d for d in overview["domains"] if d["domain"] == "ecommerce")
    assert shop["documents"]["active"] >= 1 and shop["chunks"] == shop["vectors"] > 0
    assert overview["users"]["admin"] == 1 and overview["recent_changes"]
    health = {c["name"]: c for c in call(server, "GET", "/v1/admin/health").json()}
    assert health["backend"]["ok"] and health["model_server"]["ok"] and health["knowledge"]["ok"]
    assert "vectors" in health["knowledge"]["detail"]
    today = call(server, "GET", "/v1/admin/activity", params={"days": 3}).json()
    assert len(today) == 3 and today[-1]["answers"] >= 1 and today[-1]["feedback"] >= 1
    assert today[-1]["feedback_rate"] == round(today[-1]["feedback"] / today[-1]["answers"], 4)
    assert error(call(server, "GET", "/v1/admin/activity", params={"days": 0}), 400)


def test_adapters_need_a_model_server(server):
    served = call(server, "GET", "/v1/admin/model-server").json()
    assert served["engine"] == "transformers" and served["served"]
    refused = error(call(server, "POST", "/v1/admin/adapters/load", json={"name": "shop", "path": "/tmp/a"}), 400)
    assert refused["code"] == "no_model_server" and "vLLM" in refused["message"]
    assert error(call(server, "POST", "/v1/admin/adapters/load", json={"name": "../x", "path": "/tmp/a"}), 400)
