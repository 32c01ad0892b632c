"""The admin console in a real browser (headless Debian Chromium via Playwright) on `python -m apps.admin`:
upload → preview → commit → retrieval test; an edit followed by rollback; a feedback item exported as SFT data.
Screenshots: test-artifacts/admin/."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from admin_helpers import answer_with_feedback, document, start_console, upload
from finetune.datasets import load_rows
from support import ADMIN_PASSWORD, ROOT, image_bytes

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 120_000
ARTIFACTS = ROOT / "test-artifacts" / "admin"


@pytest.fixture(scope="module")
def console(admin_backend, tmp_path_factory):
    running = start_console(admin_backend.url, tmp_path_factory.mktemp("console"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, console) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(console.url)
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1", has_text="Overview")).to_be_visible()
    yield page
    context.close()


def go(page: Page, link: str, title: str) -> None:
    page.get_by_role("link", name=link, exact=True).click()
    expect(page.locator("h1", has_text=title)).to_be_visible()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def test_upload_preview_commit_then_retrieval_test(page, admin_backend):
    shot(page, "01-overview.png")
    go(page, "Upload", "Upload knowledge")
    page.locator("input[type=file]").set_input_files(files=[{
        "name": "gift-browser.md", "mimeType": "text/markdown",
        "buffer": b"# Gift wrapping\n\nGift wrapping costs 4.50 and the parcel carries no price tag.\n"}])
    expect(page.get_by_text("gift-browser.md").first).to_be_visible()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text(re.compile(r"gift-browser\.md → .*1 chunks"))).to_be_visible()
    expect(page.get_by_text("Gift wrapping costs 4.50 and the parcel carries no price tag.")).to_be_visible()
    shot(page, "02-upload-preview.png")
    assert "gift-browser.md" not in {d["source"] for d in httpx.get(
        f"{admin_backend.url}/v1/knowledge/ecommerce/documents", headers=admin_backend.admin_headers).json()}
    page.get_by_role("button", name="Commit 1 file(s)").click()
    expect(page.get_by_text("Committed: 1 added")).to_be_visible()
    shot(page, "03-upload-committed.png")

    go(page, "Retrieval test", "Retrieval test")
    page.get_by_label("Question").fill("How much does gift wrapping cost?")
    page.get_by_text("Override the similarity threshold").click()
    threshold = page.get_by_role("spinbutton", name="Threshold")
    threshold.fill("0")
    threshold.press("Enter")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text(re.compile(r"\[1\] Gift wrapping"))).to_be_visible()
    expect(page.get_by_text("History of tests")).to_be_visible()
    shot(page, "04-retrieval-test.png")


def test_edit_a_chunk_then_roll_back(page, admin_backend):
    upload(admin_backend, "returns-browser.md", b"# Returns\n\nReturn items within 30 days of delivery.\n\n"
                                                b"# Refunds\n\nRefunds take 5 business days.\n")
    go(page, "Documents", "Knowledge documents")
    search = page.get_by_label("Search title or source")
    search.fill("returns-browser")
    search.press("Enter")
    expect(page.get_by_text(re.compile(r"returns-browser\.md · active · version 1"))).to_be_visible()
    page.locator("summary").filter(has_text="#0").click()
    box = page.get_by_label("Text", exact=True).first
    box.fill("# Returns\n\nReturn items within 60 days of delivery.")
    box.press("Control+Enter")
    page.get_by_role("button", name="Save chunk").first.click()
    expect(page.get_by_text("Saved chunk #0.")).to_be_visible()
    assert "60 days" in document(admin_backend, "returns-browser.md")["chunks"][0]["text"]
    shot(page, "05-chunk-edited.png")

    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_text("+Return items within 60 days of delivery.")).to_be_visible()  # the diff
    shot(page, "06-version-diff.png")
    page.get_by_role("button", name="Roll back to version 1").click()
    expect(page.get_by_text("Rolled back to version 1 (now version 3).")).to_be_visible()
    shot(page, "07-rolled-back.png")
    assert "30 days" in document(admin_backend, "returns-browser.md")["chunks"][0]["text"]


def test_feedback_item_becomes_an_sft_example_in_the_export(page, admin_backend, tmp_path):
    item = answer_with_feedback(admin_backend, "Does the kettle have a warranty?", image_bytes((96, 64)),
                                rating="down", flagged=True, comment="no warranty given")
    go(page, "Feedback", "Feedback review")
    expect(page.get_by_text("Does the kettle have a warranty?").last).to_be_visible()
    expect(page.get_by_text("no warranty given").first).to_be_visible()
    expect(page.locator("img[src*='/media/']").first).to_be_visible()  # the customer's image
    shot(page, "08-feedback-item.png")
    target = "The Breeze Kettle has a two-year warranty."
    box = page.get_by_label("The answer the model should have given")
    box.fill(target)
    box.press("Control+Enter")
    page.get_by_role("button", name="Save as SFT example and resolve").click()
    expect(page.get_by_text(f"Item #{item['id']} is an SFT example now (resolved).")).to_be_visible()
    page.get_by_role("button", name="Build export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download feedback-sft.zip").click()
    shot(page, "09-sft-export.png")
    path = tmp_path / "feedback-sft.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "sft")
    rows = load_rows(tmp_path / "sft" / "train.jsonl")
    mine = [r for r in rows if r["completion"][0]["content"][0]["text"] == target]
    assert len(mine) == 1 and len(mine[0]["images"]) == 1 and Path(mine[0]["images"][0]).is_file()
