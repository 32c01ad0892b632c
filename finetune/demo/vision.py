"""The demo model's eyes: a small CLIP vision tower, the caption data that aligns it, and how well it sees.

No vision weights ship offline, so the tower starts random. A short supervised warm-up (`pretrain_tower`:
colour and type heads on the features LLaVA will read) gives it eyes in minutes, the way CLIP pretraining does
for real LLaVAs; stage-1 alignment then trains tower and projector together into SmolLM2's input space while
SmolLM2 stays frozen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from finetune.demo.render import COLOURS, OBJECTS, catalogue

# 224 px in 32 px patches: 49 image tokens, cheap on a 2-core CPU.
TOWER = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 4,
         "image_size": 224, "patch_size": 32, "projection_dim": 256}
CAPTION_PROMPTS = {"en": "What product is this? Name its colour and type.", "zh": "这是什么商品？说出它的颜色和类型。"}
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]


def build_tower(out: Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    model = CLIPVisionModel(CLIPVisionConfig(**TOWER))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "preprocessor_config.json").write_text(json.dumps({"image_mean": MEAN, "image_std": STD}))
    return out


def _pixels(photos: list) -> "torch.Tensor":
    import numpy as np
    import torch

    array = np.stack([np.asarray(p.image.convert("RGB").resize((TOWER["image_size"],) * 2), dtype=np.float32)
                      for p in photos]) / 255.0
    return (torch.from_numpy(array).permute(0, 3, 1, 2) - MEAN[0]) / STD[0]


def features(model, pixel_values):
    """What LLaVA's projector reads (`vision_feature_layer` -2, patch tokens), pooled over the image."""
    hidden = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2]
    return hidden[:, 1:].mean(dim=1)


def pretrain_tower(tower: Path, seeds: range, heldout: range, *, steps: int = 300, batch_size: int = 64,
                   learning_rate: float = 1e-3, seed: int = 0, log=print) -> dict:
    """Train the tower in place to tell colour and type apart (two linear heads, dropped afterwards)."""
    import torch
    from torch import nn
    from transformers import CLIPVisionModel

    from finetune.demo.render import catalogue

    torch.manual_seed(seed)
    colours, objects = list(COLOURS), list(OBJECTS)
    train, held = catalogue(seeds), catalogue(heldout)
    x, x_held = _pixels(train), _pixels(held)
    y = torch.tensor([[colours.index(p.colour), objects.index(p.object)] for p in train])
    y_held = torch.tensor([[colours.index(p.colour), objects.index(p.object)] for p in held])
    model = CLIPVisionModel.from_pretrained(tower)
    width = model.config.hidden_size
    heads = nn.ModuleList([nn.Linear(width, len(colours)), nn.Linear(width, len(objects))])
    params = list(model.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x), (batch_size,))
        feats = features(model, x[idx])
        loss = sum(nn.functional.cross_entropy(head(feats), y[idx, k]) for k, head in enumerate(heads))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == steps:
            log(f"tower step {step}/{steps}: loss {loss.item():.3f}", flush=True)
    model.eval()
    with torch.no_grad():
        logits = [torch.cat([head(features(model, x_held[i:i + 64])) for i in range(0, len(x_held), 64)])
                  for head in heads]
    accuracy = {name: float((logits[k].argmax(-1) == y_held[:, k]).float().mean())
                for k, name in enumerate(("colour", "object"))}
    model.save_pretrained(tower)
    return {"train_photos": len(train), "heldout_photos": len(held), "heldout_accuracy": accuracy}


def write_captions(out: Path, seeds: range, langs: tuple[str, ...] = ("en", "zh")) -> Path:
    """Rendered photos and chat rows that ask for colour and type; returns the JSONL file."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, photo in enumerate(catalogue(seeds)):
        name = f"{photo.object}-{photo.colour}-{photo.seed}.png"
        photo.image.save(images / name)
        lang = langs[i % len(langs)]
        rows.append({"messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": CAPTION_PROMPTS[lang]}]},
            {"role": "assistant", "content": [{"type": "text", "text": photo.caption(lang)}]}],
            "images": [f"images/{name}"]})
    path = out / "captions.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def parse_caption(text: str) -> tuple[str | None, str | None]:
    """(colour, object) named in an English or Chinese answer, or None for what it does not name."""
    low = text.lower()
    colour = next((c for c, (_, zh) in COLOURS.items() if re.search(rf"\b{c}\b", low) or zh in text), None)
    obj = next((o for o, (_, zh) in OBJECTS.items() if re.search(rf"\b{re.escape(o)}s?\b", low) or zh in text), None)
    return colour, obj


def measure(model_dir: Path, photos: list, *, lang: str = "en", batch_size: int = 16) -> dict:
    """Colour and object-type accuracy of greedy answers to the caption prompt on `photos`."""
    import torch
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor

    processor = load_processor(model_dir)
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.bfloat16).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": CAPTION_PROMPTS[lang]}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    colour_ok = object_ok = 0
    answers = []
    for start in range(0, len(photos), batch_size):
        batch = photos[start:start + batch_size]
        inputs = processor(text=[prompt] * len(batch), images=[p.image for p in batch], return_tensors="pt",
                           padding=True)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        for photo, ids in zip(batch, out[:, inputs["input_ids"].shape[1]:], strict=True):
            text = processor.tokenizer.decode(ids, skip_special_tokens=True)
            colour, obj = parse_caption(text)
            colour_ok += colour == photo.colour
            object_ok += obj == photo.object
            answers.append({"colour": photo.colour, "object": photo.object, "answer": text})
    n = len(photos)
    return {"n": n, "colour_accuracy": colour_ok / n, "object_accuracy": object_ok / n, "answers": answers}
