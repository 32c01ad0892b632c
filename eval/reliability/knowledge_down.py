"""Fault drill: the Chroma server dies under a running backend, then comes back.

The backend runs with `knowledge.chroma_url` pointing at a real `chroma run`. After kill -9 of that server:
/readyz answers 503 and names the store; a medical question gets the fixed "knowledge unavailable" reply (the
model is not asked); an e-commerce question is answered by the model and flagged `ungrounded`, in JSON and in a
stream. After the server restarts on the same port and directory, readiness and cited answers return.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from eval.reliability.config import FaultConfig
from eval.reliability.report import Progress
from eval.reliability.stack import Backend, fresh_dir, kill9, start_agent_backend, start_chroma, tiny_model, wait_for

MEDICAL_Q = "What is the normal range for haemoglobin?"
SHOP_Q = "How much does the Breeze Kettle cost and what is its warranty?"


def ask(backend: Backend, question: str, domain: str) -> dict:
    resp = httpx.post(f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=300, json={
        "messages": [{"role": "user", "content": question}], "max_tokens": 8, "visiondesk": {"domain": domain}})
    body = resp.json()
    out = {"status": resp.status_code}
    if resp.status_code == 200:
        vd = body["visiondesk"]
        out.update(text=body["choices"][0]["message"]["content"], citations=len(vd["citations"]),
                   ungrounded=vd["ungrounded"], notice=vd["notice"], retrieval=vd["retrieval"],
                   completion_tokens=body["usage"]["completion_tokens"])
    else:
        out.update(error=body.get("error", {}).get("message"), retry_after=resp.headers.get("retry-after"))
    return out


def ask_streamed(backend: Backend, question: str, domain: str) -> dict:
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=300, json={
            "messages": [{"role": "user", "content": question}], "max_tokens": 8, "stream": True,
            "visiondesk": {"domain": domain}}) as resp:
        lines = [line[5:].strip() for line in resp.iter_lines() if line.startswith("data:")]
    events = [json.loads(x) for x in lines if x != "[DONE]"]
    first = next((e["visiondesk"] for e in events if "visiondesk" in e), {})
    return {"status": resp.status_code, "done": bool(lines) and lines[-1] == "[DONE]",
            "ungrounded": first.get("ungrounded"), "notice": first.get("notice"),
            "errors": [e["error"] for e in events if "error" in e]}


def run(config: FaultConfig, progress: Progress) -> dict:
    work = fresh_dir(config.out_dir / "chroma-work")
    chroma = start_chroma(work / "chroma", work)
    progress.say(f"Chroma server at {chroma.url}; starting the backend (first start seeds both domains)")
    backend = None
    try:
        backend = start_agent_backend(work, {
            "VISIONDESK_MODEL__PATH": str(tiny_model(config.models_dir)), "VISIONDESK_KNOWLEDGE__ENABLED": "true",
            "VISIONDESK_KNOWLEDGE__CHROMA_URL": chroma.url}, timeout=900)
        return _drill(backend, chroma, work, progress)
    finally:
        if backend is not None:
            backend.stop()
        chroma.stop()


def _drill(backend: Backend, chroma, work: Path, progress: Progress) -> dict:
    before = {"medical": ask(backend, MEDICAL_Q, "medical"), "ecommerce": ask(backend, SHOP_Q, "ecommerce")}
    progress.say(f"Chroma up: medical {before['medical']['citations']} citations, "
                 f"e-commerce {before['ecommerce']['citations']} citations")

    killed_at = kill9(chroma.process)
    progress.say("Chroma killed (SIGKILL)")
    status, ready = backend.readiness()
    down = {
        "readyz_status": status, "readyz_reason": ready["reason"], "healthz": backend.healthy(),
        "medical": ask(backend, MEDICAL_Q, "medical"), "ecommerce": ask(backend, SHOP_Q, "ecommerce"),
        "ecommerce_stream": ask_streamed(backend, SHOP_Q, "ecommerce"),
        "detect_s": round(time.monotonic() - killed_at, 2),
    }
    progress.say(f"Chroma down: /readyz {status} ({ready['reason'][-90:]}); medical {down['medical']['status']} "
                 f"{down['medical'].get('text', '')[:50]!r}; "
                 f"e-commerce ungrounded={down['ecommerce'].get('ungrounded')}")

    restarted = start_chroma(chroma.path, work, port=chroma.port)
    chroma.process = restarted.process  # so the caller stops the new one
    back_after = wait_for(lambda: backend.readiness()[0] == 200, 60)
    after = {"ready_after_s": back_after, "medical": ask(backend, MEDICAL_Q, "medical"),
             "ecommerce": ask(backend, SHOP_Q, "ecommerce")}
    progress.say(f"Chroma back: ready after {back_after} s; medical {after['medical']['citations']} citations")

    med, shop, streamed = down["medical"], down["ecommerce"], down["ecommerce_stream"]
    checks = {
        "grounded_before": before["medical"]["citations"] > 0 and before["ecommerce"]["citations"] > 0
        and not before["ecommerce"]["ungrounded"],
        "readyz_says_knowledge_down": status == 503 and "Chroma" in ready["reason"]
        and "unreachable" in ready["reason"],
        "backend_stays_up": down["healthz"] and backend.alive(),
        "medical_knowledge_unavailable": med["status"] == 200 and "knowledge unavailable" in med.get("text", "").lower()
        and med.get("completion_tokens") == 0 and med.get("citations") == 0,
        "ecommerce_flagged_ungrounded": shop["status"] == 200 and shop.get("ungrounded") is True
        and shop.get("citations") == 0 and "not grounded" in (shop.get("notice") or ""),
        "stream_flagged_ungrounded": streamed["status"] == 200 and streamed["done"] and streamed["ungrounded"] is True
        and not streamed["errors"],
        "recovers": back_after is not None and after["medical"]["citations"] > 0
        and after["ecommerce"]["citations"] > 0 and after["ecommerce"]["ungrounded"] is False,
    }
    return {"drill": "chroma", "before": before, "down": down, "after": after, "checks": checks,
            "passed": all(checks.values())}
