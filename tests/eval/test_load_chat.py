"""The chat load script runs against a real chat app and backend (3 sessions for 10 s; the real run is 20 × 60 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from apps.chat.process import start_chat_app
from support import ROOT, start_backend, stop_backend

pytestmark = pytest.mark.slow

LOAD = [sys.executable, "-m", "eval.load_chat"]


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_llava):
    tmp = tmp_path_factory.mktemp("load-chat")
    backend = start_backend(tmp, {"VISIONDESK_MODEL__PATH": str(tiny_llava)})
    chat = start_chat_app(backend.url, tmp, env={"VISIONDESK_APPS__CHAT_MAX_TOKENS": "4"})
    yield chat
    chat.stop()
    stop_backend(backend)


def test_help_has_an_example():
    out = subprocess.run([*LOAD, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--sessions 20 --duration 60" in out.stdout


def test_three_sessions_for_ten_seconds_report_answers_and_latency(app, tmp_path):
    report_path = tmp_path / "load.json"
    run = subprocess.run([*LOAD, "--app-url", app.url, "--username", "agent", "--password", "agent-password",
                          "--sessions", "3", "--duration", "10", "--out", str(report_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(report_path.read_text())
    assert report["errors"] == 0 and report["sessions_answered"] == 3
    assert report["answers"] >= 3 and len(report["turns"]) == report["answers"]
    assert 0 < report["latency_s"]["p50"] <= report["latency_s"]["max"]
    assert json.loads(run.stdout)["answers"] == report["answers"]


def test_failures_are_reported_not_hidden(app):
    run = subprocess.run([*LOAD, "--app-url", app.url, "--username", "agent", "--password", "wrong-password",
                          "--sessions", "2", "--duration", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["errors"] == 2 and report["answers"] == 0
    assert any("login failed" in message and "don't match" in message for message in report["errors_by_message"])
    bad = subprocess.run([*LOAD, "--app-url", app.url, "--username", "a", "--password", "b", "--sessions", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--sessions must be at least 1" in bad.stderr
