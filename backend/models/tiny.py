"""Tiny random image-text-to-text checkpoints (LLaVA, LLaVA-NeXT, Qwen2-VL), built offline from configs.

Used by tests and as the placeholder default model; same family and seed give byte-identical weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from backend.models.processors import load_processor, qwen2_vl_image_only_processor  # noqa: F401 - re-exported

FAMILIES = ("llava", "llava_next", "qwen2_vl")

# Written after everything else, so a folder without it is a build that died half-way.
COMPLETE_MARKER = ".tiny_model_complete"

IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<pad>"
LLAVA_IMAGE = "<image>"
QWEN_VISION_START, QWEN_IMAGE_PAD, QWEN_VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"
QWEN_VIDEO_PAD = "<|video_pad|>"

VOCAB_SIZE = 1024

# Qwen2-VL: 14 px patches merged 2x2, so one image token covers 28x28 px. Images are resized to between
# 2x2 and 4x4 tokens' worth of pixels: 4 to 16 image tokens.
QWEN_PATCH, QWEN_MERGE = 14, 2
QWEN_MIN_PIXELS = (2 * QWEN_PATCH * QWEN_MERGE) ** 2
QWEN_MAX_PIXELS = (4 * QWEN_PATCH * QWEN_MERGE) ** 2
# Saved as the processor's video_processor entry so environments with torchvision (vLLM) load the
# standard Qwen2VLProcessor; the remaining settings are Qwen2VLVideoProcessor's class defaults.
QWEN_VIDEO_CONFIG = {
    "video_processor_type": "Qwen2VLVideoProcessor",
    "size": {"shortest_edge": QWEN_MIN_PIXELS, "longest_edge": QWEN_MAX_PIXELS},
    "patch_size": QWEN_PATCH,
    "temporal_patch_size": 2,
    "merge_size": QWEN_MERGE,
}

# Byte-level BPE covers any text anyway; the corpus only decides which merges exist, so it mixes the
# languages the product serves (English, Chinese, digits, punctuation) to keep prompts reasonably short.
CORPUS = """
Hello! How can I help you today? Please describe the problem and attach a photo or a screenshot.
The customer uploaded a picture of the package. The box is damaged and the item inside is broken.
Your order number is 20240517-8812. The refund of $35.90 will arrive within 3 to 5 business days.
Thank you for your patience. We are sorry for the inconvenience, and we will send a replacement.
What is in this image? The image shows a red shirt, a blue bag, two shoes and a black phone.
Answer the question using only the context below. If the answer is not in the context, say you do not know.
Source [1]: Return policy. Items can be returned within 30 days of delivery if they are unused.
Source [2]: Shipping. Standard shipping takes 5-7 days; express shipping takes 1-2 days.
The patient should take 2 tablets every 8 hours after meals. Do not exceed 6 tablets in 24 hours.
This answer is for information only and is not medical advice. Please consult a doctor.
The screenshot shows an error message: "Payment failed (code 402). Please try again later."
The quick brown fox jumps over the lazy dog. A user asked about the price, the size and the color.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 12 15 20 24 25 30 50 100 128 256 512 1000 2025 3.14 99.9%
Punctuation: , . ; : ! ? ' " ( ) [ ] { } < > / \\ - _ + = * & % $ # @ ~ ` ^ |
system user assistant image text question answer context source model price order refund
您好！请问有什么可以帮您？请描述您遇到的问题，并上传照片或截图。
客户上传了一张包裹的照片，箱子破损了，里面的商品也坏了。
您的订单号是20240517-8812，退款35.90元将在3到5个工作日内到账。
感谢您的耐心等待，给您带来不便我们深表歉意，我们会为您补发一件新的商品。
这张图片里有什么？图片中有一件红色的衬衫、一个蓝色的包、两只鞋和一部黑色的手机。
请只根据下面的资料回答问题。如果资料中没有答案，请说不知道。
退货政策：商品在签收后三十天内未使用可以退货。快递一般需要五到七天。
患者应在饭后每八小时服用两片，二十四小时内不要超过六片。本回答仅供参考，不构成医疗建议，请咨询医生。
截图显示了一条错误信息：支付失败，请稍后再试。今天天气很好，我们一起去公园散步吧。
"""

# One template for every family; only the image placeholder differs. Assistant turns sit inside
# {% generation %} (end-of-turn token included) so TRL's assistant-only loss can mask them and still
# train the stop token. vLLM hands OpenAI-style parts to templates, hence "image_url"/"input_image".
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- elif content is iterable -%}"
    "{%- for part in content -%}"
    "{%- if part['type'] in ('image', 'image_url', 'input_image') -%}{{- '@IMAGE@' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- render(message['content']) + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- render(message['content']) + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def image_placeholder(family: str) -> str:
    """The text a chat template emits for one image; the processor expands it to the real token count."""
    if family == "qwen2_vl":
        return QWEN_VISION_START + QWEN_IMAGE_PAD + QWEN_VISION_END
    return LLAVA_IMAGE


def chat_template(family: str) -> str:
    return CHAT_TEMPLATE.replace("@IMAGE@", image_placeholder(family))


def special_tokens(family: str) -> list[str]:
    # Fixed order keeps token ids identical across builds: <pad> is 0, <|im_start|> 1, <|im_end|> 2.
    base = [PAD, IM_START, IM_END]
    if family == "qwen2_vl":
        return base + [QWEN_VISION_START, QWEN_VISION_END, QWEN_IMAGE_PAD, QWEN_VIDEO_PAD]
    return base + [LLAVA_IMAGE]


def build_tokenizer(family: str):
    """Train a small byte-level BPE tokenizer on CORPUS and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = special_tokens(family)
    raw = Tokenizer(models.BPE())
    # No prefix space and no normalizer: decode(encode(s)) must give back s exactly.
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(CORPUS.strip().splitlines(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token=PAD,
        eos_token=IM_END,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[t for t in specials if t not in (PAD, IM_END)],
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )
    tokenizer.chat_template = chat_template(family)
    return tokenizer


def _text_config(tokenizer) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        # head_dim 32: the smallest head size vLLM's CPU attention supports.
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )


