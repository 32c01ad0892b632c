"""`python -m eval.bench`: run the backend benchmarks and print ratios against baselines measured in the same run."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

BENCHES = ("overhead", "image", "throughput", "vllm", "knowledge_ingest", "knowledge_query", "sft", "demo_ttft")
DEFAULT = BENCHES[:-1]  # demo_ttft measures the demo model, not --model: ask for it with --only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench",
        description="Backend benchmarks. Each reports a ratio against a baseline measured in the same run.",
        epilog="examples:\n  python -m eval.bench\n  python -m eval.bench --only image,throughput --out /tmp/bench.json\n"
               "  python -m eval.bench --only demo_ttft    # the demo model's time to first token",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", default=",".join(DEFAULT), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--model", help="checkpoint to measure (default: a random LLaVA of SmolLM2-135M's shape)")
    parser.add_argument("--work-dir", default="var/bench", help="where the benchmark model is built and cached")
    parser.add_argument("--out", default="var/bench/results.json", help="JSON file for the results")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    from eval.bench import demo_ttft, image_cache, knowledge, service_overhead, sft, throughput, vllm_serving
    from eval.bench.model import ensure_bench_llava

    needs_model = bool(set(chosen) - {"demo_ttft"})
    model = Path(args.model) if args.model else (ensure_bench_llava(Path(args.work_dir)) if needs_model else None)
    runners = {"overhead": service_overhead.run, "image": image_cache.run, "throughput": throughput.run,
               "vllm": vllm_serving.run, "knowledge_ingest": knowledge.run_ingest, "knowledge_query": knowledge.run_query,
               "sft": sft.run, "demo_ttft": lambda _model: demo_ttft.run(None)}
    results = []
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        produced = runners[name](model)
        for result in produced if isinstance(produced, list) else [produced]:
            result.details["bench_seconds"] = round(time.perf_counter() - t0, 1)
            results.append(result)
            print(f"  {result.name}: {result.ratio:.3f} (goal {result.goal}: {'met' if result.met else 'NOT met'})",
                  flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "model": str(model), "results": [r.as_dict() for r in results]}
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
