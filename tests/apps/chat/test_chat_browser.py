"""The chat app in a real browser (headless Debian Chromium via Playwright): log in, ask with an image, rate it,
switch language, and the explanation an agent gets when the backend goes away. Screenshots: test-artifacts/chat/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from chat_testing import AGENT, APP_ENV, LABEL
from playwright.sync_api import Browser, Page, expect, sync_playwright

from apps.chat.process import start_chat_app
from support import start_backend

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 120_000  # the first answer on 2 busy cores includes OCR and retrieval


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(AGENT[0])
    page.get_by_label("Password").fill(AGENT[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#vd-status")).to_contain_text("Ready", timeout=WAIT_MS)


def ask(page: Page, question: str, image=None) -> None:
    if image is not None:
        page.locator("#vd-input input[type=file]").set_input_files(str(image))
        expect(page.locator("#vd-input img").first).to_be_visible(timeout=WAIT_MS)  # the upload finished
    box = page.locator("#vd-input textarea")
    box.fill(question)
    box.press("Enter")


def test_agent_asks_with_an_image_sees_sources_and_rates_the_answer(page, chat_app, kb_backend, artifacts):
    log_in(page, chat_app.url)
    page.screenshot(path=artifacts / "01-logged-in.png", full_page=True)
    page.locator("#vd-domain input").click()
    page.get_by_role("option", name="E-commerce customer service").click()
    expect(page.locator("#vd-quick-0")).to_be_visible()  # the domain's quick actions

    ask(page, "Which product is on this label?", LABEL)
    expect(page.locator("#vd-status")).to_have_text("Answer complete.", timeout=WAIT_MS)
    expect(page.locator("#vd-sources")).to_contain_text("NW-KT-101")
    expect(page.locator("#vd-sources")).to_contain_text("[1]")
    expect(page.locator("#vd-ocr")).to_contain_text("NW-KT-101")
    chat = page.locator("#vd-chat")
    expect(chat).to_contain_text("Which product is on this label?")
    expect(chat.locator("img").first).to_be_visible()  # the customer's photo stays in the conversation
    page.screenshot(path=artifacts / "02-answer-with-sources.png", full_page=True)

    chat.get_by_role("button", name="Like", exact=True).last.click()  # thumbs up on the answer itself
    expect(page.locator("#vd-status")).to_contain_text("feedback is saved", timeout=WAIT_MS)

    correction = "Label NW-KT-101 is the Breeze Kettle (browser test)."
    page.get_by_label("Not helpful (thumbs down)").check()
    page.get_by_label("Misread the image").check()
    page.get_by_label("Corrected answer (optional)").fill(correction)
    page.get_by_label("Flag for review by an admin").check()
    page.get_by_role("button", name="Send feedback").click()
    expect(page.locator("#vd-status")).to_contain_text("feedback is saved", timeout=WAIT_MS)
    page.screenshot(path=artifacts / "03-feedback-saved.png", full_page=True)

    stored = httpx.get(f"{kb_backend.url}/v1/feedback", headers=kb_backend.admin_headers, timeout=30).json()
    [item] = [f for f in stored if f["corrected_answer"] == correction]
    assert item["rating"] == "down" and item["flagged"] is True and item["reasons"] == ["misread_image"]
    assert item["question"] == "Which product is on this label?"
    [thumb] = [f for f in stored if f["request_id"] == item["request_id"] and f["rating"] == "up"]
    assert thumb["corrected_answer"] is None and thumb["flagged"] is False

    # A new conversation clears the screen; the history brings the old one back.
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#vd-status")).to_have_text("Started a new conversation.")
    expect(chat).not_to_contain_text("Which product is on this label?")
    page.get_by_role("button", name="Conversation history").click()
    page.locator("#vd-history input").click()
    page.get_by_role("option", name=re.compile(r"^Which product is on this label\?")).first.click()
    page.get_by_role("button", name="Open conversation").click()
    expect(page.locator("#vd-status")).to_contain_text("Reopened", timeout=WAIT_MS)
    expect(chat).to_contain_text("Which product is on this label?")
    expect(page.locator("#vd-sources")).to_contain_text("NW-KT-101")

    page.get_by_label("简体中文").check()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    expect(page.get_by_role("button", name="提交反馈")).to_be_visible()
    expect(page.locator("#vd-status")).to_contain_text("准备就绪")
    page.screenshot(path=artifacts / "04-chinese.png", full_page=True)

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_label("用户名")).to_be_visible()


def test_backend_stopped_mid_session_is_explained(page, tmp_path_factory, tiny_llava, artifacts):
    tmp = tmp_path_factory.mktemp("chat-down")
    backend = start_backend(tmp, {"VISIONDESK_MODEL__PATH": str(tiny_llava)})
    app = start_chat_app(backend.url, tmp, env=APP_ENV)
    try:
        log_in(page, app.url)
        backend.stop()
        ask(page, "Can the customer return an opened kettle?")
        status = page.locator("#vd-status")
        expect(status).to_contain_text(f"can't reach the VisionDesk backend at {backend.url}", timeout=WAIT_MS)
        expect(status).to_contain_text("Nothing you typed is lost")
        expect(page.locator("#vd-input textarea")).to_have_value("Can the customer return an opened kettle?")
        page.screenshot(path=artifacts / "05-backend-down.png", full_page=True)
    finally:
        app.stop()
        backend.stop()
