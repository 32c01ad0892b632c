"""Shared by the chat app tests: one knowledge-enabled backend and one chat app (`python -m apps.chat`) for all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_testing import APP_ENV, ARTIFACTS

from apps.chat.process import ChatProcess, start_chat_app
from support import RunningBackend, start_backend, stop_backend


@pytest.fixture(scope="package")
def kb_backend(tmp_path_factory, tiny_llava) -> Iterator[RunningBackend]:
    """A real backend on the tiny LLaVA with the seed knowledge packs, so answers carry sources."""
    server = start_backend(tmp_path_factory.mktemp("chat-backend"), {
        "VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_KNOWLEDGE__ENABLED": "true"}, ready_timeout=600)
    yield server
    stop_backend(server)


@pytest.fixture(scope="package")
def chat_app(kb_backend, tmp_path_factory) -> Iterator[ChatProcess]:
    app = start_chat_app(kb_backend.url, tmp_path_factory.mktemp("chat-app"), env=APP_ENV)
    yield app
    app.stop()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
