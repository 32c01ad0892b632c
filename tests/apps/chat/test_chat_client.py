"""The chat app driven over its Gradio API (gradio_client) against a real backend with the seed knowledge."""

from __future__ import annotations

import httpx
import pytest
from chat_testing import AGENT, LABEL
from gradio_client import Client, handle_file

from support import png_header_only

pytestmark = pytest.mark.slow

CHAT = ("chatbot", "input", "sources", "ocr", "notes", "status")


def connect(app, username=AGENT[0], password=AGENT[1]) -> Client:
    client = Client(app.url, verbose=False, download_files=False, analytics_enabled=False)
    status = client.predict(username, password, api_name="/login")[0]
    assert "Ready" in status, status
    return client


def _skipped(value) -> bool:
    return value is None or (isinstance(value, dict) and value.get("__type__") == "update" and "value" not in value)


def ask(client: Client, text: str, files=()) -> tuple[dict, list[dict]]:
    """Send a question; return the merged final outputs and every streamed update, by name."""
    return streamed(client.submit({"text": text, "files": [handle_file(str(f)) for f in files]}, [],
                                  api_name="/chat"))


def streamed(job) -> tuple[dict, list[dict]]:
    job.result()
    updates, merged = [], {}
    for output in job.outputs():
        named = dict(zip(CHAT, output))
        updates.append(named)
        merged.update({k: v for k, v in named.items() if not _skipped(v)})
    return merged, updates


def text_of(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def files_of(message: dict) -> list:
    content = message["content"]
    return [] if isinstance(content, str) else [b for b in content if isinstance(b, dict) and b.get("type") == "file"]


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def conversations(backend, token_headers) -> list[dict]:
    return httpx.get(f"{backend.url}/v1/conversations", headers=token_headers, timeout=30).json()


def agent_headers(backend) -> dict:
    login = httpx.post(f"{backend.url}/v1/auth/login", json={"username": AGENT[0], "password": AGENT[1]},
                       timeout=30)
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_wrong_password_is_explained_not_dumped(chat_app):
    client = Client(chat_app.url, verbose=False, download_files=False, analytics_enabled=False)
    status = client.predict("agent", "not-the-password", api_name="/login")[0]
    assert "don't match an active account" in status
    status = client.predict("", "", api_name="/login")[0]
    assert status == "Enter your username and password."


def test_chat_with_an_image_streams_the_answer_with_sources_and_ocr(chat_app):
    client = connect(chat_app)
    client.predict("ecommerce", api_name="/set_domain")
    final, updates = ask(client, "What product is this label for?", [LABEL])
    assert final["status"] == "Answer complete.", final["status"]
    user, answer = final["chatbot"][-2:]
    assert user["role"] == "user" and "What product is this label for?" in text_of(user) and files_of(user)
    assert answer["role"] == "assistant" and text_of(answer)
    # Streaming: the answer grew over several updates, each a prefix of the next.
    partial = [text_of(u["chatbot"][-1]) for u in updates if not _skipped(u["chatbot"])]
    partial = [p for p in partial if p]
    assert len(partial) >= 2, partial
    assert all(b.startswith(a) for a, b in zip(partial, partial[1:]))
    assert partial[-1] == text_of(answer)
    assert "NW-KT-101" in plain(final["ocr"]).upper()
    assert "[1]" in final["sources"] and "NW-KT-101" in plain(final["sources"])
    assert "score" in final["sources"]


def test_switching_the_domain_switches_the_sources(chat_app):
    client = connect(chat_app)
    client.predict("ecommerce", api_name="/set_domain")
    shop, _ = ask(client, "How much does the Breeze Kettle cost and what is its warranty?")
    client.predict(api_name="/clear")
    client.predict("medical", api_name="/set_domain")
    clinic, _ = ask(client, "What is the normal range for haemoglobin?")
    assert "products.csv" in plain(shop["sources"])
    assert "lab_tests" in plain(clinic["sources"]) and "products.csv" not in plain(clinic["sources"])


def test_feedback_is_stored_in_the_backend(chat_app, kb_backend):
    client = connect(chat_app)
    client.predict("ecommerce", api_name="/set_domain")
    ask(client, "Is the Breeze Kettle in stock?")
    correction = "The Breeze Kettle (NW-KT-101) is in stock; see the product sheet."
    status = client.predict("down", ["wrong_facts", "missing_source"], correction, True, api_name="/feedback")[0]
    assert "feedback is saved" in status, status
    queue = httpx.get(f"{kb_backend.url}/v1/feedback", params={"flagged": "true"}, headers=kb_backend.admin_headers,
                      timeout=30).json()
    mine = [f for f in queue if f["corrected_answer"] == correction]
    assert len(mine) == 1
    assert mine[0]["rating"] == "down" and mine[0]["reasons"] == ["wrong_facts", "missing_source"]
    assert mine[0]["question"] == "Is the Breeze Kettle in stock?" and mine[0]["status"] == "open"
    # Nothing chosen: the app says what is missing instead of sending an empty rating.
    assert "Choose a rating" in client.predict(None, [], "", False, api_name="/feedback")[0]


def test_history_lists_reopens_and_continues_a_conversation(chat_app, kb_backend):
    client = connect(chat_app)
    client.predict("ecommerce", api_name="/set_domain")
    ask(client, "What is the return window for kettles?")
    ask(client, "And for blenders?")
    headers = agent_headers(kb_backend)
    [conversation] = [c for c in conversations(kb_backend, headers) if c["title"].startswith("What is the return")]
    detail = httpx.get(f"{kb_backend.url}/v1/conversations/{conversation['id']}", headers=headers, timeout=30).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] * 2, "follow-ups continue one conversation"

    fresh = connect(chat_app)  # a new browser session: reopen from the history and continue
    opened = fresh.predict(conversation["id"], api_name="/open_conversation")
    chatbot, status = opened[0], opened[5]
    assert "Reopened" in status and [text_of(m) for m in chatbot][::2] == [
        "What is the return window for kettles?", "And for blenders?"]
    ask(fresh, "And for toasters?")
    detail = httpx.get(f"{kb_backend.url}/v1/conversations/{conversation['id']}", headers=headers, timeout=30).json()
    assert [m["content"] for m in detail["messages"] if m["role"] == "user"][-1] == "And for toasters?"
    assert len(detail["messages"]) == 6


