"""Fixtures for finetune tests: tiny models from backend/models/tiny.py and small on-disk datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_helpers import run_sft, sft_args, write_dataset


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def trained_adapter(tiny_llava, tmp_path_factory) -> Path:
    """A LoRA on the tiny LLaVA that learned "The package is <color>." (shared: training costs ~15 s)."""
    root = tmp_path_factory.mktemp("trained")
    data = write_dataset(root / "data")
    out = root / "run"
    assert run_sft(*sft_args(tiny_llava, data, out, 24, "--eval_file", str(data))) == 0
    return out


@pytest.fixture(scope="session")
def aligned_model(tmp_path_factory) -> Path:
    """CLIP + Llama assembled into a LLaVA by `finetune.align`, projector trained a few steps on captions."""
    from finetune.align import main
    from ft_helpers import build_parts, write_captions

    root = tmp_path_factory.mktemp("align")
    clip, lm = build_parts(root)
    captions = write_captions(root / "captions")
    out = root / "aligned"
    assert main(["--vision_model", str(clip), "--language_model", str(lm), "--train_file", str(captions),
                 "--output_dir", str(out), "--max_steps", "6", "--per_device_train_batch_size", "4",
                 "--learning_rate", "1e-2", "--dataloader_num_workers", "0"]) == 0
    return out
