"""Settings of the reliability drills (one dataclass per drill family), filled from the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backend.process import ROOT

DEFAULT_OUT = ROOT / "var" / "reliability"
FAULTS = ("model_server", "chroma", "ingest", "sft", "feedback")


@dataclass
class LoadConfig:
    """Many concurrent streaming chats against one backend on the tiny model."""

    streams: int = 50  # concurrent clients, each asking back to back
    duration_s: float = 120.0
    max_tokens: int = 32
    image_px: tuple[int, int] = (320, 200)  # a screenshot-like PNG with every question; (0, 0): text only
    max_queue: int | None = None  # the backend's model.max_queue; None: its default
    request_timeout_s: float = 120.0
    rss_growth_limit: float = 0.10  # memory is "bounded" when the last quarter's peak stays within this of the
    #                                 first half's peak (after warm-up)
    out_dir: Path = DEFAULT_OUT
    models_dir: Path = DEFAULT_OUT / "models"
    label: str = "load"  # file name stem of the results


@dataclass
class FaultConfig:
    """Which fault drills run and how big each is."""

    only: list[str] = field(default_factory=lambda: list(FAULTS))
    out_dir: Path = DEFAULT_OUT
    models_dir: Path = DEFAULT_OUT / "models"
    upstream: str = "auto"  # model-server drill: `vllm` (from .venv-vllm), `backend` (a second backend), `auto`
    stream_max_tokens: int = 1500  # long enough that the model server dies mid-answer
    ingest_files: int = 40
    ingest_kills: int = 3
    sft_steps: int = 40
    sft_kill_after_step: int = 4
    feedback_writers: int = 10
    feedback_chat_streams: int = 20
    feedback_duration_s: float = 30.0
