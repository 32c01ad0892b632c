"""Local launcher: starts the backend and whichever apps exist, prints their URLs, stops them all on Ctrl-C."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from backend.engines import DEMO_NOTICE, PLACEHOLDER_NOTICE, is_placeholder
from backend.process import wait_ready
from backend.settings import Settings


@dataclass
class Child:
    name: str
    url: str
    process: subprocess.Popen


def _app_exists(module: str) -> bool:
    return importlib.util.find_spec(f"{module}.__main__") is not None if importlib.util.find_spec(module) else False


def plan(settings: Settings, config_file: str | None) -> list[tuple[str, list[str], str]]:
    """(name, command, url) for each process to start, backend first."""
    py = sys.executable
    common = ["--config", config_file] if config_file else []
    procs = [("backend", [py, "-m", "backend", *common, "serve"], settings.backend_url)]
    for name, module, port in (("chat", "apps.chat", settings.apps.chat_port),
                               ("admin", "apps.admin", settings.apps.admin_port)):
        if _app_exists(module):
            procs.append((name, [py, "-m", module, *common], f"http://127.0.0.1:{port}"))
    return procs


def run(settings: Settings, config_file: str | None = None, *, ready_timeout: float = 600) -> int:
    children: list[Child] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    try:
        for name, command, url in plan(settings, config_file):
            # Own process group: the launcher decides when children stop, so Ctrl-C reaches them once.
            proc = subprocess.Popen(command, env=env, start_new_session=True)
            children.append(Child(name, url, proc))
            print(f"[visiondesk] starting {name}: {url}", flush=True)
        if is_placeholder(settings):
            print(f"[visiondesk] NOTE: {PLACEHOLDER_NOTICE}", flush=True)
        elif settings.model.engine == "transformers" and not settings.model.path:
            print(f"[visiondesk] model: {DEMO_NOTICE}", flush=True)
        ok, reason = wait_ready(children[0].url, children[0].process, ready_timeout)
        if not ok:
            print(f"[visiondesk] backend is not ready: {reason}", file=sys.stderr, flush=True)
            return 1
        print("[visiondesk] ready:", flush=True)
        for child in children:
            print(f"  {child.name:8s} {child.url}", flush=True)
        who = settings.auth.admin_username
        how = ("the password in VISIONDESK_AUTH__ADMIN_PASSWORD" if settings.auth.admin_password.get_secret_value()
               else "the one-time password printed above on the first start")
        print(f"[visiondesk] log in as {who!r} with {how}; admins create agent accounts and API keys "
              "(docs/operations.md)", flush=True)
        print("[visiondesk] press Ctrl-C to stop", flush=True)
        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    print(f"[visiondesk] {child.name} exited with code {child.process.returncode}; stopping",
                          file=sys.stderr, flush=True)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        shutdown(children)


def shutdown(children: list[Child], grace: float = 15) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
    if children:
        print("[visiondesk] stopped " + ", ".join(c.name for c in children), flush=True)
