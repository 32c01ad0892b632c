"""Service overhead: end-to-end latency through the backend's HTTP API vs calling the engine directly.

Same model, dtype, prompt and image, greedy, one request at a time. The engine runs in this process for the
direct numbers and the backend as `python -m backend serve` for the HTTP numbers. Requests alternate between
the two (never overlapping), so slow drifts of the machine hit both sides alike.
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from pathlib import Path

from eval.bench.common import Result, median, percentile, screenshot_png

QUESTION = "What does this order screenshot say about the shipping status?"


def run(model_path, n: int = 30, max_tokens: int = 16) -> Result:
    return asyncio.run(_run(model_path, n, max_tokens))


async def _run(model_path, n: int, max_tokens: int) -> Result:
    import httpx

    from backend.engines import GenerationRequest, SamplingParams, resolve_dtype
    from backend.engines.transformers_engine import TransformersEngine
    from backend.images import ImageLoader
    from backend.process import start_backend
    from backend.settings import ImageSettings, LimitSettings

    dtype = resolve_dtype("auto", "cpu")
    png = screenshot_png()
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                      {"type": "text", "text": QUESTION}]}],
            "max_tokens": max_tokens, "temperature": 0}
    loader = ImageLoader(LimitSettings(), ImageSettings())
    engine = TransformersEngine(model_path, dtype=dtype)
    await engine.start()
    direct, served = [], []
    with tempfile.TemporaryDirectory() as tmp:
        backend = start_backend(Path(tmp), {"VISIONDESK_MODEL__PATH": str(model_path), "VISIONDESK_MODEL__DTYPE": dtype,
                                            "VISIONDESK_DATA_DIR": tmp, "VISIONDESK_SERVER__LOG_LEVEL": "warning",
                                            # The engine is compared with the serving path alone (no retrieval/OCR).
                                            "VISIONDESK_KNOWLEDGE__ENABLED": "false",
                                            "VISIONDESK_AUTH__ADMIN_PASSWORD": "bench-pass"})
        try:
            token = httpx.post(f"{backend.url}/v1/auth/login", timeout=30,
                               json={"username": "admin", "password": "bench-pass"}).json()["token"]
            async with httpx.AsyncClient(base_url=backend.url, timeout=300,
                                         headers={"Authorization": f"Bearer {token}"}) as client:
                for i in range(n + 2):  # the first two rounds warm caches and kernels
                    t0 = time.perf_counter()
                    # The direct side decodes the image too, as the backend does for every request.
                    request = GenerationRequest(
                        messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}],
                        images=[loader.load(uri)], sampling=SamplingParams(max_tokens=max_tokens))
                    await engine.complete(request)
                    t1 = time.perf_counter()
                    resp = await client.post("/v1/chat/completions", json=body)
                    resp.raise_for_status()
                    t2 = time.perf_counter()
                    if i >= 2:
                        direct.append(t1 - t0)
                        served.append(t2 - t1)
        finally:
            backend.stop()
            await engine.close()
    ratio = median(served) / median(direct)
    return Result(
        "service overhead, backend HTTP / direct engine (p50)",
        ratio,
        "<= 1.05",
        ratio <= 1.05,
        {"direct_ms": {"p50": median(direct) * 1000, "p95": percentile(direct, 0.95) * 1000},
         "backend_ms": {"p50": median(served) * 1000, "p95": percentile(served, 0.95) * 1000},
         "p95_ratio": percentile(served, 0.95) / percentile(direct, 0.95),
         "requests": n, "max_tokens": max_tokens, "dtype": dtype, "image": "1280x800 PNG screenshot"},
    )
