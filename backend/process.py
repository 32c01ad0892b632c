"""Start `python -m backend serve` as a child process and wait until it is ready (launcher, tests, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BackendProcess:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, grace: float = 20) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_ready(url: str, process: subprocess.Popen, timeout: float) -> tuple[bool, str]:
    """Poll /readyz until 200; (False, reason) if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    reason = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False, f"exited with code {process.returncode}"
        try:
            resp = httpx.get(f"{url}/readyz", timeout=2)
            reason = resp.json().get("reason", reason)
            if resp.status_code == 200:
                return True, reason
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    return False, f"not ready after {timeout:.0f}s: {reason}"


def start_backend(log_dir: Path, env: dict[str, str], *, port: int | None = None, timeout: float = 300,
                  inherit_visiondesk_env: bool = False) -> BackendProcess:
    """Run the backend with `env` added to this environment; raises with the log if it never gets ready."""
    port = port or free_port()
    base = {k: v for k, v in os.environ.items() if inherit_visiondesk_env or not k.startswith("VISIONDESK_")}
    log_path = Path(log_dir) / f"backend-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**base, "PYTHONUNBUFFERED": "1", **env},
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    backend = BackendProcess(f"http://127.0.0.1:{port}", process, log_path)
    ok, reason = wait_ready(backend.url, process, timeout)
    if not ok:
        backend.stop()
        raise RuntimeError(f"backend did not get ready ({reason}):\n{backend.log()[-4000:]}")
    return backend


VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"


@dataclass
class VLLMProcess:
    url: str  # the OpenAI base URL, ending in /v1
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, grace: float = 20) -> None:
        BackendProcess.stop(self, grace)  # same signals, same fallback to kill


def start_vllm(model: Path | str, log_dir: Path, *, port: int | None = None, python: Path = VLLM_PYTHON,
               extra_args: list[str] | None = None, timeout: float = 300) -> VLLMProcess:
    """Start vLLM's OpenAI server (the CPU build from `make vllm-env`) and wait until it lists its models."""
    if not Path(python).exists():
        raise FileNotFoundError(f"{python} not found: build the vLLM environment with `make vllm-env`")
    port = port or free_port()
    log_path = Path(log_dir) / f"vllm-{port}.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
           "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", f"0-{(os.cpu_count() or 1) - 1}"),
           "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1"}
    # `python -m vllm.entrypoints...`: the `vllm` script fails on the vllm-cpu package name.
    if Path(model).exists():  # vLLM runs in log_dir: a relative path would be read as a hub repo id
        model = Path(model).resolve()
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--max-model-len", "2048", *(extra_args or [])]
    process = subprocess.Popen(command, cwd=log_dir, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = VLLMProcess(f"http://127.0.0.1:{port}/v1", process, log_path)
    return wait_serving("vLLM", f"{server.url}/models", server, timeout, interval=1.0)


def wait_serving(name: str, probe_url: str, child, timeout: float, interval: float = 0.3):
    """Return `child` once `probe_url` answers 200; stop it and raise with its log if it dies or time runs out.

    `child` has `.process`, `.log()` and `.stop()` (BackendProcess, VLLMProcess, the apps' processes).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {child.process.returncode}:\n{child.log()[-4000:]}")
        try:
            if httpx.get(probe_url, timeout=2).status_code == 200:
                return child
        except httpx.TransportError:
            pass
        time.sleep(interval)
    child.stop()
    raise RuntimeError(f"{name} not serving after {timeout:.0f}s:\n{child.log()[-4000:]}")