def test_regenerate_replaces_the_last_answer(chat_app, kb_backend):
    client = connect(chat_app)
    first, _ = ask(client, "What does the Breeze Kettle cost?")
    again, _ = streamed(client.submit(first["chatbot"], api_name="/regenerate"))
    assert again["status"] == "Answer complete."
    assert len(again["chatbot"]) == len(first["chatbot"]) == 2
    assert text_of(again["chatbot"][0]) == "What does the Breeze Kettle cost?"


def test_an_image_over_the_pixel_limit_is_explained(chat_app, tmp_path):
    client = connect(chat_app)
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(png_header_only(10_000, 10_000))
    final, _ = ask(client, "What is in this picture?", [bomb])
    assert final["status"].startswith("⚠️ The backend did not accept the image: it has too many pixels")
    assert "max_image_pixels" in final["status"]
    assert final["chatbot"] == [], "the refused turn leaves the conversation"
    assert final["input"]["text"] == "What is in this picture?", "the question goes back into the box"


def test_asking_without_a_question_or_login_is_explained(chat_app):
    anonymous = Client(chat_app.url, verbose=False, download_files=False, analytics_enabled=False)
    final, _ = ask(anonymous, "hello")
    assert final["status"] == "Please log in first."
    client = connect(chat_app)
    final, _ = ask(client, "   ", [LABEL])
    assert "Type a question" in final["status"]


def test_the_interface_speaks_chinese(chat_app):
    client = connect(chat_app)
    outputs = client.predict("zh", api_name="/set_language")
    assert "准备就绪" in outputs[-1]
    final, _ = ask(client, "   ")
    assert final["status"].startswith("⚠️ 请输入问题")


def test_a_quick_action_asks_the_domains_prompt_with_the_attached_image(chat_app, kb_backend):
    client = connect(chat_app)
    client.predict("ecommerce", api_name="/set_domain")
    final, _ = streamed(client.submit({"text": "", "files": [handle_file(str(LABEL))]}, [],
                                      api_name="/quick_action_0"))
    domains = httpx.get(f"{kb_backend.url}/v1/domains", headers=kb_backend.headers, timeout=30).json()
    [shop] = [d for d in domains if d["domain"] == "ecommerce"]
    user = final["chatbot"][-2]
    assert text_of(user) == shop["quick_actions"][0]["prompt"] and files_of(user)
    assert final["status"] == "Answer complete."
