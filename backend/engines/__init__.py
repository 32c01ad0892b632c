"""Model engines behind one interface, and the factory that picks one from the settings."""

from __future__ import annotations

from pathlib import Path

from backend.engines.base import (
    Completion,
    Delta,
    Engine,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    SamplingParams,
    UnknownAdapter,
)
from backend.settings import Settings

__all__ = [
    "Completion",
    "Delta",
    "Engine",
    "EngineBusy",
    "EngineError",
    "EngineUnavailable",
    "GenerationRequest",
    "SamplingParams",
    "UnknownAdapter",
    "make_engine",
    "default_model_path",
    "PLACEHOLDER_NOTICE",
]

PLACEHOLDER_NOTICE = (
    "VisionDesk is running on its tiny placeholder model (random weights): answers are gibberish until a real "
    "model is configured with model.path."
)


def default_model_path(settings: Settings) -> Path:
    """The embedded default: a tiny placeholder LLaVA built once under data_dir."""
    from backend.models.tiny import ensure_tiny_model

    return ensure_tiny_model("llava", settings.data_dir / "models")


def is_placeholder(settings: Settings) -> bool:
    return settings.model.engine == "transformers" and not settings.model.path


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` → bfloat16 where the hardware computes it natively, float32 elsewhere."""
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def make_engine(settings: Settings) -> Engine:
    m = settings.model
    if m.engine == "openai":
        from backend.engines.openai_engine import OpenAIEngine

        return OpenAIEngine.from_settings(settings)
    from backend.engines.transformers_engine import TransformersEngine

    if m.threads:
        import torch

        torch.set_num_threads(m.threads)
    path = m.path or str(default_model_path(settings))
    dtype = resolve_dtype(m.dtype, m.device)
    return TransformersEngine(
        path,
        name=m.name or ("visiondesk-placeholder" if not m.path else ""),
        adapters=m.adapters,
        dtype=dtype,
        device=m.device,
        max_batch_size=m.max_batch_size,
        batch_wait_ms=m.batch_wait_ms,
        max_queue=m.max_queue,
        feature_cache_size=settings.images.cache_size,
    )
