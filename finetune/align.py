"""`python -m finetune.align`: stage-1 alignment of a LLaVA-style model.

Assembles vision encoder + LLM + fresh projector (or takes an existing LLaVA checkpoint), freezes the vision
tower and the LLM, trains only the projector on image-caption pairs, and saves a checkpoint vLLM serves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from finetune.config import PROJECTOR, AlignArguments, DataArguments

EXAMPLE = """examples:
  # assemble only: CLIP vision tower + causal LM + random projector -> a LLaVA checkpoint
  python -m finetune.align --vision_model var/clip --language_model var/smollm2 --assemble_only true \\
      --output_dir var/models/llava-smol-init
  # stage 1: train the projector on {"image": ..., "caption": ...} rows (or LLaVA-pretrain JSON)
  python -m finetune.align --vision_model var/clip --language_model var/smollm2 --train_file data/captions.jsonl \\
      --output_dir var/models/llava-smol-stage1 --max_steps 500 --learning_rate 1e-3
"""


def assemble(vision_path: str | Path, lm_path: str | Path, *, vision_feature_layer: int = -2, seed: int = 0):
    """(LlavaForConditionalGeneration, LlavaProcessor) from a CLIP vision encoder and a causal LM; projector random."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        CLIPVisionModel,
        GenerationConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

    from backend.models.tiny import LLAVA_IMAGE, chat_template

    vision = CLIPVisionModel.from_pretrained(vision_path, dtype=torch.float32)
    lm = AutoModelForCausalLM.from_pretrained(lm_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(lm_path)
    text_config = lm.config
    head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads
    if head_dim < 32:
        print(f"warning: the LM's head_dim is {head_dim}; vLLM's CPU attention needs ≥ 32", file=sys.stderr)
    if LLAVA_IMAGE not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [LLAVA_IMAGE]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template or "image" not in tokenizer.chat_template:
        # A text-only template cannot place images; use the project's ChatML template with generation tags.
        tokenizer.chat_template = chat_template("llava")
    vconf: CLIPVisionConfig = vision.config
    image_tokens = (vconf.image_size // vconf.patch_size) ** 2
    config = LlavaConfig(
        vision_config=vconf.to_dict(),
        text_config=text_config.to_dict(),
        image_token_index=tokenizer.convert_tokens_to_ids(LLAVA_IMAGE),
        image_seq_length=image_tokens,  # LlavaConfig defaults to 576; must be the real count
        vision_feature_select_strategy="default",
        vision_feature_layer=vision_feature_layer,
        projector_hidden_act="gelu",
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)),
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.model.vision_tower.load_state_dict(vision.state_dict())
    model.model.language_model.load_state_dict(lm.model.state_dict())
    model.lm_head.load_state_dict(lm.lm_head.state_dict())
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=False)
    pre = Path(vision_path) / "preprocessor_config.json"
    stats = json.loads(pre.read_text()) if pre.exists() else {}
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": vconf.image_size},
        crop_size={"height": vconf.image_size, "width": vconf.image_size},
        image_mean=stats.get("image_mean", OPENAI_CLIP_MEAN),
        image_std=stats.get("image_std", OPENAI_CLIP_STD),
    )
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vconf.patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               image_token=LLAVA_IMAGE, chat_template=tokenizer.chat_template)
    return model.eval(), processor


def save_checkpoint(model, processor, out: str | Path) -> Path:
    """save_pretrained + processor, with CLIP weights under vision_tower.vision_model.* for vLLM."""
    from backend.models.tiny import rewrite_llava_vision_keys

    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    if model.config.model_type in ("llava", "llava_next"):
        rewrite_llava_vision_keys(out)
    return out


def freeze_all_but_projector(model, *, train_vision_tower: bool = False) -> int:
    """Stage 1 trains the projector (and, if asked, the vision tower) with the LLM frozen; returns the count."""
    trainable = 0
    for name, param in model.named_parameters():
        param.requires_grad = PROJECTOR in name or (train_vision_tower and "vision_tower" in name)
        trainable += param.numel() if param.requires_grad else 0
    if not trainable:
        raise ValueError(f"no `{PROJECTOR}` parameters found: stage-1 alignment needs a LLaVA-style model")
    return trainable


