"""`python -m finetune.align`: assembling CLIP + LLM + fresh projector, and stage-1 projector-only training."""

from __future__ import annotations

import json

import pytest
import torch
from ft_helpers import build_parts, greedy_ids
from PIL import Image
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer, CLIPVisionModel

from backend.models.processors import load_processor


def tensors(folder) -> dict:
    out = {}
    for path in folder.glob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            out.update({k: f.get_tensor(k) for k in f.keys()})
    return out


def test_assembled_checkpoint_keeps_both_parts_and_vllm_key_layout(tmp_path):
    from finetune.align import main

    clip, lm = build_parts(tmp_path)
    out = tmp_path / "assembled"
    assert main(["--vision_model", str(clip), "--language_model", str(lm), "--assemble_only", "true",
                 "--output_dir", str(out)]) == 0
    saved = tensors(out)
    vision_keys = [k for k in saved if "vision_tower" in k]
    assert vision_keys and all(k.startswith("vision_tower.vision_model.") for k in vision_keys)
    config = json.loads((out / "config.json").read_text())
    assert config["image_seq_length"] == 16 and config["model_type"] == "llava"

    model = AutoModelForImageTextToText.from_pretrained(out).eval()
    clip_model = CLIPVisionModel.from_pretrained(clip)
    assert torch.equal(model.model.vision_tower.embeddings.patch_embedding.weight,
                       clip_model.embeddings.patch_embedding.weight)
    # Text-only, the assembled model is the LLM it was built from.
    llm = AutoModelForCausalLM.from_pretrained(lm).eval()
    ids = AutoTokenizer.from_pretrained(lm)("The box is damaged.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, llm(input_ids=ids).logits, atol=1e-5)
    # And it answers an image question end to end with its own processor.
    processor = load_processor(out)
    assert len(greedy_ids(model, processor, Image.new("RGB", (80, 60), (200, 10, 10)), n=3)) >= 1


def test_stage1_trains_the_projector_only(aligned_model):
    history = json.loads((aligned_model / "metrics.json").read_text())["log_history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < losses[0]
    from finetune.align import assemble

    # Assembly is seeded: a fresh one is the model before training.

    fresh, _ = assemble(aligned_model.parent / "clip", aligned_model.parent / "lm")
    fresh_state = {k: v for k, v in fresh.state_dict().items()}
    trained = AutoModelForImageTextToText.from_pretrained(aligned_model).state_dict()
    changed = {k for k in fresh_state if not torch.equal(fresh_state[k], trained[k])}
    assert changed and all("multi_modal_projector" in k for k in changed), sorted(changed)[:5]


def run_stage1(parts, tmp_path, out, *flags: str) -> int:
    """`finetune.align` on the fixture's CLIP + LM and fresh captions, with extra flags."""
    from finetune.align import main
    from ft_helpers import write_captions

    return main(["--vision_model", str(parts / "clip"), "--language_model", str(parts / "lm"),
                 "--train_file", str(write_captions(tmp_path / "captions")), "--output_dir", str(out),
                 "--per_device_train_batch_size", "4", "--learning_rate", "1e-2", "--dataloader_num_workers", "0",
                 *flags])


def test_stage1_can_train_the_vision_tower_too_but_never_the_llm(aligned_model, tmp_path):
    from finetune.align import assemble

    parts = aligned_model.parent
    out = tmp_path / "tower"
    assert run_stage1(parts, tmp_path, out, "--train_vision_tower", "true", "--max_steps", "3") == 0
    fresh, _ = assemble(parts / "clip", parts / "lm")
    before = fresh.state_dict()
    after = AutoModelForImageTextToText.from_pretrained(out).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any("vision_tower" in k for k in changed) and any("multi_modal_projector" in k for k in changed)
    assert not [k for k in changed if "language_model" in k or "lm_head" in k]


def test_stage1_with_a_bfloat16_llm_trains_the_projector_and_saves_the_llm_unrounded(aligned_model, tmp_path):
    from finetune.align import assemble

    parts = aligned_model.parent
    out = tmp_path / "bf16"
    assert run_stage1(parts, tmp_path, out, "--llm_dtype", "bfloat16", "--max_steps", "6") == 0
    losses = [h["loss"] for h in json.loads((out / "metrics.json").read_text())["log_history"] if "loss" in h]
    assert losses[-1] < losses[0]
    before = assemble(parts / "clip", parts / "lm")[0].state_dict()
    after = AutoModelForImageTextToText.from_pretrained(out).state_dict()
    assert all(v.dtype == torch.float32 for v in after.values())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # The LLM trained in bfloat16 but is saved with its original float32 weights: only the projector moved.
    assert changed and all("multi_modal_projector" in k for k in changed), sorted(changed)[:5]


def test_stage1_refuses_an_unknown_llm_dtype(aligned_model, tmp_path):
    with pytest.raises(SystemExit, match="--llm_dtype 'int8': use float32, bfloat16 or float16"):
        run_stage1(aligned_model.parent, tmp_path, tmp_path / "x", "--llm_dtype", "int8", "--max_steps", "1")
