"""Make TRL's fused LM-head loss score only the labelled tokens on CPU, as it already does on GPUs.

TRL 1.16's SFTTrainer computes the loss with a chunked LM-head kernel. On CUDA it projects only the positions that
carry a label (`compact`); elsewhere it projects every position (prompt, image and padding tokens included) so that
tile shapes stay fixed for compilers such as Neuron's. Plain PyTorch on CPU compiles nothing, so the fixed shapes
buy nothing, and with completion-only loss the answer is a few dozen of ~600 tokens: measured on the demo model's
SFT (batch 4, SmolLM2's 49k vocabulary) the kernel took 10 of a step's 19 s. The result is the same loss either way:
masked positions are zeroed in both modes.
"""

from __future__ import annotations


def score_only_labelled_tokens() -> bool:
    """Patch TRL so CPU training takes the compact path; returns False when this TRL has no such switch."""
    import torch
    from trl.trainer import utils

    original = getattr(utils, "_use_triton", None)
    if original is None or getattr(original, "_visiondesk_compact", False):
        return original is not None

    def use_compact(device: torch.device) -> bool:
        # only trainer/utils.py's `compact` decision reads this name; the kernels keep their own
        return device.type == "cpu" or original(device)

    use_compact._visiondesk_compact = True
    use_compact.stock = original
    utils._use_triton = use_compact
    return True
