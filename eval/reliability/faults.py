"""The fault drills by name: what `python -m eval.reliability faults --only ...` and the tests run."""

from __future__ import annotations

from eval.reliability.config import FaultConfig
from eval.reliability.report import Progress


def run_fault(name: str, config: FaultConfig, progress: Progress | None = None) -> dict:
    """Run one fault drill (a name from config.FAULTS); returns its result with `checks` and `passed`."""
    from eval.reliability import feedback, ingest_kill, knowledge_down, model_server, sft_kill

    drills = {"model_server": model_server.run, "chroma": knowledge_down.run, "ingest": ingest_kill.run,
              "sft": sft_kill.run, "feedback": feedback.run}
    return drills[name](config, progress or Progress(name))
