"""`python -m apps` (what `make run` calls): starts backend, chat and admin, prints URLs and the placeholder notice,
stops them all cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from support import ROOT, free_port


def answers(url: str, timeout: float = 90) -> int:
    """The HTTP status `url` settles on (apps start after the backend is ready, so give them a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_launcher_starts_backend_prints_urls_and_stops_on_ctrl_c(tmp_path, tiny_llava):
    port, chat_port, admin_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    # The placeholder path: no model.path, so the launcher builds the tiny default under data_dir.
    env.update({"VISIONDESK_DATA_DIR": str(tmp_path), "VISIONDESK_SERVER__PORT": str(port), "PYTHONUNBUFFERED": "1",
                "VISIONDESK_APPS__CHAT_PORT": str(chat_port), "VISIONDESK_APPS__ADMIN_PORT": str(admin_port)})
    # No admin password set: the first start must print a one-time password, and how to log in.
    proc = subprocess.Popen([sys.executable, "-m", "apps"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 400  # the first start seeds the knowledge packs (OCR included)
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert f"backend  http://127.0.0.1:{port}" in output, output
        assert "placeholder model" in output
        password = re.search(r"one-time password: (\S+)", output)
        assert password, output
        assert "log in" in output
        login = httpx.post(f"http://127.0.0.1:{port}/v1/auth/login", timeout=10,
                           json={"username": "admin", "password": password.group(1)})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=headers, timeout=10).json()
        assert models["data"][0]["id"] == "visiondesk-placeholder"
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60, headers=headers,
                            json={"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3}).json()
        assert "placeholder" in answer["visiondesk"]["notice"]
        # the agents' chat and the admins' console are up too
        assert f"chat     http://127.0.0.1:{chat_port}" in output, output
        assert f"admin    http://127.0.0.1:{admin_port}" in output, output
        assert answers(f"http://127.0.0.1:{chat_port}/") == 200
        assert answers(f"http://127.0.0.1:{admin_port}/_stcore/health") == 200

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "stopped backend" in rest and "chat" in rest and "admin" in rest
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        still_up = True
    except httpx.TransportError:
        still_up = False
    assert not still_up, "the backend outlived the launcher"