def _clip_config(image_size: int, patch_size: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=64,
    )


def _clip_image_processor_kwargs(image_size: int) -> dict:
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

    return dict(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
    )


def _llava_processor_kwargs(tokenizer, patch_size: int) -> dict:
    # CLIP's CLS token is counted by num_additional_image_tokens, then dropped by the "default" strategy.
    return dict(
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token=LLAVA_IMAGE,
        chat_template=tokenizer.chat_template,
    )


def _llava_parts(tokenizer):
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    image_size, patch_size = 64, 16
    # "default" drops CLS: (64/16)^2 = 16 patch features per image. The processor adds the CLS
    # back in via num_additional_image_tokens=1, then subtracts it for "default" -> also 16.
    image_tokens = (image_size // patch_size) ** 2
    config = LlavaConfig(
        vision_config=_clip_config(image_size, patch_size),
        text_config={"model_type": "llama", **_text_config(tokenizer)},
        image_token_index=tokenizer.convert_tokens_to_ids(LLAVA_IMAGE),
        image_seq_length=image_tokens,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
        pad_token_id=tokenizer.pad_token_id,
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(**_clip_image_processor_kwargs(image_size)),
        **_llava_processor_kwargs(tokenizer, patch_size),
    )
    return LlavaForConditionalGeneration, config, processor


def _llava_next_parts(tokenizer):
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
    )

    image_size, patch_size = 32, 8
    # Tiles of 32 px at most 2x2: an image costs 16 base tokens + up to 8x8 tile features + newlines.
    pinpoints = [[32, 32], [32, 64], [64, 32], [64, 64]]
    config = LlavaNextConfig(
        vision_config=_clip_config(image_size, patch_size),
        text_config={"model_type": "llama", **_text_config(tokenizer)},
        image_token_index=tokenizer.convert_tokens_to_ids(LLAVA_IMAGE),
        image_grid_pinpoints=pinpoints,
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
        pad_token_id=tokenizer.pad_token_id,
    )
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(
            image_grid_pinpoints=pinpoints, do_pad=True, **_clip_image_processor_kwargs(image_size)
        ),
        **_llava_processor_kwargs(tokenizer, patch_size),
    )
    return LlavaNextForConditionalGeneration, config, processor


def _qwen2_vl_parts(tokenizer):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

    text = _text_config(tokenizer)
    # head_dim 32 -> 16 rotary frequency pairs, split over (temporal, height, width).
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]}
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=text["hidden_size"],
            mlp_ratio=2,
            num_heads=4,
            patch_size=QWEN_PATCH,
            spatial_merge_size=QWEN_MERGE,
            temporal_patch_size=2,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids(QWEN_IMAGE_PAD),
        video_token_id=tokenizer.convert_tokens_to_ids(QWEN_VIDEO_PAD),
        vision_start_token_id=tokenizer.convert_tokens_to_ids(QWEN_VISION_START),
        vision_end_token_id=tokenizer.convert_tokens_to_ids(QWEN_VISION_END),
        tie_word_embeddings=False,
    )
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS, patch_size=QWEN_PATCH, merge_size=QWEN_MERGE
    )
    processor = qwen2_vl_image_only_processor(image_processor, tokenizer, QWEN_VIDEO_CONFIG, tokenizer.chat_template)
    return Qwen2VLForConditionalGeneration, config, processor


PARTS = {"llava": _llava_parts, "llava_next": _llava_next_parts, "qwen2_vl": _qwen2_vl_parts}

LLAVA_VISION_PREFIX = "vision_tower."
VLLM_VISION_PREFIX = "vision_tower.vision_model."


