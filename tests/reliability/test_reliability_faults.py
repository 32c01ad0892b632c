"""Fault drills against real processes, shortened: each kills a real process (SIGKILL) and checks the aftermath.

The full runs behind docs/reliability.md are `python -m eval.reliability faults`.
"""

from __future__ import annotations

import json

import pytest

from backend.process import VLLM_PYTHON
from eval.reliability.config import FaultConfig
from eval.reliability.faults import run_fault

pytestmark = pytest.mark.slow


def drill(name: str, tmp_path, models_dir, **overrides) -> dict:
    result = run_fault(name, FaultConfig(out_dir=tmp_path, models_dir=models_dir, **overrides))
    failed = [check for check, ok in result["checks"].items() if not ok]
    assert not failed and result["passed"], f"{name}: {failed} failed:\n{json.dumps(result, indent=1)[:6000]}"
    return result


@pytest.mark.parametrize("upstream", [
    "backend",
    pytest.param("vllm", marks=pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="no .venv-vllm (make vllm-env)")),
])
def test_model_server_killed_mid_stream(tmp_path, models_dir, upstream):
    result = drill("model_server", tmp_path, models_dir, upstream=upstream)
    [cut] = [a for a in result["attempts"] if a["cut"]]
    assert "mid-answer" in cut["error_events"][0]["message"]
    assert int(result["outage"]["retry_after"]) >= 1


def test_chroma_server_down_degrades_and_recovers(tmp_path, models_dir):
    result = drill("chroma", tmp_path, models_dir)
    assert result["down"]["medical"]["text"].startswith("Knowledge unavailable")
    assert result["down"]["ecommerce"]["completion_tokens"] > 0  # e-commerce still answers, flagged


def test_kill_9_during_ingestion_then_rerun(tmp_path, models_dir):
    result = drill("ingest", tmp_path, models_dir, ingest_files=16, ingest_kills=2)
    assert result["vectors"] == result["expected_chunks"] == result["visible_chunks"]


def test_kill_9_during_sft_then_resume(tmp_path, models_dir):
    result = drill("sft", tmp_path, models_dir, sft_steps=40)
    assert result["logged_steps"] == list(range(1, 41)) and max(result["checkpoints_at_kill"]) < 40


def test_concurrent_feedback_writes_under_chat_load(tmp_path, models_dir):
    result = drill("feedback", tmp_path, models_dir, feedback_duration_s=10, feedback_writers=8,
                   feedback_chat_streams=10)
    assert result["rows_written"] == result["acknowledged"] > 50
