"""The load drill against a real backend on the tiny model: 50 concurrent streams, shortened to ~15 s.

The full 2-minute run behind docs/reliability.md is `python -m eval.reliability load`.
"""

from __future__ import annotations

import json

import pytest

from eval.reliability.config import LoadConfig
from eval.reliability.load import StreamResult, check_results, rss_facts, run_load

pytestmark = pytest.mark.slow


def brief(summary: dict) -> str:
    return json.dumps(summary, indent=1)[:3000]


def test_fifty_streams_every_accepted_request_is_answered(tmp_path, models_dir):
    summary = run_load(LoadConfig(streams=50, duration_s=15, out_dir=tmp_path, models_dir=models_dir))
    assert summary["unexpected_status"] == 0, brief(summary)
    assert summary["shed_without_retry_after"] == 0, brief(summary)
    assert summary["accepted_incomplete"] == 0 and summary["accepted_completed"] >= 50, brief(summary)
    assert summary["completed_in_request_log"] == summary["accepted_completed"], brief(summary)
    assert summary["rss"]["bounded"], brief(summary)
    assert summary["backend_alive"] and summary["passed"], brief(summary)
    assert summary["latency_s"]["p95"] >= summary["latency_s"]["p50"] > 0
    saved = json.loads((tmp_path / "load.json").read_text())
    assert len(saved["results"]) == summary["requests"] and saved["rss_samples"]
    assert (tmp_path / "load.png").stat().st_size > 10_000


def test_overload_is_shed_with_retry_after_and_the_rest_answered(tmp_path, models_dir):
    # A queue of 4 behind a batch of 16: most of the 50 streams are turned away at first, each with Retry-After.
    summary = run_load(LoadConfig(streams=50, duration_s=12, max_queue=4, out_dir=tmp_path, models_dir=models_dir,
                                  label="small-queue"))
    assert summary["status_counts"].get("429", 0) > 0, brief(summary)
    assert summary["shed_without_retry_after"] == 0, brief(summary)
    assert summary["unexpected_status"] == 0 and summary["accepted_incomplete"] == 0, brief(summary)
    assert summary["passed"], brief(summary)


def test_the_checks_catch_what_they_are_for():
    # Each property the drill asserts must be able to fail: a 500, a 429 without Retry-After, a cut stream.
    results = [StreamResult(0, 200, 1.0, 0.5, completed=True), StreamResult(0, 500, 0.1, error="boom"),
               StreamResult(0, 429, 0.1), StreamResult(0, 503, 0.1, retry_after="5"),
               StreamResult(0, 200, 2.0, completed=False, error="stream ended without [DONE]"),
               StreamResult(0, 0, 0.1, error="ConnectError")]
    facts = check_results(results)
    assert facts["unexpected_status"] == 2  # the 500 and the broken connection
    assert facts["shed_without_retry_after"] == 1 and facts["shed_429_503"] == 2
    assert facts["accepted_incomplete"] == 1 and facts["accepted_completed"] == 1
    growing = [(t, 500 + 3 * t) for t in range(0, 120)]
    flat = [(t, 500 + (t % 7)) for t in range(0, 120)]
    assert not rss_facts(growing, 120, 0.10)["bounded"]
    assert rss_facts(flat, 120, 0.10)["bounded"]