def make_parser():
    import torch
    from trl import SFTConfig, TrlParser

    from finetune.help import HelpFormatter

    parser = TrlParser((AlignArguments, DataArguments, SFTConfig), prog="python -m finetune.align", epilog=EXAMPLE,
                       description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    if not torch.cuda.is_available():
        parser.set_defaults(bf16=False, use_cpu=True)
    parser.set_defaults(logging_steps=1, report_to="none", save_strategy="no", learning_rate=1e-3,
                        gradient_checkpointing=False)
    return parser


def load_model(align_args, seed: int):
    """(model, processor): the given LLaVA checkpoint, or one assembled from a vision encoder and an LLM."""
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor

    if align_args.model_name_or_path:
        model = AutoModelForImageTextToText.from_pretrained(align_args.model_name_or_path)
        return model, load_processor(align_args.model_name_or_path)
    if align_args.vision_model and align_args.language_model:
        return assemble(align_args.vision_model, align_args.language_model,
                        vision_feature_layer=align_args.vision_feature_layer, seed=seed)
    raise SystemExit("error: give --model_name_or_path, or --vision_model and --language_model to assemble")


def main(argv: list[str] | None = None) -> int:
    import torch
    from transformers import set_seed
    from trl import SFTTrainer

    from finetune.cpu_loss import score_only_labelled_tokens
    from finetune.datasets import load_rows, to_dataset
    from finetune.sft import plot_loss_in_child
    from finetune.validate import DataError, validate_rows

    align_args, data_args, training_args = make_parser().parse_args_and_config(argv)
    if align_args.llm_dtype not in ("float32", "bfloat16", "float16"):
        raise SystemExit(f"error: --llm_dtype {align_args.llm_dtype!r}: use float32, bfloat16 or float16")
    llm_dtype = getattr(torch, align_args.llm_dtype)
    set_seed(training_args.seed)
    out = Path(training_args.output_dir)
    model, processor = load_model(align_args, training_args.seed)
    if align_args.assemble_only:
        print(save_checkpoint(model, processor, out))
        return 0
    if not data_args.train_file:
        raise SystemExit("error: --train_file (image-caption pairs) is required unless --assemble_only")

    # Caption rows get the fixed user prompt; LLaVA-pretrain JSON and chat formats carry their own prompts.
    rows, problems = validate_rows(load_rows(data_args.train_file, data_args.image_folder, align_args.caption_prompt),
                                   processor, training_args.max_length)
    if problems and not data_args.skip_bad_rows:
        print(f"error: {DataError(problems, data_args.train_file)}", file=sys.stderr)
        return 2
    trainable = freeze_all_but_projector(model, train_vision_tower=align_args.train_vision_tower)
    what = "vision tower + projector" if align_args.train_vision_tower else "projector"
    print(f"stage 1: training {trainable:,} {what} parameters on {len(rows)} image-caption row(s)")
    if data_args.dry_run:
        from finetune.sft import render_sample

        print(render_sample(processor, rows[0]))
        return 0
    score_only_labelled_tokens()  # CPU: the loss head projects the answer tokens only
    training_args.completion_only_loss = True
    if llm_dtype != torch.float32:
        if not hasattr(model.model, "language_model"):
            raise SystemExit(f"error: --llm_dtype needs a LLaVA-style model; {type(model).__name__} has no "
                             "language_model")
        model.model.language_model.to(llm_dtype)
        model.lm_head.to(llm_dtype)
    trainer = SFTTrainer(model=model, args=training_args, train_dataset=to_dataset(rows), processing_class=processor)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    if trainer.is_world_process_zero():
        trained = trainer.model
        if llm_dtype != torch.float32:
            # The frozen LLM was only rounded for speed: save its original weights with the trained parts.
            trained, _ = load_model(align_args, training_args.seed)
            trained.load_state_dict({n: p.detach().float() for n, p in trainer.model.named_parameters()
                                     if p.requires_grad}, strict=False)
        save_checkpoint(trained, processor, out)
        history = trainer.state.log_history
        (out / "metrics.json").write_text(json.dumps({"log_history": history}, indent=2))
        plot_loss_in_child(out / "metrics.json", out / "loss.png")
        print(f"aligned checkpoint written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
