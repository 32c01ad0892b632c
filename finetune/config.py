"""Dataclass configs for `finetune.sft` / `finetune.align`, parsed with TRL's TrlParser (YAML `--config` + flags)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Module names of the language model's linear layers in the supported families (Llama/Qwen2/Mistral style).
LM_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROJECTOR = "multi_modal_projector"


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class ModelArguments:
    """Which model to tune and how: the LoRA on its language model, the projector, QLoRA."""

    model_name_or_path: str = field(
        default="", metadata=_help("Local folder (or hub id) of an image-text-to-text model."))
    dtype: str = field(default="float32", metadata=_help("Weights' dtype: float32, bfloat16 or float16."))
    lora_r: int = field(default=16, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=32, metadata=_help("LoRA alpha (scale = alpha / r)."))
    lora_dropout: float = field(default=0.05, metadata=_help("LoRA dropout."))
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(LM_LINEAR),
        metadata=_help("Linear layer names to adapt; always restricted to the language model."),
    )
    lora_layers: int = field(
        default=0, metadata=_help("Adapt only the last N decoder layers of the LLM (0: all). Backward then stops at the "
                                  "lowest adapted layer: cheaper steps on CPUs."))
    train_projector: bool = field(
        default=False,
        metadata=_help("Also train the vision-language projector (PEFT modules_to_save). The output then holds "
                       "serve/base (projector baked in) + serve/adapter (LM-only) for vLLM."),
    )
    load_in_4bit: bool = field(default=False, metadata=_help("QLoRA: load the base in 4-bit (CUDA + bitsandbytes)."))


@dataclass
class DataArguments:
    """Where the data is and how it is checked before training."""

    train_file: str = field(
        default="", metadata=_help("JSONL/JSON (messages+images, LLaVA, ShareGPT) or a saved `datasets` folder."))
    eval_file: str = field(default="", metadata=_help("Optional eval data in any supported format."))
    eval_ratio: float = field(
        default=0.0, metadata=_help("Hold out this fraction of train rows for eval when there is no eval_file."))
    image_folder: str = field(
        default="", metadata=_help("Base folder for relative image paths (default: the data file's folder)."))
    skip_bad_rows: bool = field(default=False, metadata=_help("Drop rows that fail validation instead of stopping."))
    dry_run: bool = field(
        default=False, metadata=_help("Validate, print a rendered sample with the trained tokens marked, exit."))


@dataclass
class AlignArguments:
    """Stage-1 alignment: assemble a LLaVA-style model and/or train its projector on image-caption pairs."""

    vision_model: str = field(
        default="", metadata=_help("CLIP vision encoder folder (CLIPVisionModel) to assemble from."))
    language_model: str = field(default="", metadata=_help("Causal LM folder to assemble from."))
    model_name_or_path: str = field(
        default="", metadata=_help("An existing LLaVA-style checkpoint (instead of assembling)."))
    vision_feature_layer: int = field(default=-2, metadata=_help("Vision layer whose features feed the projector."))
    assemble_only: bool = field(default=False, metadata=_help("Write the assembled model and stop (no training)."))
    train_vision_tower: bool = field(
        default=False, metadata=_help("Train the vision tower with the projector (a small tower that starts random "
                                      "or must learn a new kind of image); the LLM stays frozen either way."))
    caption_prompt: str = field(
        default="Describe the image briefly.", metadata=_help("User text for {image, caption} rows."))
    llm_dtype: str = field(
        default="float32", metadata=_help("The frozen LLM's dtype while training: bfloat16 makes CPU steps faster "
                                          "where the CPU has AVX512-BF16 or AMX. The projector trains in float32 and "
                                          "the checkpoint keeps the LLM's original weights."))
