"""`python -m eval.reliability load|faults`: reliability drills against real processes; JSON and plots in --out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from eval.reliability.config import DEFAULT_OUT, FAULTS, FaultConfig, LoadConfig

EPILOG = """examples:
  python -m eval.reliability load                                  # 50 streams for 120 s on the tiny model
  python -m eval.reliability load --streams 50 --duration 20 --max-queue 8 --label load-small-queue
  python -m eval.reliability faults                                # every fault drill
  python -m eval.reliability faults --only chroma,ingest --out var/reliability
  python -m eval.reliability faults --only model_server --upstream backend   # without .venv-vllm

Each drill writes <out>/<name>.json (load also <label>.png) and prints PASSED or FAILED; the exit code is 0 only
when every drill that ran passed. See docs/reliability.md for what each drill checks and the latest figures.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.reliability", description=__doc__.split(":", 1)[1].strip(),
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="concurrent streaming chats against a backend on the tiny model",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("--streams", type=int, default=LoadConfig.streams, help="concurrent streams (default 50)")
    load.add_argument("--duration", type=float, default=LoadConfig.duration_s, help="seconds of load (default 120)")
    load.add_argument("--max-tokens", type=int, default=LoadConfig.max_tokens, help="tokens per answer (default 32)")
    load.add_argument("--max-queue", type=int, help="the backend's model.max_queue (default: the backend's, 64)")
    load.add_argument("--no-image", action="store_true", help="text-only questions (default: a 320x200 screenshot)")
    load.add_argument("--rss-growth-limit", type=float, default=LoadConfig.rss_growth_limit,
                      help="allowed growth of the last quarter's peak RSS over the first half's (default 0.10)")
    load.add_argument("--label", default="load", help="file name stem of the results (default load)")
    faults = sub.add_parser("faults", help="process-level fault drills", epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    faults.add_argument("--only", default=",".join(FAULTS), help=f"comma-separated subset of {', '.join(FAULTS)}")
    faults.add_argument("--upstream", choices=["auto", "vllm", "backend"], default="auto",
                        help="model server of the model_server drill (auto: vLLM when .venv-vllm exists)")
    faults.add_argument("--ingest-kills", type=int, default=FaultConfig.ingest_kills, help="kills before the re-run")
    faults.add_argument("--sft-steps", type=int, default=FaultConfig.sft_steps, help="max_steps of the SFT drill")
    faults.add_argument("--feedback-duration", type=float, default=FaultConfig.feedback_duration_s,
                        help="seconds of concurrent feedback writes (default 30)")
    for p in (load, faults):
        p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})")
        p.add_argument("--models-dir", type=Path, help="where the tiny model is built (default <out>/models)")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    models_dir = args.models_dir or args.out / "models"
    from eval.reliability.faults import run_fault
    from eval.reliability.report import Progress, write_json

    if args.command == "load":
        if args.streams < 1 or args.duration <= 0:
            print("error: --streams must be at least 1 and --duration positive", file=sys.stderr)
            return 2
        from eval.reliability.load import run_load

        config = LoadConfig(streams=args.streams, duration_s=args.duration, max_tokens=args.max_tokens,
                            max_queue=args.max_queue, image_px=(0, 0) if args.no_image else LoadConfig.image_px,
                            rss_growth_limit=args.rss_growth_limit, out_dir=args.out, models_dir=models_dir,
                            label=args.label)
        summary = run_load(config, Progress(args.label))
        print(json.dumps({k: v for k, v in summary.items()}, indent=2))
        return 0 if summary["passed"] else 1

    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in FAULTS]
    if unknown:
        print(f"error: unknown drill(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}", file=sys.stderr)
        return 2
    config = FaultConfig(only=only, out_dir=args.out, models_dir=models_dir, upstream=args.upstream,
                         ingest_kills=args.ingest_kills, sft_steps=args.sft_steps,
                         feedback_duration_s=args.feedback_duration)
    results = {}
    for name in only:
        progress = Progress(name)
        try:
            result = run_fault(name, config, progress)
        except Exception as exc:  # noqa: BLE001 - one broken drill must not hide the others' results
            result = {"drill": name, "passed": False, "error": f"{type(exc).__name__}: {exc}"}
        write_json(args.out / f"{name}.json", result)
        verdict = "PASSED" if result["passed"] else "FAILED"
        progress.say(f"{verdict}  {json.dumps(result.get('checks', result.get('error')))}")
        results[name] = result["passed"]
    print(json.dumps(results, indent=2))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
