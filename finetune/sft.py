"""`python -m finetune.sft`: LoRA instruction tuning of an image-text-to-text model with TRL's SFTTrainer + PEFT.

Flow: parse configs → load + validate rows (line numbers) → [dry run] → SFTTrainer (completion-only loss)
→ adapter + resolved config + metrics + loss curve + run info in `output_dir`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from finetune.config import LM_LINEAR, DataArguments, ModelArguments

EXAMPLE = """example:
  python -m finetune.sft --config finetune/configs/sft_tiny.yaml --model_name_or_path var/models/llava \\
      --train_file data/train.jsonl --output_dir var/runs/shop --max_steps 200 --lora_r 16
  python -m finetune.sft --config finetune/configs/sft_tiny.yaml --dry_run true
  accelerate launch --config_file finetune/configs/ddp.yaml -m finetune.sft --config finetune/configs/sft_tiny.yaml
"""

PROJECTOR_NAMES = ("multi_modal_projector", "visual.merger")


def make_parser():
    import torch
    from trl import SFTConfig, TrlParser

    from finetune.help import HelpFormatter

    parser = TrlParser((ModelArguments, DataArguments, SFTConfig), prog="python -m finetune.sft", epilog=EXAMPLE,
                       description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    if not torch.cuda.is_available():
        # TRL turns bf16 on by default and then refuses to start on a CPU; a YAML or flag can still set it.
        # use_cpu also lets several CPU processes (torchrun / accelerate launch --multi_gpu) form a gloo DDP group.
        parser.set_defaults(bf16=False, use_cpu=True)
    # Sensible SFT defaults for this project; everything stays overridable from YAML or flags.
    parser.set_defaults(logging_steps=1, report_to="none", save_strategy="steps", save_steps=50, save_total_limit=3)
    return parser


def lm_target_regex(model, names: list[str], last_layers: int = 0) -> str:
    """A PEFT target regex that matches `names` inside the language model only (never the vision tower), in its
    last `last_layers` decoder layers (0: all of them)."""
    lm_prefixes = sorted({n.split(".layers.")[0] for n, _ in model.named_modules() if "language_model" in n
                          and ".layers." in n})
    if not lm_prefixes:
        raise ValueError("no `language_model` submodule found: not a supported image-text-to-text model")
    prefix = "|".join(p.replace(".", r"\.") for p in lm_prefixes)
    layer = r"\d+"
    if last_layers:
        count = 1 + max(int(n.split(".layers.")[1].split(".")[0]) for n, _ in model.named_modules()
                        if "language_model" in n and ".layers." in n)
        layer = "|".join(str(i) for i in range(max(0, count - last_layers), count))
    return rf"^({prefix})\.layers\.({layer})\..*\.({'|'.join(names or LM_LINEAR)})$"


def projector_name(model) -> str:
    for name, _ in model.named_modules():
        for candidate in PROJECTOR_NAMES:
            if name.endswith(candidate):
                return candidate
    raise ValueError("this model has no projector module this tool knows (multi_modal_projector, visual.merger)")


def lora_config(model, args: ModelArguments):
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=lm_target_regex(model, args.lora_target_modules, args.lora_layers),
        modules_to_save=[projector_name(model)] if args.train_projector else None,
        task_type="CAUSAL_LM",
    )


def quantization_config(args: ModelArguments):
    """QLoRA's 4-bit NF4 config; a clear error where it cannot run."""
    if not args.load_in_4bit:
        return None
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("error: --load_in_4bit (QLoRA) needs a CUDA GPU; none is visible. Drop the flag to train "
                         "a plain LoRA.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise SystemExit("error: --load_in_4bit (QLoRA) needs the `bitsandbytes` package: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_model(args: ModelArguments):
    import torch
    from transformers import AutoModelForImageTextToText

    quant = quantization_config(args)
    kwargs = {"dtype": getattr(torch, args.dtype)}
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map={"": int(os.environ.get("LOCAL_RANK", 0))})
    model = AutoModelForImageTextToText.from_pretrained(args.model_name_or_path, **kwargs)
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model


