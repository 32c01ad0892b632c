"""`python -m finetune.merge`: fold a LoRA adapter into its base: a full checkpoint transformers and vLLM load."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def merge(adapter: str | Path, out: str | Path, base: str | Path | None = None, dtype: str = "float32") -> Path:
    """Load base + adapter, merge the LoRA weights in, save model + processor (LLaVA keys in vLLM's layout)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor
    from backend.models.tiny import rewrite_llava_vision_keys

    adapter, out = Path(adapter), Path(out)
    base = base or json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = AutoModelForImageTextToText.from_pretrained(base, dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    load_processor(base).save_pretrained(out)
    if merged.config.model_type in ("llava", "llava_next"):
        rewrite_llava_vision_keys(out)
    (out / "merge_info.json").write_text(json.dumps({"base_model": str(base), "adapter": str(adapter)}, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m finetune.merge",
        description="Merge a LoRA adapter into its base model and save a full checkpoint.",
        epilog="example: python -m finetune.merge var/runs/shop --out var/models/llava-shop",
    )
    parser.add_argument("adapter", help="adapter folder (output_dir of finetune.sft)")
    parser.add_argument("--out", required=True, help="folder for the merged checkpoint")
    parser.add_argument("--base", help="base model (default: the adapter's base_model_name_or_path)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args(argv)
    print(merge(args.adapter, args.out, args.base, args.dtype))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