def rewrite_llava_vision_keys(model_dir: str | Path) -> int:
    """Rename `vision_tower.*` weights to `vision_tower.vision_model.*` in a LLaVA-style checkpoint.

    transformers >= 5.19 saves the CLIP tower without its `vision_model` level; vLLM's loader needs it.
    transformers itself loads both spellings. Idempotent; returns how many keys were renamed.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    renamed = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        fixed = {}
        for key, tensor in tensors.items():
            if key.startswith(LLAVA_VISION_PREFIX) and not key.startswith(VLLM_VISION_PREFIX):
                key = VLLM_VISION_PREFIX + key[len(LLAVA_VISION_PREFIX) :]
                renamed += 1
            fixed[key] = tensor
        if fixed.keys() != tensors.keys():
            save_file(fixed, str(path), metadata={**metadata, "format": "pt"})
            _rename_in_index(path.parent, tensors.keys(), fixed.keys())
    return renamed


def _rename_in_index(model_dir: Path, old_keys, new_keys) -> None:
    # Sharded checkpoints list every key in an index; keep it in step with the renamed shards.
    index_path = model_dir / "model.safetensors.index.json"
    if not index_path.exists():
        return
    index = json.loads(index_path.read_text(encoding="utf-8"))
    mapping = dict(zip(old_keys, new_keys))
    index["weight_map"] = {mapping.get(k, k): v for k, v in index["weight_map"].items()}
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def create_tiny_model(family: str, *, seed: int = 0):
    """Return (model, processor) for a tiny random `family` model, in memory; same seed, same weights."""
    import torch
    from transformers import GenerationConfig

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    tokenizer = build_tokenizer(family)
    model_cls, config, processor = PARTS[family](tokenizer)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model, processor


def build_tiny_model(family: str, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Build a tiny random checkpoint of `family` into `out_dir` (model, processor, tokenizer, generation config)."""
    model, processor = create_tiny_model(family, seed=seed)
    return save_tiny_model(model, processor, out_dir, seed=seed)


def save_tiny_model(model, processor, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Save a model from create_tiny_model in the layout vLLM and transformers both load; marker last."""
    family = model.config.model_type
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPLETE_MARKER).unlink(missing_ok=True)
    model.save_pretrained(out)
    if family in ("llava", "llava_next"):
        rewrite_llava_vision_keys(out)
    # The processor saves the tokenizer (tagged with the processor class) and the shared chat template.
    processor.save_pretrained(out)
    (out / COMPLETE_MARKER).write_text(json.dumps({"family": family, "seed": seed}) + "\n", encoding="utf-8")
    return out


def ensure_tiny_model(family: str, cache_dir: str | Path, *, seed: int = 0) -> Path:
    """Return `cache_dir/<family>`, building it first unless a finished build with this seed is there."""
    out = Path(cache_dir) / family
    if _is_complete(out, family, seed):
        return out
    # Build next to the target and rename into place, so concurrent callers never see half a model.
    staging = out.with_name(f".{family}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    build_tiny_model(family, staging, seed=seed)
    if _is_complete(out, family, seed):
        # Another process finished meanwhile; its copy may already be in use, so keep it.
        shutil.rmtree(staging, ignore_errors=True)
        return out
    shutil.rmtree(out, ignore_errors=True)
    try:
        staging.rename(out)
    except OSError:
        # Another process finished first; keep its copy if it is complete.
        shutil.rmtree(staging, ignore_errors=True)
        if not _is_complete(out, family, seed):
            raise
    return out


def _is_complete(model_dir: Path, family: str, seed: int) -> bool:
    marker = model_dir / COMPLETE_MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")) == {"family": family, "seed": seed}
    except ValueError:
        return False


def build_tiny_lora(model_dir: str | Path, out_dir: str | Path, *, seed: int = 1, rank: int = 8) -> Path:
    """A random LoRA on the language model's attention projections, strong enough to change greedy output.

    Language-model only, as vLLM requires; loads in PEFT (TransformersEngine) and in vLLM's --lora-modules.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, init_lora_weights=False,
                        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)")
    torch.manual_seed(seed)
    get_peft_model(model, config).save_pretrained(out_dir)
    return Path(out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.models.tiny",
        description="Build a tiny random image-text-to-text checkpoint (offline, seconds, a few MB).",
        epilog="examples:\n  python -m backend.models.tiny --family llava --out /tmp/tiny-llava\n"
               "  python -m backend.models.tiny --family llava --out /tmp/tiny-llava --lora /tmp/tiny-llava-lora",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--family", choices=FAMILIES, default="llava", help="model family (default: llava)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default: 0)")
    parser.add_argument("--lora", type=Path, help="also write a random LoRA adapter for the model to this folder")
    args = parser.parse_args(argv)
    path = build_tiny_model(args.family, args.out, seed=args.seed)
    print(path)
    if args.lora:
        print(build_tiny_lora(path, args.lora))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
