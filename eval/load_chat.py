"""`python -m eval.load_chat`: many agents chatting through the Gradio chat app at once; reports errors and latency.

Each session is its own gradio_client connection (its own login and conversation), asks questions back to back
for the whole run, and starts a new conversation every few answers, the way an agent moves between customers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

QUESTIONS = [
    "How much does the Breeze Kettle cost and what is its warranty?",
    "The customer says the parcel arrived damaged. What are the options?",
    "What is the return window for small appliances?",
    "What does this label say?",
    "Can the customer change the delivery address after ordering?",
]
TURNS_PER_CONVERSATION = 4


@dataclass
class Turn:
    session: int
    ok: bool
    latency_s: float
    first_text_s: float | None
    error: str | None = None


def _skipped(value) -> bool:
    # gradio_client reports outputs a step left unchanged as None or a bare update marker.
    return value is None or (isinstance(value, dict) and value.get("__type__") == "update" and "value" not in value)


def _answer_text(chatbot) -> str:
    if not chatbot or chatbot[-1].get("role") != "assistant":
        return ""
    content = chatbot[-1]["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content if isinstance(b, dict))


def _session(index: int, args: argparse.Namespace, deadline: float, turns: list[Turn], lock: threading.Lock) -> None:
    from gradio_client import Client, handle_file

    def record(turn: Turn) -> None:
        with lock:
            turns.append(turn)

    try:
        client = Client(args.app_url, verbose=False, download_files=False, analytics_enabled=False)
        status = client.predict(args.username, args.password, api_name="/login")[0]
        if status.startswith("⚠️") or "Enter your" in status:
            raise RuntimeError(f"login failed: {status}")
        if args.domain:
            client.predict(args.domain, api_name="/set_domain")
    except Exception as exc:  # noqa: BLE001 - a load test reports every failure instead of stopping
        record(Turn(index, False, 0.0, None, f"session start: {exc}"))
        return
    files = [handle_file(str(args.image))] if args.image else []
    asked = 0
    while time.monotonic() < deadline:
        question = QUESTIONS[(index + asked) % len(QUESTIONS)]
        started = time.perf_counter()
        first_text, status = None, ""
        try:
            job = client.submit({"text": question, "files": files}, [], api_name="/chat")
            for output in job:
                if first_text is None and not _skipped(output[0]) and _answer_text(output[0]):
                    first_text = time.perf_counter() - started
                if not _skipped(output[5]):
                    status = output[5]
            job.result()
            for output in job.outputs():  # the last updates may arrive after iteration ends
                if not _skipped(output[5]):
                    status = output[5]
        except Exception as exc:  # noqa: BLE001
            status = f"⚠️ {type(exc).__name__}: {exc}"
        latency = time.perf_counter() - started
        ok = status == "Answer complete."
        record(Turn(index, ok, latency, first_text, None if ok else (status or "no status")))
        asked += 1
        if asked % TURNS_PER_CONVERSATION == 0:
            try:
                client.predict(api_name="/clear")
            except Exception as exc:  # noqa: BLE001
                record(Turn(index, False, 0.0, None, f"clear: {exc}"))


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def run(args: argparse.Namespace) -> dict:
    turns: list[Turn] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + args.duration
    threads = [threading.Thread(target=_session, args=(i, args, deadline, turns, lock), daemon=True)
               for i in range(args.sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ok = [t for t in turns if t.ok]
    errors = [t for t in turns if not t.ok]
    return {
        "app_url": args.app_url, "sessions": args.sessions, "duration_s": args.duration,
        "elapsed_s": round(elapsed, 1), "answers": len(ok), "errors": len(errors),
        "error_rate": round(len(errors) / len(turns), 4) if turns else 1.0,
        "sessions_answered": len({t.session for t in ok}),
        "answers_per_minute": round(len(ok) / elapsed * 60, 1) if elapsed else 0.0,
        "latency_s": _stats([t.latency_s for t in ok]),
        "first_text_s": _stats([t.first_text_s for t in ok if t.first_text_s is not None]),
        "errors_by_message": dict(Counter(t.error for t in errors).most_common(10)),
        "turns": [asdict(t) for t in turns],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.load_chat",
        description="Run concurrent chat sessions through the Gradio chat app for a while and report errors and "
                    "latency. Exit code 0 when every session got answers and nothing failed.",
        epilog="example (20 agents for a minute, app and backend already running):\n"
               "  python -m eval.load_chat --app-url http://127.0.0.1:8701 --username agent --password secret \\\n"
               "      --sessions 20 --duration 60 --domain ecommerce \\\n"
               "      --image knowledge/seeds/ecommerce/images/label_nw-kt-101.png --out var/load_chat.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--app-url", required=True, help="chat app URL, e.g. http://127.0.0.1:8701")
    parser.add_argument("--username", required=True, help="backend account the sessions log in as")
    parser.add_argument("--password", required=True, help="its password")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent chat sessions (default 20)")
    parser.add_argument("--duration", type=float, default=60, help="seconds to keep asking (default 60)")
    parser.add_argument("--domain", help="knowledge domain to ask in, e.g. ecommerce (default: the app's first)")
    parser.add_argument("--image", type=Path, help="image attached to every question")
    parser.add_argument("--out", type=Path, help="write the full report (every turn) as JSON here")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error(f"--sessions must be at least 1 (got {args.sessions})")
    if args.duration <= 0:
        parser.error(f"--duration must be positive (got {args.duration})")
    if args.image and not args.image.is_file():
        parser.error(f"--image {args.image} is not a file")

    report = run(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    summary = {k: v for k, v in report.items() if k != "turns"}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    healthy = report["errors"] == 0 and report["sessions_answered"] == args.sessions
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
