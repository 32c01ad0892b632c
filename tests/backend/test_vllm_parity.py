"""The prompt a real vLLM server builds from OpenAIEngine's request equals the in-process engine's prompt.

Starts vLLM's OpenAI server (the CPU build from `make vllm-env`) on each tiny model family and asks it to
return the prompt token ids it generated from (`return_token_ids`), image tokens expanded.
"""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from backend.engines.base import GenerationRequest
from backend.engines.openai_engine import to_openai_messages
from backend.engines.transformers_engine import TransformersEngine
from backend.models.tiny import FAMILIES, ensure_tiny_model
from backend.process import start_vllm

pytestmark = pytest.mark.slow

MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": "You are a helpful customer-service assistant."}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is wrong with this package? 包裹怎么了？"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "The box looks dented."}]},
    {"role": "user", "content": [{"type": "text", "text": "And this one?"}, {"type": "image"}]},
]


@pytest.fixture(scope="module", params=FAMILIES)
def family_server(request, models_dir, tmp_path_factory):
    path = ensure_tiny_model(request.param, models_dir)
    server = start_vllm(path, tmp_path_factory.mktemp(f"vllm-{request.param}"), extra_args=["--dtype", "bfloat16"])
    yield path, server
    server.stop()


def test_vllm_prompt_ids_equal_the_engine_prompt_ids(family_server):
    path, server = family_server
    images = [Image.new("RGB", (96, 72), (30, 120, 200)), Image.new("RGB", (50, 110), (220, 200, 20))]
    payload = {"model": str(path), "messages": to_openai_messages(MESSAGES, images), "max_tokens": 2,
               "temperature": 0, "return_token_ids": True}
    resp = httpx.post(f"{server.url}/chat/completions", json=payload, timeout=120)
    assert resp.status_code == 200, resp.text
    served_by_vllm = resp.json()["prompt_token_ids"]

    engine = TransformersEngine(path)
    engine._load()
    text = engine.render_prompt(GenerationRequest(messages=MESSAGES, images=images))
    ours = engine.processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist()
    assert ours == served_by_vllm
    assert ours.count(engine.model.config.image_token_id) >= 2 * 4
