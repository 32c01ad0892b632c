"""Start `python -m apps.chat` as a child process and wait until it serves (tests, the load script)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend.process import ROOT, BackendProcess, free_port, wait_serving


class ChatProcess(BackendProcess):
    """The chat app's child process: the same handle (url, process, log, stop) as the backend's."""


def start_chat_app(backend_url: str, log_dir: Path, *, env: dict[str, str] | None = None, port: int | None = None,
                   timeout: float = 120) -> ChatProcess:
    """Run the chat app against `backend_url`; `env` adds VISIONDESK_APPS__CHAT_* settings and the like."""
    port = port or free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    log_path = Path(log_dir) / f"chat-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "apps.chat", "--backend-url", backend_url, "--port", str(port)],
        cwd=ROOT, env={**base, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
        stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )
    app = ChatProcess(f"http://127.0.0.1:{port}", process, log_path)
    return wait_serving("chat app", f"{app.url}/gradio_api/info", app, timeout)
