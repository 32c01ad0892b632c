"""`python -m finetune.sft` end to end on the tiny LLaVA: loss falls, the output folder is complete, the adapter
loads in TransformersEngine, config precedence, resume (including after kill -9), projector export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from backend.engines import GenerationRequest, SamplingParams
from backend.engines.transformers_engine import TransformersEngine
from ft_helpers import COLORS, REPO, ROOT_ENV, run_sft, sft_args, write_dataset


def ask(color: str) -> GenerationRequest:
    return GenerationRequest(
        messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What color is the box?"}]}],
        images=[Image.new("RGB", (64, 48), COLORS[color])],
        sampling=SamplingParams(max_tokens=8),
    )


async def answer(engine, request) -> str:
    return "".join([d.text async for d in engine.stream(request)])


def test_training_lowers_the_loss(trained_adapter):
    history = json.loads((trained_adapter / "metrics.json").read_text())["log_history"]
    logs = [h for h in history if "loss" in h]
    losses = [h["loss"] for h in logs]
    assert len(losses) == 24
    # A random tiny model's logits are nearly flat (RMSNorm'd hidden × a 0.02-std lm_head, which the LM-only
    # LoRA cannot scale), so the loss floor sits near ln(vocab) - 1.5; accuracy shows the answer was learned.
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.8, losses
    assert logs[-1]["mean_token_accuracy"] >= 0.9, logs[-1]
    assert any("eval_loss" in h for h in history), "an eval split must report metrics during training"


def test_output_folder_holds_adapter_config_metrics_curve_and_run_info(trained_adapter, tiny_llava):
    names = {p.name for p in trained_adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "sft_config.yaml", "metrics.json", "loss.png",
            "run_info.json"} <= names
    assert (trained_adapter / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((trained_adapter / "run_info.json").read_text())
    assert info["base_model"] == str(tiny_llava) and len(info["dataset_sha256"]) == 64
    config = yaml.safe_load((trained_adapter / "sft_config.yaml").read_text())
    assert config["lora_r"] == 16 and config["max_steps"] == 24 and config["completion_only_loss"] is True
    adapter = json.loads((trained_adapter / "adapter_config.json").read_text())
    # LM-only LoRA and no modules_to_save: what vLLM's --lora-modules accepts.
    assert adapter["modules_to_save"] is None and "language_model" in adapter["target_modules"]
    from safetensors import safe_open

    with safe_open(str(trained_adapter / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and all("language_model" in k for k in keys)


async def test_adapter_loads_in_the_engine_and_answers_like_the_training_data(trained_adapter, tiny_llava):
    engine = TransformersEngine(tiny_llava, adapters={"shop": str(trained_adapter)}, dtype="float32")
    await engine.start()
    try:
        base = await answer(engine, ask("red"))
        tuned_req = ask("red")
        tuned_req.adapter = "shop"
        tuned = await answer(engine, tuned_req)
    finally:
        await engine.close()
    assert tuned != base
    assert tuned.startswith("The package is"), tuned


def test_yaml_config_with_flag_override(tmp_path, tiny_llava, dataset):
    from finetune.sft import make_parser

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": str(tiny_llava), "train_file": str(dataset),
                                      "output_dir": str(tmp_path / "o"), "lora_r": 4, "max_steps": 3,
                                      "lora_target_modules": ["q_proj", "v_proj"]}))
    model_args, data_args, training_args = make_parser().parse_args_and_config(
        ["--config", str(config), "--lora_r", "8"])
    assert model_args.lora_r == 8 and training_args.max_steps == 3
    assert model_args.lora_target_modules == ["q_proj", "v_proj"] and data_args.train_file == str(dataset)
    assert training_args.bf16 is False  # no CUDA here: TRL's bf16 default is switched off


def test_shipped_example_config_parses(tiny_llava, dataset, tmp_path):
    from finetune.sft import make_parser

    _, _, training_args = make_parser().parse_args_and_config(
        ["--config", str(REPO / "finetune/configs/sft_tiny.yaml"), "--output_dir", str(tmp_path)])
    assert training_args.packing is False


def test_dry_run_marks_trained_tokens(tiny_llava, dataset, capsys):
    assert run_sft("--model_name_or_path", str(tiny_llava), "--train_file", str(dataset), "--output_dir", "/tmp/x",
                   "--dry_run", "true") == 0
    out = capsys.readouterr().out
    assert "⟦The package is red.<|im_end|>" in out
    assert "<image×16>What color is the box?" in out


def test_qlora_without_cuda_is_a_clear_error(tiny_llava, dataset, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: QLoRA can run here")
    with pytest.raises(SystemExit, match="QLoRA.*CUDA"):
        run_sft(*sft_args(tiny_llava, dataset, tmp_path / "q", 1, "--load_in_4bit", "true"))


def test_lora_never_touches_the_vision_tower(tiny_llava):
    from transformers import AutoModelForImageTextToText

    from finetune.config import ModelArguments
    from finetune.sft import lora_config

    model = AutoModelForImageTextToText.from_pretrained(tiny_llava)
    config = lora_config(model, ModelArguments(model_name_or_path=str(tiny_llava)))
    import re

    targets = [n for n, _ in model.named_modules() if re.fullmatch(config.target_modules, n)]
    assert targets and all("language_model" in n for n in targets)
    assert any("vision_tower" in n and n.endswith("q_proj") for n, _ in model.named_modules())


def state(out: Path) -> dict:
    return json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())


def test_resume_continues_from_the_saved_step(tiny_llava, dataset, tmp_path):
    out = tmp_path / "run"
    common = sft_args(tiny_llava, dataset, out, 4, "--save_strategy", "steps", "--save_steps", "2")
    assert run_sft(*common) == 0
    first = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    # Raise the budget and resume: training goes on from step 4, not from 0.
    assert run_sft(*sft_args(tiny_llava, dataset, out, 6, "--save_strategy", "steps", "--save_steps", "2",
                             "--resume_from_checkpoint", "last")) == 0
    info = json.loads((out / "run_info.json").read_text())
    assert info["resumed_from"].endswith("checkpoint-4") and info["global_step"] == 6
    steps = [h["step"] for h in state(out)["log_history"] if "loss" in h]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert state(out)["log_history"][:4] == first["log_history"][:4]


def test_kill_9_mid_training_then_resume_finishes(tiny_llava, tmp_path):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "run"
    args = [sys.executable, "-m", "finetune.sft", *sft_args(tiny_llava, data, out, 12, "--save_strategy", "steps",
                                                          "--save_steps", "2", "--learning_rate", "1e-3")]
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(args, env=ROOT_ENV, cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "checkpoint-4" / "trainer_state.json").exists():
        assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "run_info.json").exists(), "the run should have died before finishing"
    killed_at = max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert killed_at < 12
    resumed = subprocess.run(args + ["--resume_from_checkpoint", "last"], env=ROOT_ENV, capture_output=True,
                             text=True, cwd=REPO, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    assert info["global_step"] == 12
    assert int(info["resumed_from"].split("-")[-1]) >= 4
    logged = [h["step"] for h in json.loads((out / "metrics.json").read_text())["log_history"] if "loss" in h]
    assert logged == list(range(1, 13)), "the resumed run's history continues the killed one's"


def test_trained_projector_is_exported_as_base_plus_lm_only_adapter(tiny_llava, dataset, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    out = tmp_path / "proj"
    assert run_sft(*sft_args(tiny_llava, dataset, out, 3, "--train_projector", "true")) == 0
    saved = json.loads((out / "adapter_config.json").read_text())["modules_to_save"]
    assert "multi_modal_projector" in json.dumps(saved)
    serve = out / "serve"
    assert json.loads((serve / "adapter" / "adapter_config.json").read_text())["modules_to_save"] is None
    # PEFT's own view (projector in modules_to_save) and the serving pair give the same logits.
    inputs_model = AutoModelForImageTextToText.from_pretrained(tiny_llava)
    full = PeftModel.from_pretrained(inputs_model, str(out)).eval()
    served = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(serve / "base"),
                                       str(serve / "adapter")).eval()
    from backend.models.processors import load_processor

    processor = load_processor(tiny_llava)
    text = processor.apply_chat_template(ask("red").messages, add_generation_prompt=True, tokenize=False)
    batch = processor(text=[text], images=[ask("red").images[0]], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(full(**batch).logits, served(**batch).logits, atol=1e-5)


@pytest.mark.parametrize("family", ["llava_next", "qwen2_vl"])
def test_other_families_train_an_lm_only_adapter(family, models_dir, dataset, tmp_path, capsys):
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForImageTextToText

    from backend.models.tiny import ensure_tiny_model

    model_path = ensure_tiny_model(family, models_dir)
    out = tmp_path / family
    assert run_sft(*sft_args(model_path, dataset, out, 2, "--dry_run", "true")) == 0
    assert "⟦The package is red.<|im_end|>" in capsys.readouterr().out
    assert run_sft(*sft_args(model_path, dataset, out, 2)) == 0
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        assert all("language_model" in k for k in f.keys())
    PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_path), str(out))


def test_accelerate_ddp_on_two_cpu_processes(tiny_llava, dataset, tmp_path):
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).with_name("accelerate")
    args = sft_args(tiny_llava, dataset, out, 4, "--per_device_train_batch_size", "2")
    config = REPO / "finetune" / "configs" / "ddp_cpu.yaml"
    result = subprocess.run([str(accelerate), "launch", "--config_file", str(config), "-m", "finetune.sft", *args],
                            cwd=REPO, env=ROOT_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    final = json.loads((out / "metrics.json").read_text())["final"]
    # 8 rows, 2 per process per step, 2 processes: 4 steps are 2 epochs (one process would make it 1).
    assert final["epoch"] == 2
    assert (out / "adapter_model.safetensors").exists()
    info = json.loads((out / "run_info.json").read_text())
    assert info["world_size"] == 2 and info["distributed_type"] == "MULTI_CPU"  # DDP over gloo

