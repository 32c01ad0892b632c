"""The backend HTTP API against real `python -m backend serve` processes on the tiny random LLaVA.

The tiny model's answers are gibberish, so these tests check structure, token counts, finish reasons,
error codes and that different paths (JSON vs. SSE, raw HTTP vs. the openai client) agree.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from support import image_bytes, png_header_only, start_backend, stop_backend

IMAGE_TOKENS = 16  # tiny LLaVA: (64 px / 16 px patches)^2 image features per image
LONG_QUESTION = "Where is my order?"  # greedy on the tiny model: runs to max_tokens without an EOS


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def noise_png(size: tuple[int, int], seed: int = 0) -> bytes:
    """A PNG that does not compress (random pixels), to exceed byte limits with few pixels."""
    rnd = random.Random(seed)
    img = Image.frombytes("RGB", size, bytes(rnd.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def user(text: str, *images: bytes) -> dict:
    return {
        "role": "user",
        "content": [*({"type": "image_url", "image_url": {"url": data_uri(i)}} for i in images),
                    {"type": "text", "text": text}],
    }


def chat_body(text: str = "What is in this picture?", *images: bytes, **extra) -> dict:
    return {"messages": [user(text, *images)], "max_tokens": 24, "temperature": 0, **extra}


def post(server, body, **kwargs) -> httpx.Response:
    """POST a chat request as the test agent (API key)."""
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120, headers=server.headers, **kwargs)


def sse_events(resp: httpx.Response) -> list:
    """Decoded `data:` payloads of an SSE response, `[DONE]` kept as the string."""
    events = []
    for line in resp.iter_lines():
        if line.startswith("data:"):
            data = line[5:].strip()
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def assert_error(resp: httpx.Response, status: int, code: str, *, mentions: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()["error"]
    assert {"message", "type", "code"} <= error.keys()
    assert error["code"] == code, error
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if mentions:
        assert mentions in error["message"], error["message"]
    return error


# -- chat completions -----------------------------------------------------------------------------


def test_chat_completion_with_image_has_openai_shape(backend):
    body = chat_body("What is in this picture?", image_bytes(), visiondesk={"domain": "ecommerce", "variant": "B"})
    resp = post(backend, body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["id"].startswith("chatcmpl-")
    assert out["object"] == "chat.completion"
    assert isinstance(out["created"], int)
    assert out["model"] == "tiny-llava"
    [choice] = out["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = out["usage"]
    assert usage["prompt_tokens"] > IMAGE_TOKENS
    assert 0 < usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 24
    ext = out["visiondesk"]
    assert ext["domain"] == "ecommerce"
    assert ext["variant"] == "B"
    assert ext["adapter"] is None
    assert ext["notice"] is None  # a real model path is configured: no placeholder notice
    assert isinstance(ext["citations"], list) and isinstance(ext["ocr_text"], list)


def test_image_tokens_are_counted_in_the_prompt(backend):
    with_image = post(backend, chat_body("Describe it.", image_bytes(), max_tokens=1)).json()
    without = post(backend, chat_body("Describe it.", max_tokens=1)).json()
    assert with_image["usage"]["prompt_tokens"] - without["usage"]["prompt_tokens"] >= IMAGE_TOKENS


def test_multi_turn_conversation(backend):
    history = [
        {"role": "system", "content": "You are a helpful customer-service assistant."},
        user("What is in this picture?", image_bytes()),
        {"role": "assistant", "content": "A red square."},
        {"role": "user", "content": "And what colour is it?"},
    ]
    resp = post(backend, {"messages": history, "max_tokens": 12, "temperature": 0})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["choices"][0]["finish_reason"] in ("stop", "length")
    alone = post(backend, {"messages": history[-1:], "max_tokens": 1}).json()
    # The earlier turns (and the image in them) are part of the prompt.
    assert out["usage"]["prompt_tokens"] > alone["usage"]["prompt_tokens"] + IMAGE_TOKENS


def test_streaming_matches_the_json_answer(backend):
    body = chat_body("What is in this picture?", image_bytes(color=(10, 120, 240)), max_tokens=32,
                     visiondesk={"domain": "medical", "variant": "A"})
    plain = post(backend, body).json()
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions", json={**body, "stream": True}, headers=backend.headers,
                      timeout=120) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    first = chunks[0]
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert first["visiondesk"]["domain"] == "medical"
    assert first["visiondesk"]["variant"] == "A"
    content_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) >= 3
    assert chunks[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
    assert all(c["choices"][0].get("finish_reason") is None for c in chunks[:-1])
    assert "usage" not in chunks[-1]  # only with stream_options.include_usage
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == plain["choices"][0]["message"]["content"]


def test_stream_include_usage(backend):
    body = chat_body("What is in this picture?", image_bytes(), max_tokens=16)
    plain = post(backend, body).json()
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions",
                      json={**body, "stream": True, "stream_options": {"include_usage": True}}, timeout=120,
                      headers=backend.headers) as resp:
        events = sse_events(resp)
    assert events[-1] == "[DONE]"
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == plain["usage"]
    assert events[-3]["choices"][0]["finish_reason"] in ("stop", "length")


def test_openai_client_chat_stream_and_models(backend):
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend.url}/v1", api_key=backend.api_key, max_retries=0, timeout=120)
    messages = [user("What is in this picture?", image_bytes(color=(0, 200, 0)))]
    completion = client.chat.completions.create(
        model="tiny-llava", messages=messages, max_tokens=20, temperature=0,
        extra_body={"visiondesk": {"domain": "ecommerce", "variant": "C"}},
    )
    assert completion.object == "chat.completion"
    assert isinstance(completion.choices[0].message.content, str)
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.prompt_tokens > IMAGE_TOKENS
    assert completion.model_extra["visiondesk"]["variant"] == "C"

    stream = client.chat.completions.create(
        model="tiny-llava", messages=messages, max_tokens=20, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == completion.choices[0].message.content
    assert finish == completion.choices[0].finish_reason
    assert usage.completion_tokens == completion.usage.completion_tokens

    ids = [m.id for m in client.models.list()]
    assert "tiny-llava" in ids


# -- models, health, readiness, OpenAPI ---------------------------------------------------------


def test_models_health_readiness(backend):
    models = httpx.get(f"{backend.url}/v1/models", headers=backend.headers).json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "tiny-llava"
    assert models["data"][0]["kind"] == "base"
    assert all(m["object"] == "model" for m in models["data"])
    health = httpx.get(f"{backend.url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = httpx.get(f"{backend.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["model"] == "tiny-llava"
    assert ready.json()["engine"] == "transformers"


def test_openapi_documents_every_field(backend):
    spec = httpx.get(f"{backend.url}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "ChatCompletionRequest" in schemas and "ChatCompletion" in schemas
    undocumented = []

    def walk(name: str, schema: dict) -> None:
        for prop, sub in (schema.get("properties") or {}).items():
            if not str(sub.get("description") or "").strip():
                undocumented.append(f"{name}.{prop}")
            walk(f"{name}.{prop}", sub)
        for def_name, sub in (schema.get("$defs") or {}).items():
            walk(def_name, sub)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(name, schema[key])
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key) or []:
                walk(name, sub)

    for name, schema in schemas.items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        walk(name, schema)
    assert not undocumented, f"properties without a description: {undocumented}"


# -- input limits ----------------------------------------------------------------------------------

LIMITS_ENV = {
    "VISIONDESK_LIMITS__MAX_IMAGE_BYTES": "2000",
    "VISIONDESK_LIMITS__MAX_IMAGES_PER_REQUEST": "2",
    "VISIONDESK_LIMITS__MAX_PROMPT_CHARS": "500",
    "VISIONDESK_LIMITS__MAX_BODY_BYTES": "200000",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory, tiny_llava):
    """A backend with small input limits."""
    running = start_backend(
        tmp_path_factory.mktemp("limited"),
        {"VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_MODEL__NAME": "tiny-llava", **LIMITS_ENV},
    )
    yield running
    stop_backend(running)


def test_small_image_within_limits_is_answered(limited):
    small = image_bytes((32, 32))
    assert len(small) < 2000
    resp = post(limited, chat_body("What is it?", small, small, max_tokens=2))
    assert resp.status_code == 200, resp.text


def test_image_bytes_limit(limited):
    big = noise_png((40, 40))
    assert len(big) > 2000
    error = assert_error(post(limited, chat_body("What is it?", big)), 413, "max_image_bytes",
                         mentions="limits.max_image_bytes")
    assert error["param"] == "messages[0].content"


@pytest.mark.parametrize("size", [(30_000, 30_000), (5_000, 5_000)])
def test_pixel_limit_is_checked_from_the_header(limited, size):
    bomb = png_header_only(*size)
    assert len(bomb) < 2000
    started = time.perf_counter()
    resp = post(limited, chat_body("What is it?", bomb))
    assert time.perf_counter() - started < 5.0
    assert_error(resp, 413, "max_image_pixels", mentions="limits.max_image_pixels")


@pytest.mark.parametrize("fmt", ["TIFF", "ICO"])
def test_image_format_not_accepted(limited, fmt):
    data = image_bytes((16, 16), fmt=fmt)  # ICO needs >= 16 px or Pillow writes no image at all
    assert len(data) < 2000
    error = assert_error(post(limited, chat_body("What is it?", data)), 415, "image_formats",
                         mentions="limits.image_formats")
    assert fmt in error["message"]


@pytest.mark.parametrize(
    "data",
    [os.urandom(64) + b"random", noise_png((12, 12))[:150]],
    ids=["random-bytes", "truncated-png"],
)
def test_corrupt_image(limited, data):
    assert_error(post(limited, chat_body("What is it?", data)), 400, "image_formats")


def test_images_per_request_limit(limited):
    small = image_bytes((8, 8))
    assert_error(post(limited, chat_body("Compare them.", small, small, small)), 400,
                 "max_images_per_request", mentions="limits.max_images_per_request")


def test_prompt_length_limit(limited):
    assert_error(post(limited, chat_body("x" * 501)), 400, "max_prompt_chars", mentions="limits.max_prompt_chars")


def _oversized_body() -> bytes:
    body = json.dumps(chat_body("hello", max_tokens=1) | {"user": "u" * 250_000}).encode()
    assert len(body) > 200_000
    return body


def test_body_size_limit_with_content_length(limited):
    resp = httpx.post(f"{limited.url}/v1/chat/completions", content=_oversized_body(),
                      headers={"content-type": "application/json", **limited.headers}, timeout=60)
    assert_error(resp, 413, "max_body_bytes", mentions="limits.max_body_bytes")


def test_body_size_limit_with_chunked_body(limited):
    body = _oversized_body()

    def chunks():
        for i in range(0, len(body), 16_384):
            yield body[i : i + 16_384]

    resp = httpx.post(f"{limited.url}/v1/chat/completions", content=chunks(),
                      headers={"content-type": "application/json", **limited.headers}, timeout=60)
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "max_body_bytes", mentions="limits.max_body_bytes")
    # The server is fine afterwards.
    assert post(limited, chat_body("hello", max_tokens=1)).status_code == 200


def test_body_just_under_the_limit_is_accepted(limited):
    body = json.dumps(chat_body("hello", max_tokens=1) | {"user": "u" * 150_000}).encode()
    assert len(body) < 200_000
    resp = httpx.post(f"{limited.url}/v1/chat/completions", content=body,
                      headers={"content-type": "application/json", **limited.headers}, timeout=60)
    assert resp.status_code == 200, resp.text


def test_empty_question(limited):
    assert_error(post(limited, chat_body("   \n\t ")), 400, "empty_question")


def test_unknown_model(limited):
    error = assert_error(post(limited, chat_body("hello", model="no-such-model")), 404, "model_not_found")
    assert "tiny-llava" in error["message"]  # says what is served


def test_remote_image_urls_disabled(limited):
    body = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "text", "text": "What is it?"},
    ]}]}
    assert_error(post(limited, body), 400, "allow_remote_urls", mentions="images.allow_remote_urls")


def test_invalid_base64(limited):
    body = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not-base64@@"}},
        {"type": "text", "text": "What is it?"},
    ]}]}
    error = assert_error(post(limited, body), 400, "image_url")
    assert "base64" in error["message"]


def test_malformed_json_body(limited):
    resp = httpx.post(f"{limited.url}/v1/chat/completions", content=b'{"messages": [',
                      headers={"content-type": "application/json", **limited.headers}, timeout=30)
    error = assert_error(resp, 400, "invalid_body")
    assert "not valid JSON" in error["message"]
    assert error.get("param") is None  # the syntax error's offset is not a field


def test_schema_violation_is_a_400_naming_the_field(limited):
    resp = post(limited, {"messages": [{"role": "robot", "content": "hi"}]})
    error = assert_error(resp, 400, "invalid_body")
    assert "role" in error["message"]


# -- queue bound ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_slot(tmp_path_factory, tiny_llava):
    """A backend that decodes one request at a time and lets one more wait."""
    running = start_backend(
        tmp_path_factory.mktemp("single-slot"),
        {
            "VISIONDESK_MODEL__PATH": str(tiny_llava),
            "VISIONDESK_MODEL__NAME": "tiny-llava",
            "VISIONDESK_MODEL__MAX_QUEUE": "1",
            "VISIONDESK_MODEL__MAX_BATCH_SIZE": "1",
        },
    )
    yield running
    stop_backend(running)


def test_full_queue_answers_429_with_retry_after(single_slot):
    # 2048 is model.max_tokens_limit's default and, with a ~20-token prompt, well inside the tiny model's
    # 4096 positions; greedy decoding of LONG_QUESTION does not hit EOS, so each request takes seconds.
    body = {"messages": [{"role": "user", "content": LONG_QUESTION}], "max_tokens": 2048, "temperature": 0}
    n = 8
    barrier = threading.Barrier(n)

    def call(_):
        barrier.wait()
        return httpx.post(f"{single_slot.url}/v1/chat/completions", json=body, timeout=180,
                          headers=single_slot.headers)

    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(call, range(n)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429}, [r.text for r in responses]
    busy = [r for r in responses if r.status_code == 429]
    done = [r for r in responses if r.status_code == 200]
    assert busy, f"no request was refused: {statuses}"
    assert done, f"no request was answered: {statuses}"
    for r in busy:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert r.json()["error"]["message"]
    for r in done:
        out = r.json()
        assert out["choices"][0]["finish_reason"] in ("stop", "length")
        assert 0 < out["usage"]["completion_tokens"] <= 2048
    # Once the queue drains, the server answers again.
    assert post(single_slot, chat_body("hello", max_tokens=2)).status_code == 200


# -- client disconnect ------------------------------------------------------------------------------


def test_client_disconnect_mid_stream_leaves_the_server_working(backend):
    body = {"messages": [user(LONG_QUESTION)], "max_tokens": 2048, "temperature": 0, "stream": True}
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{backend.url}/v1/chat/completions", json=body, headers=backend.headers) as resp:
            assert resp.status_code == 200
            got_content = False
            for line in resp.iter_lines():
                if line.startswith("data:") and '"content":"' in line and '"content":""' not in line:
                    got_content = True
                    break
            assert got_content
        # Leaving the block closes the connection mid-answer.
    started = time.perf_counter()
    resp = post(backend, chat_body("Still there?", image_bytes(), max_tokens=4))
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    # The abandoned answer's ~2000 remaining tokens (seconds of decoding) were cancelled, not finished first.
    assert elapsed < 2.5, f"follow-up took {elapsed:.1f}s: the disconnected stream kept decoding"
    assert resp.json()["usage"]["completion_tokens"] > 0
    assert httpx.get(f"{backend.url}/readyz").json()["ready"] is True
