"""OpenAIEngine against a real OpenAI-compatible server: the VisionDesk backend itself on the tiny LLaVA."""

from __future__ import annotations

import base64
import io
import time

import httpx
import pytest
from PIL import Image

from backend.engines import EngineError, EngineUnavailable, GenerationRequest, SamplingParams, UnknownAdapter
from backend.engines.openai_engine import OpenAIEngine
from support import free_port, image_bytes


def ask(question: str, *, image: Image.Image | None = None, adapter: str | None = None,
        max_tokens: int = 24) -> GenerationRequest:
    content = ([{"type": "image"}] if image is not None else []) + [{"type": "text", "text": question}]
    return GenerationRequest(
        messages=[{"role": "user", "content": content}],
        images=[image] if image is not None else [],
        sampling=SamplingParams(max_tokens=max_tokens),
        adapter=adapter,
    )


def down_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
async def engine(backend):
    eng = OpenAIEngine(f"{backend.url}/v1", api_key=backend.api_key, max_retries=0, timeout_s=120)
    await eng.start()
    yield eng
    await eng.close()


async def test_start_picks_the_served_model_and_is_ready(engine):
    assert engine.model_id == "tiny-llava"
    ready, reason = await engine.readiness()
    assert ready is True
    assert "tiny-llava" in reason


async def test_stream_with_image_equals_the_backends_own_answer(engine, backend):
    png = image_bytes((72, 56), color=(30, 160, 90))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    question = "What is in this picture?"

    deltas = [d async for d in engine.stream(ask(question, image=image, max_tokens=24))]
    text = "".join(d.text for d in deltas)
    assert len([d for d in deltas if d.text]) > 1  # streamed, not one piece
    final = deltas[-1]
    assert final.finish_reason in ("stop", "length")
    assert all(d.finish_reason is None for d in deltas[:-1])

    direct = httpx.post(
        f"{backend.url}/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
                {"type": "text", "text": question},
            ]}],
            "max_tokens": 24,
            "temperature": 0,
        },
        headers=backend.headers,
        timeout=120,
    ).json()
    assert text == direct["choices"][0]["message"]["content"]
    assert final.finish_reason == direct["choices"][0]["finish_reason"]
    assert final.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert final.completion_tokens == direct["usage"]["completion_tokens"]

    completion = await engine.complete(ask(question, image=image, max_tokens=24))
    assert completion.text == text
    assert completion.prompt_tokens == direct["usage"]["prompt_tokens"]

    # Non-incremental: one upstream JSON answer, the same text, then the final delta with usage.
    whole = ask(question, image=image, max_tokens=24)
    whole.incremental = False
    deltas = [d async for d in engine.stream(whole)]
    assert [d.text for d in deltas] == [text, ""]
    assert deltas[-1].finish_reason == final.finish_reason
    assert deltas[-1].completion_tokens == final.completion_tokens


async def test_adapter_not_configured_is_refused_locally(engine):
    with pytest.raises(UnknownAdapter, match="not configured"):
        async for _ in engine.stream(ask("hello", adapter="brand-lora")):
            pass


async def test_configured_adapter_the_server_lacks(backend):
    eng = OpenAIEngine(f"{backend.url}/v1", api_key=backend.api_key, model="tiny-llava", adapters=["ghost-lora"], max_retries=0)
    try:
        ready, reason = await eng.readiness()
        assert ready is False and "ghost-lora" in reason
        with pytest.raises(UnknownAdapter, match="404"):
            async for _ in eng.stream(ask("hello", adapter="ghost-lora")):
                pass
    finally:
        await eng.close()


async def test_server_down_is_retried_with_backoff_then_unavailable():
    eng = OpenAIEngine(down_url(), model="m", max_retries=2, backoff_s=0.2, connect_timeout_s=2)
    try:
        started = time.perf_counter()
        with pytest.raises(EngineUnavailable) as err:
            async for _ in eng.stream(ask("hello")):
                pass
        elapsed = time.perf_counter() - started
    finally:
        await eng.close()
    assert "unreachable" in str(err.value)
    assert "3 attempts" in str(err.value)
    assert elapsed >= 0.2 + 0.4 - 0.02  # two backoffs: 0.2 s, then doubled
    assert elapsed < 10


async def test_http_4xx_is_final_not_retried(backend):
    eng = OpenAIEngine(f"{backend.url}/v1", api_key=backend.api_key, model="tiny-llava", max_retries=3, backoff_s=2.0)
    try:
        started = time.perf_counter()
        with pytest.raises(EngineError) as err:
            async for _ in eng.stream(ask("   ")):
                pass
        elapsed = time.perf_counter() - started
    finally:
        await eng.close()
    assert not isinstance(err.value, EngineUnavailable)
    assert err.value.status == 400
    assert "400" in str(err.value) and "empty" in str(err.value)
    assert elapsed < 2.0  # no backoff sleep happened


async def test_readiness_false_with_reason_when_down():
    url = down_url()
    eng = OpenAIEngine(url, max_retries=0)
    try:
        await eng.start()  # must not raise while the server is down
        ready, reason = await eng.readiness()
    finally:
        await eng.close()
    assert ready is False
    assert "unreachable" in reason and url in reason
