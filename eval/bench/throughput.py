"""TransformersEngine throughput: 16 concurrent requests (dynamic batching) vs the same 16 one at a time."""

from __future__ import annotations

import asyncio
import time

from PIL import Image

from eval.bench.common import Result


def _request(i: int, image: Image.Image, max_tokens: int):
    from backend.engines import GenerationRequest, SamplingParams

    return GenerationRequest(
        messages=[{"role": "user", "content": [{"type": "image"},
                                               {"type": "text", "text": f"Customer {i}: what is in this photo?"}]}],
        images=[image],
        sampling=SamplingParams(max_tokens=max_tokens),
    )


async def _measure(model_path, concurrency: int, max_tokens: int) -> dict:
    from backend.engines import resolve_dtype
    from backend.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(model_path, dtype=resolve_dtype("auto", "cpu"), max_batch_size=concurrency,
                                batch_wait_ms=20)
    await engine.start()
    image = Image.new("RGB", (640, 480), (180, 40, 40))
    try:
        await engine.complete(_request(0, image, 4))  # warm-up
        n = 16
        t0 = time.perf_counter()
        if concurrency == 1:
            results = [await engine.complete(_request(i, image, max_tokens)) for i in range(n)]
        else:
            results = await asyncio.gather(*[engine.complete(_request(i, image, max_tokens)) for i in range(n)])
        elapsed = time.perf_counter() - t0
    finally:
        await engine.close()
    tokens = sum(r.completion_tokens for r in results)
    return {"tokens": tokens, "seconds": elapsed, "tokens_per_s": tokens / elapsed}


def run(model_path, max_tokens: int = 32) -> Result:
    from backend.engines import resolve_dtype

    sequential = asyncio.run(_measure(model_path, 1, max_tokens))
    batched = asyncio.run(_measure(model_path, 16, max_tokens))
    ratio = batched["tokens_per_s"] / sequential["tokens_per_s"]
    return Result(
        "TransformersEngine throughput, concurrency 16 / one at a time",
        ratio,
        ">= 3.0",
        ratio >= 3.0,
        {"sequential": sequential, "concurrency_16": batched, "requests": 16, "max_tokens": max_tokens,
         "dtype": resolve_dtype("auto", "cpu")},
    )
