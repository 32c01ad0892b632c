"""Helpers for the admin console tests: a backend with knowledge on (no seed packs: tests add what they need),
knowledge and feedback set up over HTTP."""

from __future__ import annotations

import base64
import time

import httpx

from support import start_backend

KNOWLEDGE_ENV = {"VISIONDESK_KNOWLEDGE__ENABLED": "true", "VISIONDESK_KNOWLEDGE__SEED_ON_START": "false",
                 "VISIONDESK_DATABASE__STORE_IMAGES": "true"}


def knowledge_backend(tmp, tiny_llava):
    return start_backend(tmp, {"VISIONDESK_MODEL__PATH": str(tiny_llava), **KNOWLEDGE_ENV}, ready_timeout=300)


def upload(server, name: str, data: bytes, domain: str = "ecommerce") -> None:
    resp = httpx.post(f"{server.url}/v1/knowledge/{domain}/files", headers=server.admin_headers, timeout=300,
                      files=[("files", (name, data))])
    resp.raise_for_status()


def document(server, source: str, domain: str = "ecommerce") -> dict:
    docs = httpx.get(f"{server.url}/v1/knowledge/{domain}/documents", headers=server.admin_headers, timeout=60).json()
    doc_id = next(d["id"] for d in docs if d["source"] == source)
    return httpx.get(f"{server.url}/v1/knowledge/documents/{doc_id}", headers=server.admin_headers, timeout=60).json()


def answer_with_feedback(server, question: str, image: bytes | None = None, **feedback) -> dict:
    """An agent's answered question (with an image) and the agent's feedback on it."""
    content = [{"type": "text", "text": question}]
    if image:
        content.insert(0, {"type": "image_url",
                           "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()}})
    resp = httpx.post(f"{server.url}/v1/chat/completions", headers=server.headers, timeout=300, json={
        "messages": [{"role": "user", "content": content}], "max_tokens": 4, "visiondesk": {"domain": "ecommerce"}})
    resp.raise_for_status()
    request_id = resp.json()["visiondesk"]["request_id"]
    deadline = time.monotonic() + 30  # the turn is recorded in the background
    while True:
        given = httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30,
                           json={"request_id": request_id, **feedback})
        if given.status_code == 201 or time.monotonic() > deadline:
            given.raise_for_status()
            return given.json()
        time.sleep(0.2)


def admin_token(server) -> str:
    return server.admin_headers["Authorization"].removeprefix("Bearer ")


class Console:
    """`python -m apps.admin` running in a subprocess on a free port."""

    def __init__(self, proc, url: str, log_path):
        self.proc, self.url, self.log_path = proc, url, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_console(backend_url: str, tmp, *, timeout: float = 120) -> Console:
    """Start the console the way users do and wait until Streamlit answers its health check."""
    import os
    import subprocess
    import sys

    from support import ROOT, free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    env.update({"VISIONDESK_APPS__BACKEND_URL": backend_url, "VISIONDESK_DATA_DIR": str(tmp)})
    log_path = tmp / "console.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "apps.admin", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    console = Console(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the admin console exited with {proc.returncode}:\n{console.log()}")
        try:
            if httpx.get(f"{console.url}/_stcore/health", timeout=2).text == "ok":
                return console
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    console.stop()
    raise RuntimeError(f"the admin console did not answer within {timeout:g} s:\n{console.log()}")
