"""The demo model's eyes: a small CLIP vision tower, the caption data that aligns it, and how well it sees.

No vision weights ship offline, so the tower starts random. A short supervised warm-up (`pretrain_tower`:
colour and type heads on the features LLaVA will read) gives it eyes in minutes, the way CLIP pretraining does
for real LLaVAs; `anchor_projector` starts the projector from those heads and SmolLM2's word embeddings, and
stage-1 alignment then trains the projector into SmolLM2's input space while tower and SmolLM2 stay frozen.
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
# A wording in no training row and no eval set: the check asks it too, because a model can name colours under the
# caption prompt it was trained on and not under any other wording (docs/demo-model.md).
HELDOUT_PROMPTS = {"en": "Looking at the picture, what is the item and what colour is it?",
                   "zh": "看看图片：这是什么物品？什么颜色？"}
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
HEADS, HEADS_FILE = ("colour", "object"), "heads.safetensors"  # the warm-up's linear heads, kept beside the tower


def build_tower(out: Path, seed: int = 0, *, image_size: int = TOWER["image_size"],
                patch_size: int = TOWER["patch_size"]) -> Path:
    """A random TOWER, optionally at another geometry (e.g. 112 px in 16 px patches: also 49 image tokens)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    check_geometry(image_size, patch_size)
    torch.manual_seed(seed)
    model = CLIPVisionModel(CLIPVisionConfig(**TOWER | {"image_size": image_size, "patch_size": patch_size}))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "preprocessor_config.json").write_text(json.dumps({"image_mean": MEAN, "image_std": STD}))
    return out


def check_geometry(image_size: int, patch_size: int) -> None:
    if image_size % patch_size:
        raise ValueError(f"the tower's image size ({image_size}) must be a multiple of its patch size ({patch_size})")


def geometry(config) -> dict:
    """The tower's image and patch size (a CLIPVisionConfig or its dict): what the parts record."""
    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
    return {"image_size": get("image_size"), "patch_size": get("patch_size")}


def _pixels(photos: list, size: int = TOWER["image_size"]) -> "torch.Tensor":
    import numpy as np
    import torch

    array = np.stack([np.asarray(p.image.convert("RGB").resize((size, size)), dtype=np.float32)
                      for p in photos]) / 255.0
    return (torch.from_numpy(array).permute(0, 3, 1, 2) - MEAN[0]) / STD[0]


def patch_features(model, pixel_values):
    """What LLaVA's projector reads: `vision_feature_layer` -2, patch tokens (the class token dropped)."""
    return model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2][:, 1:]


def features(model, pixel_values):
    """`patch_features` pooled over the image: what the warm-up heads score."""
    return patch_features(model, pixel_values).mean(dim=1)


def pretrain_tower(tower: Path, seeds: range, heldout: range, *, steps: int = 300, batch_size: int = 64,
                   learning_rate: float = 1e-3, seed: int = 0, log=print) -> dict:
    """Train the tower in place to tell colour and type apart with two linear heads, saved beside it (HEADS_FILE)
    for `anchor_projector`; LLaVA itself never loads them."""
    import torch
    from safetensors.torch import save_file
    from torch import nn
    from transformers import CLIPVisionModel

    torch.manual_seed(seed)
    colours, objects = list(COLOURS), list(OBJECTS)
    model = CLIPVisionModel.from_pretrained(tower)
    train, held = catalogue(seeds), catalogue(heldout)
    x, x_held = _pixels(train, model.config.image_size), _pixels(held, model.config.image_size)
    y = torch.tensor([[colours.index(p.colour), objects.index(p.object)] for p in train])
    y_held = torch.tensor([[colours.index(p.colour), objects.index(p.object)] for p in held])
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
    accuracy = {name: float((logits[k].argmax(-1) == y_held[:, k]).float().mean()) for k, name in enumerate(HEADS)}
    model.save_pretrained(tower)
    save_file({f"{name}.{k}": v.detach().contiguous() for name, head in zip(HEADS, heads, strict=True)
               for k, v in head.state_dict().items()}, str(tower / HEADS_FILE))
    return {"train_photos": len(train), "heldout_photos": len(held), "heldout_accuracy": accuracy}


