"""`finetune.sft` vs a plain TRL script on the same model and data: training samples/s and peak memory.

Each run is its own process (peak RSS from wait4), runs alternate (ours, plain, ours, plain, ...) and the medians
are compared. Both train the same LM-only LoRA with completion-only loss, float32, no checkpointing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from eval.bench.common import Result

ROOT = Path(__file__).resolve().parents[2]

# What an engineer would write with TRL alone: no validation, no run records, same trainer settings.
PLAIN_TRL = r'''
import json, sys
import torch
from datasets import Dataset, Image, List
from peft import LoraConfig
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import SFTConfig, SFTTrainer

model_path, data_path, out, steps, batch = sys.argv[1:6]
rows = []
for line in open(data_path):
    r = json.loads(line)
    rows.append({"prompt": r["messages"][:-1], "completion": r["messages"][-1:],
                 "images": [str(__import__("pathlib").Path(data_path).parent / p) for p in r["images"]]})
data = Dataset.from_list(rows).cast_column("images", List(Image()))
model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch.float32)
processor = AutoProcessor.from_pretrained(model_path)
args = SFTConfig(output_dir=out, max_steps=int(steps), per_device_train_batch_size=int(batch), bf16=False,
                 gradient_checkpointing=False, completion_only_loss=True, save_strategy="no", report_to="none",
                 logging_steps=1, learning_rate=2e-4, seed=42, dataloader_num_workers=0, max_length=2048)
target = r"^(model\.language_model)\.layers\.\d+\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"
peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=target, task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=processor, peft_config=peft_config)
metrics = trainer.train().metrics
json.dump(metrics, open(out + "/plain_metrics.json", "w"))
'''


def _write_data(folder: Path, rows: int) -> Path:
    from PIL import Image

    from eval.bench.common import screenshot_png

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        image = folder / f"shot{i}.png"
        image.write_bytes(screenshot_png(640, 400, seed=i))
        Image.open(image).load()
        lines.append({"messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"What is order {i}'s status?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": f"Order {20240000 + i} has shipped; "
                                               "the refund of $35.90 will arrive within 3 to 5 business days."}]},
        ], "images": [image.name]})
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _run(command: list[str], out: Path) -> dict:
    """Run one training process; its samples/s (from the trainer) and its peak RSS in MiB (wait4)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = (out.parent / f"{out.name}.log").open("w")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{(out.parent / f'{out.name}.log').read_text()[-3000:]}")
    metrics_file = out / "plain_metrics.json"
    metrics = (json.loads(metrics_file.read_text()) if metrics_file.exists()
               else json.loads((out / "metrics.json").read_text())["final"])
    # CPU seconds of the whole process (start-up included): a cross-check that other load on the box cannot skew.
    return {"samples_per_s": metrics["train_samples_per_second"], "peak_rss_mib": usage.ru_maxrss / 1024,
            "train_s": metrics["train_runtime"], "cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}


def run(model_path, steps: int = 8, batch: int = 2, repeats: int = 2, rows: int = 16) -> list[Result]:
    """SFT throughput and peak memory of `python -m finetune.sft` relative to a plain TRL script."""
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        tmp = Path(tmp)
        data = _write_data(tmp / "data", rows)
        plain_script = tmp / "plain_trl.py"
        plain_script.write_text(PLAIN_TRL)
        ours, plain = [], []
        for i in range(repeats):
            out = tmp / f"ours{i}"
            ours.append(_run([sys.executable, "-m", "finetune.sft", "--model_name_or_path", str(model_path),
                              "--train_file", str(data), "--output_dir", str(out), "--max_steps", str(steps),
                              "--per_device_train_batch_size", str(batch), "--gradient_checkpointing", "false",
                              "--save_strategy", "no", "--learning_rate", "2e-4", "--max_length", "2048",
                              "--dataloader_num_workers", "0"], out))
            out = tmp / f"plain{i}"
            out.mkdir()
            plain.append(_run([sys.executable, str(plain_script), str(model_path), str(data), str(out), str(steps),
                               str(batch)], out))
    ours_sps = statistics.median(r["samples_per_s"] for r in ours)
    plain_sps = statistics.median(r["samples_per_s"] for r in plain)
    ours_mem = statistics.median(r["peak_rss_mib"] for r in ours)
    plain_mem = statistics.median(r["peak_rss_mib"] for r in plain)
    details = {"ours": ours, "plain_trl": plain, "steps": steps, "batch": batch, "rows": rows}
    speed = ours_sps / plain_sps
    memory = ours_mem / plain_mem
    return [
        Result("finetune.sft samples/s / plain TRL script", speed, ">= 0.95", speed >= 0.95, details),
        # 2% allowance: peak RSS of identical runs varies by a few MiB with allocator timing.
        Result("finetune.sft peak RSS / plain TRL script", memory, "<= 1.02", memory <= 1.02,
               {"ours_mib": ours_mem, "plain_mib": plain_mem}),
    ]


def main() -> int:
    """`python -m eval.bench.sft [MODEL]`: run this benchmark alone (default: the bench LLaVA)."""
    from eval.bench.model import ensure_bench_llava

    model = Path(sys.argv[1]) if len(sys.argv) > 1 else ensure_bench_llava(ROOT / "var" / "bench")
    results = run(model)
    for result in results:
        print(f"{result.name}: {result.ratio:.3f} (goal {result.goal}: {'met' if result.met else 'NOT met'})")
    print(json.dumps([r.as_dict() for r in results], indent=2))
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
