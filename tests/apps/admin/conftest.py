"""Shared by the admin console tests: one knowledge-enabled backend (no seed packs) for AppTest and browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from admin_helpers import knowledge_backend
from support import RunningBackend, stop_backend


@pytest.fixture(scope="package")
def admin_backend(tmp_path_factory, tiny_llava) -> Iterator[RunningBackend]:
    server = knowledge_backend(tmp_path_factory.mktemp("admin-backend"), tiny_llava)
    yield server
    stop_backend(server)
