"""`python -m finetune.demo` end to end at toy sizes: every step runs, the photo recipe on the command line reaches
both the stage-1 captions and the SFT rows, a tower geometry reaches every checkpoint, and the report records the
settings that built it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from finetune.demo.tasks import PHOTO_QUESTIONS
from finetune.demo.vision import CAPTION_PROMPTS
from support import ROOT

pytestmark = pytest.mark.slow

TOY = ["--tower_seeds", "1", "--tower_steps", "2", "--caption_seeds", "1", "--heldout_seeds", "1",
       "--align_steps", "2", "--align_batch_size", "2", "--worlds", "1", "--rows_per_world", "10",
       "--sft_steps", "1", "--sft_batch_size", "1"]


def test_the_one_command_runs_every_step_with_the_photo_recipe_it_was_given(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "finetune.demo", "--out", str(out), *TOY, "--photo_share", "0.6",
                          "--photo_wordings", "3", "--photo_distractors", "false",
                          "--tower_image_size", "112", "--tower_patch_size", "16"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "[7/7] contamination check against the eval sets" in run.stdout

    report = json.loads((out / "report.json").read_text())
    assert len(report["steps"]) == 7 and report["total_seconds"] > 0
    assert report["config"]["photo_share"] == 0.6 and report["config"]["photo_wordings"] == 3
    assert "out" not in report["config"]  # where it wrote is not part of the recipe
    assert report["steps"]["contamination check against the eval sets"]["leaks"] == 0

    first_three = {q for qs in PHOTO_QUESTIONS.values() for q in qs[:3]}
    captions = [json.loads(line) for line in (out / "captions" / "train" / "captions.jsonl").open(encoding="utf-8")]
    asked = {r["messages"][0]["content"][1]["text"] for r in captions}
    assert asked - set(CAPTION_PROMPTS.values()) and asked <= first_three | set(CAPTION_PROMPTS.values())

    rows = [json.loads(line) for line in (out / "sft-data" / "train.jsonl").open(encoding="utf-8")]
    photos = [r for r in rows if r["task"].startswith("photo:")]
    assert len(photos) >= len(rows) / 3  # the share given, not the default
    for row in photos:
        question = next(p["text"] for p in row["messages"][1]["content"] if p["type"] == "text")
        assert question in first_three

    vision = json.loads((out / "vision.json").read_text())
    assert set(vision) == {"en", "zh", "en_heldout_wording", "zh_heldout_wording"}
    assert (out / "adapter" / "adapter_config.json").is_file()
    # the geometry given, in the tower, the stage-1 model and its image processor: still 49 image tokens
    assert json.loads((out / "tower" / "config.json").read_text())["patch_size"] == 16
    stage1 = json.loads((out / "stage1" / "config.json").read_text())
    assert (stage1["vision_config"]["image_size"], stage1["vision_config"]["patch_size"]) == (112, 16)
    assert stage1["image_seq_length"] == 49
    processor = json.loads((out / "stage1" / "processor_config.json").read_text())
    assert processor["image_processor"]["crop_size"] == {"height": 112, "width": 112}
