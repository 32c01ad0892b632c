"""Load drill: many concurrent streaming chats against a real backend on the tiny model.

Passes when nothing answers 5xx except a deliberate 503 with Retry-After, every 429/503 carries Retry-After,
every accepted request (HTTP 200) streams to a finish and `[DONE]` and is in the request log, and the backend's
memory stays bounded (the last quarter's peak RSS within `rss_growth_limit` of the first half's).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from backend.client import sse_events, user_message
from eval.bench.common import percentile, screenshot_png
from eval.reliability.config import LoadConfig
from eval.reliability.report import Progress, write_json
from eval.reliability.stack import Backend, RssSampler, fresh_dir, start_agent_backend, tiny_model

QUESTIONS = [
    "What does this screen say about the order?",
    "Is the parcel on its way?",
    "How do I request a refund for this order?",
    "Can the customer change the delivery address?",
    "What is the status shown here?",
]


@dataclass
class StreamResult:
    started_s: float  # since the drill started
    status: int  # HTTP status; 0 when the connection failed
    latency_s: float
    ttft_s: float | None = None  # first text
    completed: bool = False  # a finish_reason and `data: [DONE]`, no error event
    retry_after: str | None = None
    error: str | None = None
    request_id: str | None = None


class _Watched:
    """A response whose lines pass through sse_events while we note whether `data: [DONE]` came."""

    def __init__(self, resp: httpx.Response):
        self.resp, self.done = resp, False

    def iter_lines(self):
        for line in self.resp.iter_lines():
            if line.strip() == "data: [DONE]":
                self.done = True
            yield line


def chat_body(n: int, max_tokens: int, image: bytes | None, **extra) -> dict:
    question = QUESTIONS[n % len(QUESTIONS)]
    return {"messages": [user_message(question, [image] if image else None)], "stream": True,
            "max_tokens": max_tokens, "temperature": 0, **extra}


def stream_once(client: httpx.Client, url: str, headers: dict, body: dict, t0: float) -> StreamResult:
    """One streamed chat, read to the end; never raises."""
    started = time.monotonic()
    result = StreamResult(round(started - t0, 3), 0, 0.0)
    try:
        with client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
            result.status = resp.status_code
            result.retry_after = resp.headers.get("retry-after")
            if resp.status_code != 200:
                resp.read()
                result.error = resp.text[:300]
            else:
                watched, finish = _Watched(resp), None
                for event in sse_events(watched):
                    if "error" in event:
                        result.error = f"error event: {event['error'].get('message')}"
                        continue
                    if event.get("visiondesk", {}).get("request_id"):
                        result.request_id = event["visiondesk"]["request_id"]
                    for choice in event.get("choices") or []:
                        if choice["delta"].get("content") and result.ttft_s is None:
                            result.ttft_s = round(time.monotonic() - started, 4)
                        finish = choice.get("finish_reason") or finish
                result.completed = watched.done and finish is not None and result.error is None
                if not result.completed and result.error is None:
                    result.error = f"stream ended without {'[DONE]' if finish else 'a finish_reason'}"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.latency_s = round(time.monotonic() - started, 4)
    return result


def run_streams(url: str, headers: dict, *, streams: int, duration_s: float, max_tokens: int, image: bytes | None,
                timeout_s: float = 120.0, on_result=None, t0: float | None = None) -> list[StreamResult]:
    """`streams` clients asking back to back until `duration_s` is over; a 429/503 waits out its Retry-After."""
    t0 = t0 if t0 is not None else time.monotonic()
    deadline = time.monotonic() + duration_s
    results: list[StreamResult] = []
    lock = threading.Lock()

    def client_loop(index: int) -> None:
        n = index
        with httpx.Client(timeout=httpx.Timeout(timeout_s, connect=10)) as client:
            while time.monotonic() < deadline:
                result = stream_once(client, url, headers, chat_body(n, max_tokens, image), t0)
                n += streams
                with lock:
                    results.append(result)
                if on_result is not None:
                    on_result(result)
                if result.status in (429, 503) or result.status == 0:
                    wait = float(result.retry_after) if (result.retry_after or "").isdigit() else 1.0
                    time.sleep(max(0.0, min(wait, deadline - time.monotonic())))

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_results(results: list[StreamResult]) -> dict:
    """The pass/fail facts of a list of chat results."""
    statuses = Counter(r.status for r in results)
    accepted = [r for r in results if r.status == 200]
    shed = [r for r in results if r.status in (429, 503)]
    unexpected = [r for r in results if r.status not in (200, 429, 503)]
    incomplete = [r for r in accepted if not r.completed]
    done = [r for r in accepted if r.completed]
    return {
        "requests": len(results),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "accepted": len(accepted),
        "accepted_completed": len(done),
        "accepted_incomplete": len(incomplete),
        "shed_429_503": len(shed),
        "shed_without_retry_after": sum(1 for r in shed if not r.retry_after),
        "unexpected_status": len(unexpected),  # 5xx other than 503, other 4xx, connection failures (0)
        "errors_by_message": dict(Counter((r.error or "")[:120] for r in [*incomplete, *unexpected]).most_common(8)),
        "latency_s": _stats([r.latency_s for r in done]),
        "ttft_s": _stats([r.ttft_s for r in done if r.ttft_s is not None]),
    }


def _stats(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {"p50": round(percentile(values, 0.5), 3), "p95": round(percentile(values, 0.95), 3),
            "max": round(max(values), 3)}


def rss_facts(samples: list[tuple[float, float]], duration_s: float, limit: float) -> dict:
    """RSS start/peak/end and whether the last quarter's peak stays within `limit` of the first half's."""
    if not samples:
        return {"bounded": False, "reason": "no samples"}
    first_half = [m for t, m in samples if t <= duration_s / 2] or [samples[0][1]]
    last_quarter = [m for t, m in samples if t >= duration_s * 0.75] or [samples[-1][1]]
    first_peak, last_peak = max(first_half), max(last_quarter)
    return {"start_mib": samples[0][1], "peak_mib": max(m for _, m in samples), "end_mib": samples[-1][1],
            "first_half_peak_mib": first_peak, "last_quarter_peak_mib": last_peak,
            "growth": round(last_peak / first_peak - 1, 4), "limit": limit,
            "bounded": last_peak <= first_peak * (1 + limit)}


def request_log_statuses(database: Path, request_ids: list[str]) -> dict[str, int]:
    """request id → status as the backend recorded it (read-only, while it runs)."""
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT id, status FROM request_log").fetchall()
    finally:
        con.close()
    wanted = set(request_ids)
    return {rid: status for rid, status in rows if rid in wanted}


def run_load(config: LoadConfig, progress: Progress | None = None) -> dict:
    progress = progress or Progress(config.label)
    work = fresh_dir(config.out_dir / f"{config.label}-work")
    model = tiny_model(config.models_dir)
    env = {"VISIONDESK_MODEL__PATH": str(model), "VISIONDESK_MODEL__NAME": "tiny-llava"}
    if config.max_queue is not None:
        env["VISIONDESK_MODEL__MAX_QUEUE"] = str(config.max_queue)
    progress.say(f"starting the backend on {model}")
    backend = start_agent_backend(work, env)
    try:
        return _drive(backend, config, progress)
    finally:
        backend.stop()


def _drive(backend: Backend, config: LoadConfig, progress: Progress) -> dict:
    image = screenshot_png(*config.image_px) if all(config.image_px) else None
    with httpx.Client(timeout=120) as client:
        warm = stream_once(client, backend.url, backend.headers, chat_body(0, config.max_tokens, image),
                           time.monotonic())
    if not warm.completed:
        raise RuntimeError(f"warm-up request failed: {warm}")
    sampler = RssSampler(backend.pid)
    sampler.start()
    t0 = sampler.started_at
    seen: list[StreamResult] = []
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(10):
            ok = sum(1 for r in seen if r.completed)
            shed = sum(1 for r in seen if r.status in (429, 503))
            bad = len(seen) - ok - shed
            rss = sampler.samples[-1][1] if sampler.samples else float("nan")
            progress.say(f"{time.monotonic() - t0:5.0f}s  answered {ok}  shed {shed}  failed {bad}  "
                         f"backend RSS {rss:.0f} MiB")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    progress.say(f"{config.streams} streams for {config.duration_s:.0f}s, {config.max_tokens} tokens each")
    results = run_streams(backend.url, backend.headers, streams=config.streams, duration_s=config.duration_s,
                          max_tokens=config.max_tokens, image=image, timeout_s=config.request_timeout_s,
                          on_result=seen.append, t0=t0)
    elapsed = time.monotonic() - t0
    stop.set()
    time.sleep(2)  # the backend writes request-log rows off the request path
    samples = sampler.stop()
    facts = check_results(results)
    completed_ids = [r.request_id for r in results if r.completed and r.request_id]
    recorded = request_log_statuses(backend.database, completed_ids)
    facts["completed_in_request_log"] = sum(1 for rid in completed_ids if recorded.get(rid) == 200)
    rss = rss_facts(samples, elapsed, config.rss_growth_limit)
    summary = {
        "drill": "load", "streams": config.streams, "duration_s": config.duration_s, "elapsed_s": round(elapsed, 1),
        "max_tokens": config.max_tokens, "image_px": list(config.image_px), "max_queue": config.max_queue,
        **facts,
        "answers_per_s": round(facts["accepted_completed"] / elapsed, 2),
        "backend_alive": backend.alive() and backend.healthy(),
        "rss": rss,
    }
    summary["passed"] = bool(
        summary["backend_alive"] and facts["unexpected_status"] == 0 and facts["shed_without_retry_after"] == 0
        and facts["accepted_incomplete"] == 0 and facts["accepted_completed"] > 0
        and facts["completed_in_request_log"] == len(completed_ids) == facts["accepted_completed"]
        and rss["bounded"])
    out = config.out_dir
    write_json(out / f"{config.label}.json", {**summary, "rss_samples": samples,
                                              "results": [asdict(r) for r in results]})
    _plot(out / f"{config.label}.png", results, samples, summary)
    progress.say(f"{'PASSED' if summary['passed'] else 'FAILED'}: {facts['accepted_completed']} answered, "
                 f"{facts['shed_429_503']} shed, {facts['unexpected_status']} unexpected, p50 "
                 f"{facts['latency_s']['p50']} s, p95 {facts['latency_s']['p95']} s, RSS {rss.get('start_mib')} → "
                 f"{rss.get('end_mib')} MiB (peak {rss.get('peak_mib')})")
    return summary


def _plot(path: Path, results: list[StreamResult], samples: list[tuple[float, float]], summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot([t for t, _ in samples], [m for _, m in samples], color="tab:blue")
    top.set_ylabel("backend RSS (MiB)")
    top.set_title(f"{summary['streams']} concurrent streams, {summary['duration_s']:.0f} s: "
                  f"{summary['accepted_completed']} answered, {summary['shed_429_503']} shed (429/503), "
                  f"{summary['unexpected_status']} unexpected", fontsize=9)
    for label, color, pick in (("answered", "tab:green", lambda r: r.completed),
                               ("429/503", "tab:orange", lambda r: r.status in (429, 503)),
                               ("failed", "tab:red", lambda r: not r.completed and r.status not in (429, 503))):
        chosen = [r for r in results if pick(r)]
        if chosen:
            bottom.scatter([r.started_s for r in chosen], [r.latency_s for r in chosen], s=4, color=color, label=label)
    bottom.set_xlabel("seconds since start")
    bottom.set_ylabel("request latency (s)")
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
