"""`python -m apps` (what `make run` calls): starts the backend, prints URLs and the placeholder notice, stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from support import ROOT, free_port


def test_launcher_starts_backend_prints_urls_and_stops_on_ctrl_c(tmp_path, tiny_llava):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    # The placeholder path: no model.path, so the launcher builds the tiny default under data_dir.
    env.update({"VISIONDESK_DATA_DIR": str(tmp_path), "VISIONDESK_SERVER__PORT": str(port), "PYTHONUNBUFFERED": "1"})
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

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "stopped backend" in rest
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        still_up = True
    except httpx.TransportError:
        still_up = False
    assert not still_up, "the backend outlived the launcher"
