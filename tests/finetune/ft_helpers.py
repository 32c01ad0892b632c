"""Helpers for finetune tests: small on-disk datasets and in-process / subprocess SFT runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 220), "yellow": (230, 220, 30)}
REPO = Path(__file__).resolve().parents[2]
# Subprocess environment for CLI runs: offline, quiet tokenizers.
ROOT_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


def write_dataset(folder: Path, repeat: int = 2, answer: str = "The package is {color}.") -> Path:
    """A JSONL file of messages+images rows (images in folder/images), one row per color, `repeat` times."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    lines = []
    for _ in range(repeat):
        for color, rgb in COLORS.items():
            image = folder / "images" / f"{color}.png"
            if not image.exists():
                Image.new("RGB", (64, 48), rgb).save(image)
            lines.append({
                "messages": [
                    {"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": "What color is the box?"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": answer.format(color=color)}]},
                ],
                "images": [f"images/{color}.png"],
            })
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


# Strong enough that greedy decoding follows the adapter, so base and tuned outputs differ everywhere.
STRONG = ["--learning_rate", "1e-2", "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0",
          "--per_device_train_batch_size", "4", "--gradient_checkpointing", "false", "--save_strategy", "no",
          "--dataloader_num_workers", "0", "--warmup_steps", "0"]


def sft_args(model: Path, data: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--train_file", str(data), "--output_dir", str(out),
            "--max_steps", str(steps), *STRONG, *extra]


def run_sft(*args: str) -> int:
    from finetune.sft import main

    return main(list(args))


def write_captions(folder: Path) -> Path:
    """{"image", "caption"} rows for stage-1 alignment, one per color."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for color, rgb in COLORS.items():
        Image.new("RGB", (64, 64), rgb).save(folder / f"{color}.png")
        lines.append({"image": f"{color}.png", "caption": f"A {color} square."})
    path = folder / "captions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def build_parts(root: Path) -> tuple[Path, Path]:
    """A tiny CLIP vision encoder and a tiny Llama LM (head_dim 32 for vLLM's CPU attention), saved as folders."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel, GenerationConfig, LlamaConfig, LlamaForCausalLM

    from backend.models.tiny import build_tokenizer

    torch.manual_seed(0)
    vision = CLIPVisionModel(CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                              num_attention_heads=4, image_size=64, patch_size=16))
    vision.save_pretrained(root / "clip")
    tokenizer = build_tokenizer("llava")
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                      max_position_embeddings=2048, eos_token_id=tokenizer.eos_token_id,
                                      pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                                      tie_word_embeddings=False))
    lm.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    return root / "clip", root / "lm"


def greedy_ids(model, processor, image, question: str = "What color is the box?", n: int = 6) -> list[int]:
    """transformers greedy decoding of one image question; the new token ids (stop token included)."""
    import torch

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    batch = processor(text=[text], images=[image], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=n, do_sample=False)
    return out[0, batch["input_ids"].shape[1]:].tolist()
