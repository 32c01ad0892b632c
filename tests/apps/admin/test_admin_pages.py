"""Every admin console page through streamlit.testing's AppTest, against a real backend over HTTP."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from admin_helpers import admin_token, answer_with_feedback, document, upload
from support import ADMIN_PASSWORD, image_bytes

pytestmark = pytest.mark.slow

APP = Path(__file__).resolve().parents[3] / "apps" / "admin" / "app.py"
GIFT_WRAP = b"# Gift wrapping\n\nGift wrapping costs 4.50 for every order.\n"
LABEL = APP.parents[2] / "knowledge" / "seeds" / "ecommerce" / "images" / "label_nw-kt-101.png"
RETURNS = (b"# Returns\n\nReturn items within 30 days of delivery.\n\n# Refunds\n\nRefunds reach the card within "
           b"5 business days.\n\n# Exchanges\n\nExchanges are free for faulty items.\n")


def console(server, *, logged_in: bool = True) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["backend_url"] = server.url
    if logged_in:
        at.session_state["token"] = admin_token(server)
        at.session_state["username"] = "admin"
    return at.run()


def page(server, path: str) -> AppTest:
    at = console(server)
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "error", "warning", "info", "title", "subheader",
                                   "text", "code") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def login(server, username: str, password: str) -> AppTest:
    at = console(server, logged_in=False)
    by_label(at.text_input, "Username").input(username)
    by_label(at.text_input, "Password").input(password)
    by_label(at.button, "Log in").click()
    return at.run()


def test_admins_log_in_agents_and_wrong_passwords_are_refused(admin_backend):
    at = login(admin_backend, "admin", ADMIN_PASSWORD)
    assert not at.exception and at.session_state["token"] and at.session_state["username"] == "admin"
    assert "Overview" in [t.value for t in at.title]
    me = httpx.get(f"{admin_backend.url}/v1/auth/me", timeout=30,
                   headers={"Authorization": f"Bearer {at.session_state['token']}"})
    assert me.json()["role"] == "admin"

    agent = login(admin_backend, "agent", "agent-password")
    assert "token" not in agent.session_state
    assert any("for admins" in e.value and "agent" in e.value for e in agent.error)
    wrong = login(admin_backend, "admin", "not-the-password")
    assert "token" not in wrong.session_state and any("Login failed" in e.value for e in wrong.error)
    empty = login(admin_backend, "", "")
    assert any("Enter a username" in e.value for e in empty.error)


def test_an_expired_token_sends_the_admin_back_to_login(admin_backend):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["backend_url"] = admin_backend.url
    at.session_state["token"] = "vds_revoked"
    at.run()
    assert "token" not in at.session_state and any("log in again" in e.value for e in at.error)


def test_overview_shows_health_knowledge_and_activity(admin_backend):
    upload(admin_backend, "overview.md", b"# Opening hours\n\nThe shop is open 9 to 17.\n")
    at = page(admin_backend, "pages/overview.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Backend"] == "OK" and metrics["Model server"] == "OK" and metrics["Knowledge / Chroma"] == "OK"
    assert "Open feedback" in metrics
    table = at.dataframe[0].value
    assert "ecommerce" in table.index and table.loc["ecommerce", "active documents"] >= 1
    assert any("Recent changes" in s.value for s in at.subheader)


def test_upload_previews_then_commits(admin_backend):
    at = page(admin_backend, "pages/upload.py")
    at.file_uploader[0].upload("returns-apptest.md", RETURNS, "text/markdown").run()
    by_label(at.selectbox, "Chunking").select("heading").run()
    by_label(at.button, "Preview").click().run()
    assert not at.exception, at.exception
    assert any("returns-apptest.md" in e.label and "3 chunks" in e.label for e in at.expander)
    listed = httpx.get(f"{admin_backend.url}/v1/knowledge/ecommerce/documents", headers=admin_backend.admin_headers,
                       timeout=30).json()
    assert "returns-apptest.md" not in {d["source"] for d in listed}  # a preview stores nothing
    by_label(at.button, "Commit 1 file(s)").click().run()
    assert any("Committed: 1 added" in s.value for s in at.success)
    assert len(document(admin_backend, "returns-apptest.md")["chunks"]) == 3


def test_upload_shows_refused_files(admin_backend):
    at = page(admin_backend, "pages/upload.py")
    at.file_uploader[0].upload("tool.exe", b"MZ\x90\x00", "application/octet-stream").run()
    by_label(at.button, "Preview").click().run()
    assert any("tool.exe" in e.value for e in at.error)
    assert not [b for b in at.button if b.label.startswith("Commit") and not b.disabled]


def _knowledge(server, source: str) -> AppTest:
    doc = document(server, source)
    at = console(server)
    at.session_state["knowledge_doc"] = doc["id"]
    at.switch_page("pages/knowledge.py").run()
    assert not at.exception, at.exception
    return at


def test_documents_page_edits_a_chunk_and_rolls_back(admin_backend):
    upload(admin_backend, "returns-edit.md", RETURNS)
    doc = document(admin_backend, "returns-edit.md")
    first = doc["chunks"][0]
    at = _knowledge(admin_backend, "returns-edit.md")
    assert "30 days" in by_label(at.text_area, "Source text").value  # the source beside the chunks
    key = f"{first['id']}-{doc['version']}"
    at.text_area(key=f"text-{key}").input("# Returns\n\nReturn items within 60 days of delivery.")
    at.text_input(key=f"kw-{key}").input("returns, 60 days")
    at.button(key=f"save-{key}").click().run()
    assert not at.exception, at.exception
    assert any("Saved chunk #0" in s.value for s in at.success)
    edited = document(admin_backend, "returns-edit.md")
    assert "60 days" in edited["chunks"][0]["text"] and edited["chunks"][0]["keywords"] == ["returns", "60 days"]

    by_label(at.selectbox, "Roll back to version").select(1).run()
    by_label(at.button, "Roll back to version 1").click().run()
    assert any("Rolled back to version 1" in s.value for s in at.success)
    assert "30 days" in document(admin_backend, "returns-edit.md")["chunks"][0]["text"]
    diff = "\n".join(c.value for c in at.code)  # versions 2 → 3: the rollback undid the edit
    assert "-Return items within 60 days of delivery." in diff and "+Return items within 30 days of delivery." in diff


def test_documents_page_merges_splits_disables_and_keeps_metadata(admin_backend):
    upload(admin_backend, "returns-merge.md", RETURNS)
    doc = document(admin_backend, "returns-merge.md")
    a, b, _ = doc["chunks"]
    at = _knowledge(admin_backend, "returns-merge.md")
    by_label(at.multiselect, "Merge neighbouring chunks").select(a["id"]).select(b["id"]).run()
    by_label(at.button, "Merge selected").click().run()
    merged = document(admin_backend, "returns-merge.md")
    assert len(merged["chunks"]) == 2 and "Refunds" in merged["chunks"][0]["text"]

    key = f"{merged['chunks'][0]['id']}-{merged['version']}"
    at.number_input(key=f"at-{key}").set_value(merged["chunks"][0]["text"].index("# Refunds")).run()
    at.button(key=f"split-{key}").click().run()
    split = document(admin_backend, "returns-merge.md")
    assert [c["text"].split("\n")[0] for c in split["chunks"]] == ["# Returns", "# Refunds", "# Exchanges"]

    key = f"{split['chunks'][2]['id']}-{split['version']}"
    at.button(key=f"toggle-{key}").click().run()
    assert document(admin_backend, "returns-merge.md")["chunks"][2]["enabled"] is False

    by_label(at.text_input, "Tags (comma-separated)").input("policy, returns")
    by_label(at.text_area, "Metadata (JSON object)").input("[1, 2]")
    by_label(at.button, "Save metadata").click().run()
    assert any("Metadata is not valid" in e.value for e in at.error)
    by_label(at.text_area, "Metadata (JSON object)").input('{"owner": "returns team"}')
    by_label(at.button, "Save metadata").click().run()
    saved = document(admin_backend, "returns-merge.md")
    assert saved["tags"] == ["policy", "returns"] and saved["meta"] == {"owner": "returns team"}


def test_archive_and_delete_ask_for_confirmation(admin_backend):
    upload(admin_backend, "returns-delete.md", RETURNS)
    at = _knowledge(admin_backend, "returns-delete.md")
    by_label(at.button, "Archive").click().run()
    assert any("Archive" in w.value for w in at.warning)
    assert document(admin_backend, "returns-delete.md")["status"] == "active"  # not before the confirmation
    by_label(at.button, "Cancel").click().run()
    assert document(admin_backend, "returns-delete.md")["status"] == "active"
    by_label(at.button, "Archive").click().run()
    by_label(at.button, "Yes, do it").click().run()
    assert document(admin_backend, "returns-delete.md")["status"] == "archived"

    doc_id = document(admin_backend, "returns-delete.md")["id"]
    by_label(at.button, "Delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    by_label(at.button, "Yes, do it").click().run()
    gone = httpx.get(f"{admin_backend.url}/v1/knowledge/documents/{doc_id}", headers=admin_backend.admin_headers,
                     timeout=30)
    assert gone.status_code == 404 and any("deleted" in s.value for s in at.success)


def test_retrieval_test_page_shows_hits_and_keeps_a_history(admin_backend):
    upload(admin_backend, "gift-wrap.md", GIFT_WRAP)
    at = page(admin_backend, "pages/retrieval.py")
    by_label(at.button, "Search").click().run()
    assert any("Enter a question" in e.value for e in at.error)
    by_label(at.text_area, "Question").input("How much is gift wrapping?")
    by_label(at.checkbox, "Override the similarity threshold").check().run()
    by_label(at.number_input, "Threshold").set_value(0.0).run()
    by_label(at.button, "Search").click().run()
    assert not at.exception, at.exception
    assert any("gift-wrap.md" in m.value for m in at.markdown)
    by_label(at.text_area, "Question").input("Which product is this label for?")
    at.file_uploader[0].upload("label.png", LABEL.read_bytes(), "image/png").run()
    by_label(at.button, "Search").click().run()
    assert not at.exception, at.exception
    assert "NW-KT-101" in "\n".join(c.value for c in at.code).upper()  # the OCR text, shown as read
    history = at.dataframe[-1].value
    assert list(history["question"]) == ["Which product is this label for?", "How much is gift wrapping?"]
    assert list(history["image"]) == ["label.png", ""]


def test_feedback_page_reviews_resolves_and_exports(admin_backend):
    item = answer_with_feedback(admin_backend, "Is the kettle in stock?", image_bytes(), rating="down", flagged=True,
                                comment="it made up a price")
    at = page(admin_backend, "pages/feedback.py")
    by_label(at.selectbox, "Review item").select(item["id"]).run()
    assert "Is the kettle in stock?" in texts(at) and "it made up a price" in texts(at)
    assert at.image, "the customer's image is shown"
    at.text_area(key=f"sft-{item['id']}").input("The kettle is in stock.")
    at.button(key="sft").click().run()
    assert not at.exception, at.exception
    assert any("SFT example" in s.value for s in at.success)
    reviewed = httpx.get(f"{admin_backend.url}/v1/feedback", headers=admin_backend.admin_headers, timeout=30,
                         params={"status": "resolved"}).json()
    assert {f["request_id"] for f in reviewed} >= {item["request_id"]}
    assert any(f["corrected_answer"] == "The kettle is in stock." for f in reviewed)

    by_label(at.button, "Build export").click().run()
    data = at.session_state["sft_zip"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        rows = [line for line in zf.read("train.jsonl").decode().splitlines() if line.strip()]
    assert any("The kettle is in stock." in row for row in rows)
    assert at.download_button

    by_label(at.selectbox, "Feedback to use").select("any").run()
    by_label(at.button, "Build CSV").click().run()
    assert not at.exception, at.exception
    exported = at.session_state["feedback_csv"].decode("utf-8-sig")
    assert "it made up a price" in exported and "Is the kettle in stock?" in exported


def test_users_page_creates_resets_and_disables_with_confirmation(admin_backend):
    at = page(admin_backend, "pages/users.py")
    form_inputs = at.text_input
    by_label(form_inputs, "Username").input("erin")
    by_label(form_inputs, "Password (8+ characters)").input("short")
    by_label(at.button, "Create account").click().run()
    assert any("at least 8" in e.value for e in at.error)
    by_label(at.text_input, "Username").input("erin")
    by_label(at.text_input, "Password (8+ characters)").input("erin-password")
    by_label(at.button, "Create account").click().run()
    assert any("Created agent erin" in s.value for s in at.success)
    login = httpx.post(f"{admin_backend.url}/v1/auth/login", json={"username": "erin", "password": "erin-password"})
    assert login.status_code == 200

    by_label(at.selectbox, "Account").select("erin").run()
    by_label(at.text_input, "New password").input("erin-password-2")
    by_label(at.button, "Reset password").click().run()
    assert httpx.post(f"{admin_backend.url}/v1/auth/login",
                      json={"username": "erin", "password": "erin-password-2"}).status_code == 200
    by_label(at.button, "Disable account").click().run()
    assert any("Disable erin?" in w.value for w in at.warning)
    by_label(at.button, "Yes, do it").click().run()
    users = httpx.get(f"{admin_backend.url}/v1/users", headers=admin_backend.admin_headers).json()
    assert next(u for u in users if u["username"] == "erin")["disabled"] is True
    audit = httpx.get(f"{admin_backend.url}/v1/admin/audit", headers=admin_backend.admin_headers,
                      params={"target": "erin"}).json()
    assert [e["detail"].get("disabled") for e in audit][0] is True


def test_models_and_audit_pages(admin_backend):
    models = page(admin_backend, "pages/models.py")
    assert list(models.dataframe[0].value["kind"]) == ["base"]
    assert any("inside the backend" in i.value for i in models.info)
    upload(admin_backend, "audit.md", b"# Audit\n\nEvery change is logged.\n")
    audit = page(admin_backend, "pages/audit.py")
    frame = audit.dataframe[0].value
    assert "document.add" in set(frame["action"]) and "admin" in set(frame["actor"])
    by_label(audit.text_input, "Action starts with").input("document.").run()
    actions = set(audit.dataframe[0].value["action"])
    assert "document.add" in actions and all(a.startswith("document.") for a in actions)


def test_a_cited_source_opens_in_the_documents_page(admin_backend):
    upload(admin_backend, "gift-wrap.md", GIFT_WRAP)
    item = answer_with_feedback(admin_backend, "How much is gift wrapping?", rating="down", reasons=["wrong_facts"])
    at = page(admin_backend, "pages/feedback.py")
    by_label(at.selectbox, "Review item").select(item["id"]).run()
    assert any("gift-wrap.md" in m.value for m in at.markdown), "the answer's sources are listed"
    by_label(at.button, "Edit this document").click().run()
    assert not at.exception, at.exception
    assert "Knowledge documents" in [t.value for t in at.title]
    assert at.session_state["knowledge_doc"] == document(admin_backend, "gift-wrap.md")["id"]
    assert any(s.value == "Gift wrapping" for s in at.subheader)
