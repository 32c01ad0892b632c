"""Data formats → prompt/completion rows, and validation that names each bad row's line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from finetune.datasets import load_rows, to_dataset
from finetune.validate import validate_rows

Q, A = "What is wrong with the package?", "The box is dented."


def expected_row(images: list[str]) -> dict:
    return {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": Q}]}],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": A}]}], "images": images}


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "img").mkdir()
    Image.new("RGB", (40, 30), (200, 0, 0)).save(tmp_path / "img" / "a.png")
    return tmp_path


def strip_line(row):
    return {k: v for k, v in row.items() if k != "line"}


def test_jsonl_messages_with_relative_images(folder):
    record = {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": Q}]},
                           {"role": "assistant", "content": A}], "images": ["img/a.png"]}
    (folder / "d.jsonl").write_text("\n" + json.dumps(record) + "\n")
    [row] = load_rows(folder / "d.jsonl")
    assert row["line"] == 2
    assert strip_line(row) == expected_row([str(folder / "img" / "a.png")])


def test_llava_json_with_image_tag(folder):
    records = [{"id": "1", "image": "img/a.png", "conversations": [
        {"from": "human", "value": "<image>\n" + Q}, {"from": "gpt", "value": A}]}]
    (folder / "llava.json").write_text(json.dumps(records, indent=2))
    [row] = load_rows(folder / "llava.json")
    assert strip_line(row) == expected_row([str(folder / "img" / "a.png")])
    assert row["line"] == 2  # the line where the record's `{` sits


def test_sharegpt_multi_turn_trains_the_last_answer(folder):
    record = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "<image>" + Q},
                                {"from": "gpt", "value": "Dented."}, {"from": "human", "value": "Sure?"},
                                {"from": "gpt", "value": A}], "images": ["img/a.png"]}
    (folder / "sg.jsonl").write_text(json.dumps(record) + "\n")
    [row] = load_rows(folder / "sg.jsonl")
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user"]
    assert row["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": A}]}]


def test_saved_hf_dataset_with_pil_images(folder):
    from datasets import Dataset, Image as ImageFeature, List

    data = Dataset.from_list([{"messages": [{"role": "user", "content": "<image>" + Q},
                                            {"role": "assistant", "content": A}],
                               "images": [str(folder / "img" / "a.png")]}])
    data.cast_column("images", List(ImageFeature())).save_to_disk(str(folder / "hf"))
    [row] = load_rows(folder / "hf")
    assert row["line"] == 1 and row["prompt"] == expected_row([])["prompt"]
    good, problems = validate_rows([row])
    assert good and not problems
    assert to_dataset(good)[0]["images"][0].size == (40, 30)


def write_bad_file(folder: Path) -> Path:
    Image.new("RGB", (40, 30)).save(folder / "img" / "ok.png")
    (folder / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    user = lambda n: {"role": "user", "content": [{"type": "image"}] * n + [{"type": "text", "text": Q}]}  # noqa: E731
    bot = lambda text: {"role": "assistant", "content": [{"type": "text", "text": text}]}  # noqa: E731
    lines = [
        json.dumps({"messages": [user(1), bot(A)], "images": ["img/ok.png"]}),          # 1 good
        json.dumps({"messages": [user(1), bot(A)], "images": ["img/missing.png"]}),     # 2 image_missing
        json.dumps({"messages": [user(1), bot(A)], "images": ["img/broken.png"]}),      # 3 image_unreadable
        json.dumps({"messages": [user(2), bot(A)], "images": ["img/ok.png"]}),          # 4 image_count
        json.dumps({"messages": [user(1), bot("  ")], "images": ["img/ok.png"]}),       # 5 empty_assistant
        "{not json",                                                                    # 6 format
        json.dumps({"messages": [user(1)], "images": ["img/ok.png"]}),                  # 7 empty_assistant (none)
        json.dumps({"messages": [user(1), bot(A)], "images": ["img/ok.png"]}),          # 8 good
    ]
    path = folder / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_error_class_is_reported_with_its_line(folder):
    good, problems = validate_rows(load_rows(write_bad_file(folder)))
    assert [r["line"] for r in good] == [1, 8]
    assert [(p.line, p.kind) for p in problems] == [
        (2, "image_missing"), (3, "image_unreadable"), (4, "image_count"), (5, "empty_assistant"), (6, "format"),
        (7, "empty_assistant")]


def test_all_masked_labels_and_image_cutting_max_length_are_caught(folder, tiny_llava):
    from backend.models.processors import load_processor

    processor = load_processor(tiny_llava)
    long_prompt = "word " * 200
    lines = [
        {"messages": [{"role": "user", "content": "<image>" + Q}, {"role": "assistant", "content": A}],
         "images": ["img/a.png"]},
        # Answer starts past max_length: all labels would be masked, the silent "loss 0" row.
        {"messages": [{"role": "user", "content": "<image>" + long_prompt}, {"role": "assistant", "content": A}],
         "images": ["img/a.png"]},
        # The image sits past max_length: cutting there would split the image tokens.
        {"messages": [{"role": "user", "content": long_prompt + "<image>"}, {"role": "assistant", "content": A}],
         "images": ["img/a.png"]},
    ]
    (folder / "len.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    good, problems = validate_rows(load_rows(folder / "len.jsonl"), processor, max_length=120)
    assert [r["line"] for r in good] == [1]
    assert [(p.line, p.kind) for p in problems] == [(2, "all_masked"), (3, "too_long")]


def test_sft_refuses_bad_data_with_line_numbers(folder, tiny_llava, capsys):
    from ft_helpers import run_sft

    path = write_bad_file(folder)
    assert run_sft("--model_name_or_path", str(tiny_llava), "--train_file", str(path),
                   "--output_dir", str(folder / "o"), "--max_steps", "1") == 2
    err = capsys.readouterr().err
    assert "line 2: [image_missing]" in err and "line 6: [format]" in err
    assert not (folder / "o" / "adapter_config.json").exists()