def load_and_validate(data: DataArguments, processor, max_length: int | None, path: str, log=print):
    """Rows of one data file that passed validation; raises DataError (with line numbers) unless skipping."""
    from finetune.datasets import load_rows
    from finetune.validate import DataError, validate_rows

    rows = load_rows(path, data.image_folder)
    good, problems = validate_rows(rows, processor, max_length)
    if problems and not data.skip_bad_rows:
        raise DataError(problems, path)
    for problem in problems:
        log(f"skipping {path} {problem}")
    if not good:
        raise DataError(problems or [], f"{path} (no usable rows)")
    return good


def render_sample(processor, row: dict) -> str:
    """The row as the model sees it: trained tokens inside ⟦…⟧, image tokens collapsed to <image×N>."""
    from finetune.validate import collate_one, image_token_id, open_images

    images, _ = open_images(row)
    batch = collate_one(processor, row, images)
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    image_id = image_token_id(processor)
    out, i, trained_count = [], 0, 0
    while i < len(ids):
        if ids[i] == image_id:
            j = i
            while j < len(ids) and ids[j] == image_id:
                j += 1
            out.append(f"<image×{j - i}>")
            i = j
            continue
        j, trained = i, labels[i] != -100
        while j < len(ids) and ids[j] != image_id and (labels[j] != -100) == trained:
            j += 1
        text = processor.tokenizer.decode(ids[i:j])
        trained_count += (j - i) if trained else 0
        out.append(f"⟦{text}⟧" if trained else text)
        i = j
    return (f"line {row['line']}: {len(ids)} tokens, {trained_count} trained (inside ⟦…⟧)\n" + "".join(out))


def resolve_resume(value, output_dir: str):
    """`last`/`true` → newest complete checkpoint in output_dir (a kill -9 can leave a half-written one)."""
    if value is None or str(value).lower() in ("", "false", "none"):
        return None
    if str(value).lower() not in ("last", "true"):
        return value
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]),
                         reverse=True)
    for checkpoint in checkpoints:
        if all((checkpoint / f).exists() for f in ("trainer_state.json", "optimizer.pt", "scheduler.pt")):
            return str(checkpoint)
    return None


