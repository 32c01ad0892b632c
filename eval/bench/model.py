"""A random LLaVA with SmolLM2-135M's shape (30 layers, hidden 576, vocab 49152) plus a 49-token CLIP tower.

Benchmarks need the compute of the real embedded model, not its knowledge: random weights of the same shape
cost the same per token. Built once under the given folder.
"""

from __future__ import annotations

from pathlib import Path

MARKER = ".bench_model_complete_v2"  # v2: vision keys in the layout vLLM loads


def ensure_bench_llava(root: Path, seed: int = 0) -> Path:
    out = Path(root) / "bench-llava-135m"
    if (out / MARKER).exists():
        return out
    import torch
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    from backend.models.tiny import (
        LLAVA_IMAGE,
        _clip_image_processor_kwargs,
        _llava_processor_kwargs,
        build_tokenizer,
        rewrite_llava_vision_keys,
    )

    tokenizer = build_tokenizer("llava")
    image_size, patch = 224, 32
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                                       num_attention_heads=4, image_size=image_size, patch_size=patch),
        text_config=dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, tie_word_embeddings=True, rms_norm_eps=1e-5,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids(LLAVA_IMAGE),
        image_seq_length=(image_size // patch) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(**_clip_image_processor_kwargs(image_size)),
        **_llava_processor_kwargs(tokenizer, patch),
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    rewrite_llava_vision_keys(out)
    (out / MARKER).write_text("ok\n")
    return out
