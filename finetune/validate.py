"""Check training rows before any compute is spent; every problem names the line it came from.

Caught: bad JSON/shape, missing or unreadable image, placeholder count ≠ image count, empty assistant turn,
max_length cutting image tokens, and rows whose labels are all masked (the silent "loss 0" bug).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from finetune.datasets import count_image_parts, load_rows


@dataclass
class Problem:
    line: int
    kind: str  # format | image_missing | image_unreadable | image_count | empty_assistant | too_long | all_masked
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: [{self.kind}] {self.message}"


class DataError(ValueError):
    """Raised when validation finds problems and bad rows are not to be skipped."""

    def __init__(self, problems: list[Problem], source: str = ""):
        self.problems = problems
        head = "\n  ".join(str(p) for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} bad row(s) in {source or 'the data'}:\n  {head}{more}")


def _line_of(error: Exception) -> int:
    text = str(error)
    return int(text.split(":")[0].split()[1]) if text.startswith("line ") else 0


def open_images(row: dict) -> tuple[list, list[Problem]]:
    images, problems = [], []
    for image in row["images"]:
        if isinstance(image, str):
            if not Path(image).is_file():
                problems.append(Problem(row["line"], "image_missing", f"image not found: {image}"))
                continue
            try:
                with Image.open(image) as im:
                    im.load()  # decode fully: a truncated file fails here, not mid-training
                    images.append(im.convert("RGB"))
            except Exception as exc:  # noqa: BLE001 - any decode failure makes the row unusable
                problems.append(Problem(row["line"], "image_unreadable", f"cannot read image {image}: {exc}"))
        elif isinstance(image, dict) and image.get("bytes") is not None:
            import io

            images.append(Image.open(io.BytesIO(image["bytes"])).convert("RGB"))
        else:
            images.append(image)
    return images, problems


def check_structure(row: dict) -> list[Problem]:
    problems = []
    placeholders = count_image_parts(row["prompt"] + row["completion"])
    if placeholders != len(row["images"]):
        problems.append(Problem(row["line"], "image_count",
                                f"{placeholders} image placeholder(s) but {len(row['images'])} image(s)"))
    if count_image_parts(row["completion"]):
        problems.append(Problem(row["line"], "image_count", "the assistant turn holds an image placeholder"))
    text = "".join(p.get("text", "") for m in row["completion"] for p in m["content"])
    if not row["completion"] or not text.strip():
        problems.append(Problem(row["line"], "empty_assistant", "the last assistant turn is missing or empty"))
    return problems


def image_token_id(processor) -> int | None:
    token_id = getattr(processor, "image_token_id", None)
    if token_id is None and getattr(processor, "image_token", None):
        token_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    return token_id


def collate_one(processor, row: dict, images: list):
    """The batch TRL's vision collator builds for this row alone (completion-only loss, no truncation)."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    return collator([{"prompt": row["prompt"], "completion": row["completion"], "images": images}])


def check_tokens(processor, row: dict, images: list, max_length: int | None) -> tuple[list[Problem], int]:
    """Render the row exactly as training will; returns (problems, token count)."""
    batch = collate_one(processor, row, images)
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    trained = (labels != -100).nonzero().flatten().tolist()
    token_id = image_token_id(processor)
    image_positions = (ids == token_id).nonzero().flatten().tolist() if token_id is not None else []
    problems = []
    if not trained:
        problems.append(Problem(row["line"], "all_masked", "every label is masked: this row would train nothing"))
    elif max_length and len(ids) > max_length:
        # The collator cuts from the right: fine inside the answer, fatal for image tokens or the whole answer.
        if image_positions and image_positions[-1] >= max_length:
            problems.append(Problem(row["line"], "too_long",
                                    f"{len(ids)} tokens; max_length {max_length} would cut image tokens "
                                    f"(last at {image_positions[-1]})"))
        elif trained[0] >= max_length:
            problems.append(Problem(row["line"], "all_masked",
                                    f"the answer starts at token {trained[0]} ≥ max_length {max_length}: "
                                    "all labels would be masked"))
    return problems, len(ids)


def validate_rows(rows: list, processor=None, max_length: int | None = None, progress: bool = True):
    """Split rows into (good rows, problems). With a processor, rows are also rendered and tokenized."""
    from tqdm import tqdm

    good, problems = [], []
    for row in tqdm(rows, desc="validating", unit="row", disable=not progress or len(rows) < 200):
        if isinstance(row, Exception):
            problems.append(Problem(_line_of(row), "format", str(row).split(": ", 1)[-1]))
            continue
        found = check_structure(row)
        images, image_problems = open_images(row)
        found += image_problems
        if not found and processor is not None:
            token_problems, _ = check_tokens(processor, row, images, max_length)
            found += token_problems
        if found:
            problems.extend(found)
        else:
            good.append(row)
    return good, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m finetune.validate",
        description="Validate a training file (any supported format) and list bad rows with their line numbers.",
        epilog="example: python -m finetune.validate data/train.jsonl --model var/models/llava --max_length 2048",
    )
    parser.add_argument("data", help="JSONL/JSON file or saved datasets folder")
    parser.add_argument("--model", help="model folder; with it rows are also tokenized (label masking, length)")
    parser.add_argument("--max_length", type=int, default=None)
    parser.add_argument("--image_folder", default="")
    args = parser.parse_args(argv)
    processor = None
    if args.model:
        from backend.models.processors import load_processor

        processor = load_processor(args.model)
    rows = load_rows(args.data, args.image_folder)
    good, problems = validate_rows(rows, processor, args.max_length)
    for problem in problems:
        print(problem)
    print(f"{len(good)} good row(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