def plot_loss(log_history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_loss_in_child(metrics_path: Path, png: Path) -> None:
    """Draw the curve in a short-lived process: importing matplotlib here would raise training's peak RSS."""
    import subprocess

    code = ("import json, sys; from pathlib import Path; from finetune.sft import plot_loss; "
            "plot_loss(json.loads(Path(sys.argv[1]).read_text())['log_history'], Path(sys.argv[2]))")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", code, str(metrics_path), str(png)], check=True, env=env)


def resolved_config(model_args, data_args, training_args) -> dict:
    config = {**dataclasses.asdict(model_args), **dataclasses.asdict(data_args)}
    config.update(json.loads(training_args.to_json_string()))
    return config


def export_for_serving(output_dir: Path, model_args: ModelArguments) -> Path:
    """vLLM refuses adapters with modules_to_save: bake the trained projector into a base, keep an LM-only adapter."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor
    from backend.models.tiny import rewrite_llava_vision_keys

    serve = output_dir / "serve"
    dtype = getattr(torch, model_args.dtype)
    base = AutoModelForImageTextToText.from_pretrained(model_args.model_name_or_path, dtype=dtype)
    peft_model = PeftModel.from_pretrained(base, str(output_dir))
    name = projector_name(base)
    # The trained copies live in modules_to_save wrappers; copy them over the base projector's weights.
    for module_name, module in peft_model.named_modules():
        if module_name.endswith(name) and hasattr(module, "modules_to_save"):
            module.original_module.load_state_dict(module.modules_to_save["default"].state_dict())
    plain = peft_model.unload()  # drops the LoRA and the wrappers, keeps the base weights
    plain.save_pretrained(serve / "base")
    load_processor(model_args.model_name_or_path).save_pretrained(serve / "base")
    if plain.config.model_type in ("llava", "llava_next"):
        rewrite_llava_vision_keys(serve / "base")
    adapter = serve / "adapter"
    adapter.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(output_dir / "adapter_model.safetensors"))
    save_file({k: v for k, v in weights.items() if "lora_" in k}, str(adapter / "adapter_model.safetensors"))
    adapter_config = json.loads((output_dir / "adapter_config.json").read_text())
    adapter_config.update(modules_to_save=None, base_model_name_or_path=str((serve / "base").resolve()))
    (adapter / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    return serve


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    model_args, data_args, training_args = parser.parse_args_and_config(argv)
    return train(model_args, data_args, training_args)


def train(model_args: ModelArguments, data_args: DataArguments, training_args) -> int:
    import yaml
    from transformers import set_seed
    from trl import SFTTrainer

    from backend.models.processors import load_processor
    from finetune.cpu_loss import score_only_labelled_tokens
    from finetune.datasets import dataset_hash, to_dataset
    from finetune.validate import DataError

    if not model_args.model_name_or_path or not data_args.train_file:
        raise SystemExit("error: --model_name_or_path and --train_file are required (in the YAML or as flags)")
    if training_args.packing:
        raise SystemExit("error: packing mixes image tokens across rows; vision-language SFT needs --packing false")
    # Completion-only loss is what makes prompt/completion rows train the answer only.
    training_args.completion_only_loss = True
    set_seed(training_args.seed)
    is_main = int(os.environ.get("RANK", "0")) == 0
    log = print if is_main else (lambda *a, **k: None)

    processor = load_processor(model_args.model_name_or_path)
    try:
        train_rows = load_and_validate(data_args, processor, training_args.max_length, data_args.train_file, log)
        eval_rows = (load_and_validate(data_args, processor, training_args.max_length, data_args.eval_file, log)
                     if data_args.eval_file else [])
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not eval_rows and data_args.eval_ratio > 0:
        import random

        shuffled = train_rows[:]
        random.Random(training_args.seed).shuffle(shuffled)
        cut = max(1, int(len(shuffled) * data_args.eval_ratio))
        eval_rows, train_rows = shuffled[:cut], shuffled[cut:]
    log(f"data: {len(train_rows)} train row(s), {len(eval_rows)} eval row(s) passed validation")

    if data_args.dry_run:
        print(render_sample(processor, train_rows[0]))
        return 0

    if eval_rows and str(training_args.eval_strategy) in ("no", "IntervalStrategy.NO"):
        from transformers.trainer_utils import IntervalStrategy

        # An eval split was given: report its loss during training, on the logging cadence.
        training_args.eval_strategy = IntervalStrategy.STEPS
        training_args.eval_steps = training_args.eval_steps or training_args.logging_steps
    score_only_labelled_tokens()  # CPU: the loss head projects the answer tokens only
    model = load_model(model_args)
    peft_config = lora_config(model, model_args)
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=to_dataset(train_rows),
        eval_dataset=to_dataset(eval_rows) if eval_rows else None,
        processing_class=processor,
        peft_config=peft_config,
    )
    if is_main:
        trainer.model.print_trainable_parameters()
    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    if resume:
        log(f"resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)
    if not trainer.is_world_process_zero():
        return 0

    out = Path(training_args.output_dir)
    metrics = dict(result.metrics)
    if eval_rows:
        metrics.update(trainer.evaluate())
    history = trainer.state.log_history
    (out / "metrics.json").write_text(json.dumps({"final": metrics, "log_history": history}, indent=2))
    plot_loss_in_child(out / "metrics.json", out / "loss.png")
    (out / "sft_config.yaml").write_text(yaml.safe_dump(resolved_config(model_args, data_args, training_args),
                                                         sort_keys=True, allow_unicode=True))
    run_info = {
        "base_model": model_args.model_name_or_path,
        "base_model_type": model.config.model_type,
        "train_file": data_args.train_file,
        "dataset_sha256": dataset_hash(data_args.train_file),
        "eval_file": data_args.eval_file or None,
        "eval_dataset_sha256": dataset_hash(data_args.eval_file) if data_args.eval_file else None,
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "global_step": trainer.state.global_step,
        "resumed_from": resume,
        "lora_target_modules": peft_config.target_modules,
        "seed": training_args.seed,
        # How the run was spread (NO, MULTI_CPU / MULTI_GPU for DDP, FSDP, DEEPSPEED) and over how many processes.
        "distributed_type": str(trainer.accelerator.distributed_type.value),
        "world_size": trainer.accelerator.num_processes,
    }
    if model_args.train_projector:
        serve = export_for_serving(out, model_args)
        run_info["serve"] = {"base": str(serve / "base"), "adapter": str(serve / "adapter")}
        log(f"projector trained: serve {serve / 'base'} with the LM-only adapter {serve / 'adapter'}")
    (out / "run_info.json").write_text(json.dumps(run_info, indent=2))
    log(f"adapter, metrics.json, loss.png, sft_config.yaml and run_info.json written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
