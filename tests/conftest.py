"""Shared fixtures: tiny models built from configs, and real backend servers started the way users start them."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# An empty model.path serves the demo model (assembled from parts, ~1 min); tests that want it say so.
os.environ.setdefault("VISIONDESK_MODEL__DEFAULT", "placeholder")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from support import RunningBackend, start_backend, stop_backend  # noqa: E402


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_llava(models_dir) -> Path:
    from backend.models.tiny import ensure_tiny_model

    return ensure_tiny_model("llava", models_dir)


@pytest.fixture(scope="session")
def lora_adapter(tiny_llava, tmp_path_factory) -> Path:
    """A random LoRA adapter ("shop") for the tiny LLaVA."""
    from backend.models.tiny import build_tiny_lora

    return build_tiny_lora(tiny_llava, tmp_path_factory.mktemp("adapter") / "shop")


@pytest.fixture(scope="session")
def backend(tmp_path_factory, tiny_llava) -> Iterator[RunningBackend]:
    """A real backend on the tiny LLaVA, shared by the API tests."""
    tmp = tmp_path_factory.mktemp("backend")
    running = start_backend(tmp, {"VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_MODEL__NAME": "tiny-llava"})
    yield running
    stop_backend(running)
