"""Fault drill: kill -9 during `python -m finetune.sft`, then the same command with `--resume_from_checkpoint last`.

LoRA SFT of the tiny LLaVA with a checkpoint every 2 steps. The first run is killed (SIGKILL) once a checkpoint
past `sft_kill_after_step` is on disk, at a random moment inside the following steps. The re-run must exit 0 at
`max_steps` with the adapter saved, resume from a complete checkpoint, and its loss history must hold every step
from 1 to `max_steps` exactly once (nothing trained twice or skipped).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from eval.bench.sft import _write_data
from eval.reliability.config import FaultConfig
from eval.reliability.report import Progress
from eval.reliability.stack import fresh_dir, kill9, run_cli, spawn_cli, tiny_model


def run(config: FaultConfig, progress: Progress) -> dict:
    work = fresh_dir(config.out_dir / "sft-work")
    data = _write_data(work / "data", 8)
    out = work / "run"
    args = ["-m", "finetune.sft", "--model_name_or_path", str(tiny_model(config.models_dir)), "--train_file", str(data),
            "--output_dir", str(out), "--max_steps", str(config.sft_steps), "--save_strategy", "steps",
            "--save_steps", "2", "--per_device_train_batch_size", "2", "--learning_rate", "1e-3", "--lora_r", "8",
            "--lora_alpha", "16", "--warmup_steps", "0", "--dataloader_num_workers", "0", "--eval_ratio", "0",
            "--gradient_checkpointing", "false"]
    log = work / "sft.log"
    proc = spawn_cli(args, log)
    started = time.monotonic()
    marker = out / f"checkpoint-{config.sft_kill_after_step}" / "trainer_state.json"
    while proc.poll() is None and not marker.exists() and time.monotonic() - started < 600:
        time.sleep(0.01)
    # Somewhere inside the next step or checkpoint write. A tiny-model step can take a few milliseconds on a fast
    # machine, so the delay stays short and `sft_steps` leaves many steps after the marker.
    time.sleep(random.Random(0).uniform(0, 0.05))
    killed = proc.poll() is None
    if killed:
        kill9(proc)
    checkpoints = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    finished_anyway = (out / "run_info.json").exists()
    first_s = round(time.monotonic() - started, 1)
    progress.say(f"first run {'killed' if killed else f'ended (exit {proc.returncode})'} after {first_s} s; "
                 f"checkpoints on disk: {checkpoints}")

    started = time.monotonic()
    rc = run_cli([*args, "--resume_from_checkpoint", "last"], log)
    resumed_s = round(time.monotonic() - started, 1)
    info = json.loads((out / "run_info.json").read_text()) if (out / "run_info.json").exists() else {}
    history = json.loads((out / "metrics.json").read_text())["log_history"] if (out / "metrics.json").exists() else []
    steps = [h["step"] for h in history if "loss" in h]
    progress.say(f"resumed run exit {rc} in {resumed_s} s from {info.get('resumed_from')}; "
                 f"global step {info.get('global_step')}")
    checks = {
        "killed_mid_training": killed and not finished_anyway and bool(checkpoints)
        and max(checkpoints) < config.sft_steps,
        "rerun_completes": rc == 0 and info.get("global_step") == config.sft_steps
        and (out / "adapter_model.safetensors").exists(),
        "resumed_from_a_checkpoint": bool(info.get("resumed_from"))
        and int(str(info["resumed_from"]).rsplit("-", 1)[-1]) >= config.sft_kill_after_step,
        "every_step_once": steps == list(range(1, config.sft_steps + 1)),
    }
    return {"drill": "sft", "max_steps": config.sft_steps, "killed": killed, "first_run_s": first_s,
            "checkpoints_at_kill": checkpoints, "resumed_from": info.get("resumed_from"), "resumed_run_s": resumed_s,
            "global_step": info.get("global_step"), "logged_steps": steps, "checks": checks,
            "passed": all(checks.values())}
