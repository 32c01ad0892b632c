"""The real processes the drills run against, and the hard faults they inject.

Everything here is started the way users start it (`python -m backend serve` through backend.process, `chroma run`,
vLLM through backend.process.start_vllm) and stopped by the PID it was started with.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.process import ROOT, BackendProcess, free_port, start_backend, wait_serving

ADMIN_PASSWORD = "reliability-drill-admin"
AGENT = ("agent", "reliability-agent-password")
SUBPROCESS_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
                  "ANONYMIZED_TELEMETRY": "False"}


def fresh_dir(path: Path) -> Path:
    """An empty directory for one drill run (a rerun must not meet the last run's accounts or data)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def tiny_model(models_dir: Path) -> Path:
    """The tiny random LLaVA the tests use (built once, then reused from `models_dir`)."""
    from backend.models.tiny import ensure_tiny_model

    return ensure_tiny_model("llava", models_dir)


@dataclass
class Backend:
    """A running backend with an agent's API key (`headers`) and an admin login (`admin_headers`)."""

    process: BackendProcess
    data_dir: Path
    headers: dict = field(default_factory=dict)
    admin_headers: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def pid(self) -> int:
        return self.process.process.pid

    @property
    def database(self) -> Path:
        return self.data_dir / "visiondesk.db"

    def alive(self) -> bool:
        return self.process.process.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def readiness(self) -> tuple[int, dict]:
        resp = httpx.get(f"{self.url}/readyz", timeout=30)
        return resp.status_code, resp.json()

    def stop(self) -> None:
        self.process.stop()


def start_agent_backend(work: Path, env: dict[str, str], *, timeout: float = 300) -> Backend:
    """`python -m backend serve` with its data under `work/data`; knowledge off unless `env` turns it on."""
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "data"
    process = start_backend(work, {
        "VISIONDESK_DATA_DIR": str(data_dir), "VISIONDESK_AUTH__ADMIN_PASSWORD": ADMIN_PASSWORD,
        "VISIONDESK_KNOWLEDGE__ENABLED": "false", **SUBPROCESS_ENV, **env}, timeout=timeout)
    backend = Backend(process, data_dir)
    try:
        login = httpx.post(f"{backend.url}/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                           timeout=30)
        login.raise_for_status()
        backend.admin_headers = {"Authorization": f"Bearer {login.json()['token']}"}
        httpx.post(f"{backend.url}/v1/users", headers=backend.admin_headers, timeout=30,
                   json={"username": AGENT[0], "password": AGENT[1], "role": "agent"}).raise_for_status()
        key = httpx.post(f"{backend.url}/v1/api-keys", headers=backend.admin_headers, timeout=30,
                         json={"name": "reliability", "username": AGENT[0]})
        key.raise_for_status()
        backend.headers = {"Authorization": f"Bearer {key.json()['key']}"}
    except Exception:
        backend.stop()  # never leave a server behind when set-up fails
        raise
    return backend


@dataclass
class ChromaServer(BackendProcess):
    """`chroma run` on a fixed port and directory, so a restart serves the same collections at the same URL."""

    port: int = 0
    path: Path = Path()

    def stop(self, grace: float = 10) -> None:
        super().stop(grace)


def start_chroma(path: Path, log_dir: Path, *, port: int | None = None, timeout: float = 60) -> ChromaServer:
    port = port or free_port()
    log_path = log_dir / f"chroma-{port}.log"
    chroma = Path(sys.executable).parent / "chroma"
    process = subprocess.Popen([str(chroma), "run", "--path", str(path), "--port", str(port), "--host", "127.0.0.1"],
                               stdout=log_path.open("a"), stderr=subprocess.STDOUT,
                               env={**os.environ, **SUBPROCESS_ENV})
    server = ChromaServer(f"http://127.0.0.1:{port}", process, log_path, port=port, path=path)
    return wait_serving("chroma", f"{server.url}/api/v2/heartbeat", server, timeout)


def kill9(process: subprocess.Popen, *, group: bool = False) -> float:
    """SIGKILL a process this drill started (and its process group when it leads one); returns the time."""
    at = time.monotonic()
    if process.poll() is None:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    process.wait()
    return at


def run_cli(args: list[str], log_path: Path, *, timeout: float = 900) -> int:
    """Run `python <args>` in the repository root to the end, output into log_path; returns the exit code."""
    with log_path.open("a") as log:
        return subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, **SUBPROCESS_ENV}, stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout).returncode


def spawn_cli(args: list[str], log_path: Path) -> subprocess.Popen:
    """Start `python <args>` in the repository root and return at once (the drill kills it later)."""
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **SUBPROCESS_ENV},
                            stdout=log_path.open("a"), stderr=subprocess.STDOUT)


class RssSampler(threading.Thread):
    """Samples the resident memory (MiB) of a process and its children every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._halt = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        import psutil

        proc = psutil.Process(self.pid)
        while not self._halt.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            except psutil.Error:
                break
            self.samples.append((round(time.monotonic() - self.started_at, 2), round(rss / 2**20, 1)))
            self._halt.wait(self.interval)

    def stop(self) -> list[tuple[float, float]]:
        self._halt.set()
        self.join(5)
        return self.samples


def wait_for(predicate, timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until predicate() was true, or None when time ran out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return round(time.monotonic() - started, 2)
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    return None
