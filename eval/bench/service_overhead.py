"""Service overhead: end-to-end latency through the backend's HTTP API vs calling the engine directly.

Same model, same prompt and image, greedy, one request at a time. The engine runs in this process for the
direct numbers; the backend runs as `python -m backend serve` for the HTTP numbers (never both at once).
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from pathlib import Path

from PIL import Image

from eval.bench.common import Result, median, percentile, screenshot_png

QUESTION = "What does this order screenshot say about the shipping status?"


def _direct(model_path, png: bytes, n: int, max_tokens: int) -> list[float]:
    from backend.engines import GenerationRequest, SamplingParams
    from backend.engines.transformers_engine import TransformersEngine
    from backend.images import ImageLoader
    from backend.settings import ImageSettings, LimitSettings

    async def go() -> list[float]:
        engine = TransformersEngine(model_path)
        await engine.start()
        loader = ImageLoader(LimitSettings(), ImageSettings())
        image: Image.Image = loader.decode(png)
        times = []
        try:
            for i in range(n + 2):
                request = GenerationRequest(
                    messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}],
                    images=[image], sampling=SamplingParams(max_tokens=max_tokens))
                t0 = time.perf_counter()
                await engine.complete(request)
                if i >= 2:  # the first two warm caches and kernels
                    times.append(time.perf_counter() - t0)
        finally:
            await engine.close()
        return times

    return asyncio.run(go())


def _through_backend(model_path, png: bytes, n: int, max_tokens: int) -> list[float]:
    import httpx

    from backend.process import start_backend

    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                      {"type": "text", "text": QUESTION}]}],
            "max_tokens": max_tokens, "temperature": 0}
    with tempfile.TemporaryDirectory() as tmp:
        backend = start_backend(Path(tmp), {"VISIONDESK_MODEL__PATH": str(model_path),
                                            "VISIONDESK_DATA_DIR": tmp, "VISIONDESK_SERVER__LOG_LEVEL": "warning"})
        times = []
        try:
            with httpx.Client(base_url=backend.url, timeout=300) as client:
                for i in range(n + 2):
                    t0 = time.perf_counter()
                    resp = client.post("/v1/chat/completions", json=body)
                    resp.raise_for_status()
                    if i >= 2:
                        times.append(time.perf_counter() - t0)
        finally:
            backend.stop()
    return times


def run(model_path, n: int = 20, max_tokens: int = 16) -> Result:
    png = screenshot_png()
    direct = _direct(model_path, png, n, max_tokens)
    served = _through_backend(model_path, png, n, max_tokens)
    ratio = median(served) / median(direct)
    return Result(
        "service overhead, backend HTTP / direct engine (p50)",
        ratio,
        "<= 1.05",
        ratio <= 1.05,
        {"direct_ms": {"p50": median(direct) * 1000, "p95": percentile(direct, 0.95) * 1000},
         "backend_ms": {"p50": median(served) * 1000, "p95": percentile(served, 0.95) * 1000},
         "p95_ratio": percentile(served, 0.95) / percentile(direct, 0.95),
         "requests": n, "max_tokens": max_tokens, "image": "1280x800 PNG screenshot"},
    )