def write_captions(out: Path, seeds: range, langs: tuple[str, ...] = ("en", "zh"), *, questions: bool = False,
                   wordings: int = 6) -> Path:
    """Rendered photos and chat rows that ask for colour and type; returns the JSONL file.

    By default every row asks the caption prompt, the language alternating row by row (the catalogue lists colours
    innermost, so that ties each colour to one language); the build writes its held-out rows so. `questions=True`
    (the committed parts' stage 1) turns the language with the seed instead, so every colour and type is captioned
    in every language, and asks the caption prompt in a quarter of the rows and the SFT data's colour, type and
    describe questions in the rest (the first `wordings` of each kind, as `tasks.PhotoRecipe`).
    """
    import random

    from finetune.demo.tasks import PHOTO_QUESTIONS, photo_answer

    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, photo in enumerate(catalogue(seeds)):
        name = f"{photo.object}-{photo.colour}-{photo.seed}.png"
        photo.image.save(images / name)
        rng = random.Random(f"caption/{name}")  # per photo: a row does not depend on the seeds beside it
        turn = photo.seed + list(COLOURS).index(photo.colour) + list(OBJECTS).index(photo.object) if questions else i
        lang = langs[turn % len(langs)]
        kind = rng.choice(["caption", "colour", "object", "both"]) if questions else "caption"
        if kind == "caption":
            question, answer = CAPTION_PROMPTS[lang], photo.caption(lang)
        else:
            question, answer = rng.choice(PHOTO_QUESTIONS[(kind, lang)][:wordings]), photo_answer(photo, kind, lang)
        rows.append({"messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]}],
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


def measure(model_dir: Path, photos: list, *, lang: str = "en", question: str | None = None,
            batch_size: int = 16) -> dict:
    """Colour and object-type accuracy of greedy answers to `question` (default: the caption prompt) on `photos`."""
    return measure_many(model_dir, photos, {"result": (lang, question)}, batch_size=batch_size)["result"]


def measure_many(model_dir: Path, photos: list, asks: dict[str, tuple[str, str | None]], *,
                 batch_size: int = 16) -> dict[str, dict]:
    """`measure` for several (language, question) pairs by name, loading the checkpoint once."""
    import torch
    from transformers import AutoModelForImageTextToText

    from backend.engines import resolve_dtype
    from backend.models.processors import load_processor

    processor = load_processor(model_dir)
    processor.tokenizer.padding_side = "left"
    # bfloat16 only where the CPU computes it natively: emulated, a matmul is ~50x slower than float32
    dtype = getattr(torch, resolve_dtype("auto", "cpu"))
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype).eval()
    return {name: _accuracy(model, processor, photos, question or CAPTION_PROMPTS[lang], batch_size)
            for name, (lang, question) in asks.items()}


def _accuracy(model, processor, photos: list, asked: str, batch_size: int) -> dict:
    import torch

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": asked}]}]
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
    return {"n": n, "question": asked, "colour_accuracy": colour_ok / n, "object_accuracy": object_ok / n,
            "answers": answers}


def anchor_projector(checkpoint: Path, tower: Path) -> dict:
    """Start a fresh projector writing the LLM's own words for what the tower sees, in place.

    The warm-up heads score colour and type from patch features; the projector's first layer gets those scores
    as 18 of its hidden units and its second layer maps each unit to the mean input embedding of that word in
    English and Chinese ("red" + "红色"), its other columns zero. So before stage 1 an image already reads to
    SmolLM2 like the words for its colour and type, and stage 1 refines a map instead of finding one: a random
    projector through a frozen 135M LLM learned to name types slowly (docs/demo-model.md).
    """
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor
    from finetune.align import save_checkpoint

    if not (tower / HEADS_FILE).exists():
        raise FileNotFoundError(f"no warm-up heads at {tower / HEADS_FILE}: towers warmed up before they were kept "
                                "have none; redo the warm-up (python -m finetune.demo --force true) or leave "
                                "--anchor_projector off")
    heads = load_file(str(tower / HEADS_FILE))
    model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32)
    processor = load_processor(checkpoint)
    embed = model.get_input_embeddings().weight.detach()

    def word(*names: str) -> "torch.Tensor":
        ids = [i for name in names for i in processor.tokenizer(name, add_special_tokens=False)["input_ids"]]
        return embed[ids].mean(dim=0)

    words = [word(f" {name}", zh) for table in (COLOURS, OBJECTS) for name, (_, zh) in table.items()]

    def centred(head: str) -> tuple:
        # a word's unit is positive only where the tower favours that word over the others; GELU passes little else
        w, b = heads[f"{head}.weight"], heads[f"{head}.bias"]
        return w - w.mean(dim=0), b - b.mean()

    (wc, bc), (wo, bo) = centred("colour"), centred("object")
    weight, bias = torch.cat([wc, wo]), torch.cat([bc, bo])
    projector = model.model.multi_modal_projector
    n = weight.shape[0]
    with torch.no_grad():
        projector.linear_1.weight[:n] = weight
        projector.linear_1.bias[:n] = bias
        projector.linear_2.weight.zero_()
        projector.linear_2.bias.zero_()
        projector.linear_2.weight[:, :n] = torch.stack(words, dim=1)
        # scale so an image token is as long as a word's embedding: SmolLM2 reads inputs of that size
        pixels = processor.image_processor([p.image for p in catalogue(range(1))], return_tensors="pt")["pixel_values"]
        tokens = projector(patch_features(model.model.vision_tower, pixels))
        scale = embed.norm(dim=-1).mean() / tokens.norm(dim=-1).mean()
        projector.linear_2.weight[:, :n] *= scale
    save_checkpoint(model, processor, checkpoint)
    return {"anchored_units": n, "scale": float(scale)}
