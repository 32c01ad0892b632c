"""`python -m eval.ab`: offline A/B of pipeline variants over an eval set, with paired statistics and reports.

Flow: config (YAML + flags) → eval rows → each variant answers each row through the backend's chat API
(cached in samples.jsonl, so a rerun resumes) → optional LLM judge → summary.json, report.md, report.html.
"""

from __future__ import annotations

import asyncio
import sys

from eval.ab.config import ABArguments, ConfigError, resolve

EXAMPLE = """examples:
  python -m eval.ab --config eval/configs/ab_retrieval.yaml
  python -m eval.ab --config eval/configs/ab_retrieval.yaml --output_dir var/ab/run2 --max_samples 20 --seed 1
  python -m eval.ab --config eval/configs/ab_retrieval.yaml --tags ocr should_refuse --bootstrap_samples 5000
  EVAL_API_KEY=vdk_... python -m eval.ab --config eval/configs/ab_retrieval.yaml \\
      --backend_url http://127.0.0.1:8700 --backend_settings '{}' \\
      --variants '[{"name": "A"}, {"name": "B", "retrieval": false}]'
Rerunning the same command resumes: finished samples are read back from OUTPUT_DIR/samples.jsonl.
See docs/eval.md for the config fields and how to read the report.
"""


def make_parser():
    from trl import TrlParser

    return TrlParser((ABArguments,), prog="python -m eval.ab", epilog=EXAMPLE,
                     description=(__doc__ or "").splitlines()[0])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = make_parser()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    try:
        (args,) = parser.parse_args_and_config(argv)
        config = resolve(args)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        # TrlParser reports unknown YAML keys as ValueError("Unknown arguments from config file: ...").
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_and_report(config)


def run_and_report(config) -> int:
    from eval.ab.analysis import summarize
    from eval.ab.backends import BackendError
    from eval.ab.evalset import EvalSetError
    from eval.ab.report import write_reports
    from eval.ab.runner import run

    try:
        result = asyncio.run(run(config))
    except (ConfigError, EvalSetError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = summarize(result)
    paths = write_reports(result, summary)
    errors = {n: v["errors"] for n, v in summary["variants"].items() if v["errors"]}
    print(f"{len(result.rows)} rows × {len(config.variants)} variants: {result.computed} requests made, "
          f"{result.cached} cached, {result.seconds:.1f} s")
    if errors:
        print("errors (recorded in samples.jsonl): " + ", ".join(f"{n}: {c}" for n, c in errors.items()))
    for comp in summary["comparisons"]:
        for metric in ("contains", "token_f1", "recall@5", "refusal_correct"):
            e = comp["metrics"].get(metric)
            if e:
                print(f"{comp['variant']} − {comp['baseline']}  {metric:16} {e['diff']:+.3f} "
                      f"[{e['low']:+.3f}, {e['high']:+.3f}]  n={e['n']}")
    print(f"report: {paths['report.html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
