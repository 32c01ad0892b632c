"""`python -m finetune.register NAME PATH --config FILE`: add `model.adapters.NAME: PATH` to a VisionDesk settings YAML.

The backend reads `model.adapters` at start, so restart it (or call its adapter loading) to pick the adapter up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def register_adapter(name: str, path: str | Path, config: str | Path, *, check: bool = True) -> dict:
    """Write the adapter into the YAML file (created if missing); returns the new settings mapping."""
    config, path = Path(config), Path(path).resolve()
    if check and not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{path} holds no adapter_config.json: not a PEFT adapter folder")
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"adapter name {name!r}: use letters, digits, '-', '_' or '.'")
    settings = yaml.safe_load(config.read_text(encoding="utf-8")) if config.exists() else None
    settings = settings or {}
    if not isinstance(settings, dict):
        raise ValueError(f"{config} does not hold a YAML mapping")
    model = settings.setdefault("model", {})
    if not isinstance(model, dict):
        raise ValueError(f"{config}: `model` is not a mapping")
    adapters = model.get("adapters") or {}
    adapters[name] = str(path)
    model["adapters"] = adapters
    # Write next to the file and rename, so a crash never leaves half a settings file.
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        _check_with_backend(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(config)
    return settings


def _check_with_backend(path: Path) -> None:
    """Refuse to write a file the backend would refuse to start with (unknown keys, wrong types)."""
    try:
        from backend.settings import load_settings
    except ImportError:  # finetune installed without the backend: nothing to check against
        return
    import os

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("VISIONDESK_")}
    try:
        load_settings(path)  # the file alone, as the backend would read it
    finally:
        os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m finetune.register",
        description="Register a LoRA adapter with the backend: adds model.adapters.NAME: PATH to a settings YAML "
        "(comments in the file are not kept).",
        epilog="example: python -m finetune.register shop var/runs/shop --config config/visiondesk.yaml",
    )
    parser.add_argument("name", help="adapter name requests select (and vLLM's --lora-modules name)")
    parser.add_argument("path", help="adapter folder (output_dir of finetune.sft)")
    parser.add_argument("--config", required=True, help="VisionDesk settings YAML (created if missing)")
    parser.add_argument("--no-check", action="store_true", help="do not require adapter_config.json in PATH")
    args = parser.parse_args(argv)
    register_adapter(args.name, args.path, args.config, check=not args.no_check)
    print(f"model.adapters.{args.name}: {Path(args.path).resolve()} -> {args.config}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
