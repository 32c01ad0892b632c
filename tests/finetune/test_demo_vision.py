"""The demo model's vision data: caption rows the finetune loader accepts, and answers parsed into colour + type."""

from __future__ import annotations

import json

from finetune.datasets import load_rows
from finetune.demo.vision import TOWER, build_tower, parse_caption, write_captions


def test_caption_rows_load_in_both_languages(tmp_path):
    path = write_captions(tmp_path, range(1))
    rows = load_rows(path)
    assert len(rows) == 80 and not [r for r in rows if isinstance(r, Exception)]
    answers = [json.loads(line)["messages"][1]["content"][0]["text"] for line in path.read_text().splitlines()]
    assert {parse_caption(a) for a in answers} == {(c, o) for c in ("red", "orange", "yellow", "green", "blue",
                                                                    "purple", "pink", "brown", "black", "gray")
                                                   for o in ("mug", "t-shirt", "sneaker", "backpack", "bottle",
                                                             "lamp", "cap", "phone")}
    assert any("的" in a for a in answers) and any(a.startswith("A ") for a in answers)


def test_parse_caption_reads_free_answers_and_admits_ignorance():
    assert parse_caption("It looks like a dark blue backpack with a pocket.") == ("blue", "backpack")
    assert parse_caption("这是一个粉色的水瓶") == ("pink", "bottle")
    assert parse_caption("Two red mugs.") == ("red", "mug")
    assert parse_caption("I cannot tell.") == (None, None)
    assert parse_caption("A reddish scarf") == (None, None)  # whole words only


def test_tower_gives_49_image_tokens(tmp_path):
    from transformers import CLIPVisionConfig

    out = build_tower(tmp_path / "tower")
    config = CLIPVisionConfig.from_pretrained(out)
    assert (config.image_size // config.patch_size) ** 2 == 49
    assert config.num_hidden_layers == TOWER["num_hidden_layers"]
    assert json.loads((out / "preprocessor_config.json").read_text())["image_mean"] == [0.5, 0.5, 0.5]


def test_measure_reports_accuracy_per_photo(aligned_model):
    from finetune.demo.render import product_photo
    from finetune.demo.vision import measure

    photos = [product_photo("mug", "red", 1, size=64), product_photo("lamp", "blue", 2, size=64)]
    report = measure(aligned_model, photos, batch_size=2)
    assert report["n"] == 2 and len(report["answers"]) == 2
    assert 0 <= report["colour_accuracy"] <= 1 and 0 <= report["object_accuracy"] <= 1
    assert [(a["colour"], a["object"]) for a in report["answers"]] == [("red", "mug"), ("blue", "lamp")]
    # the score is what the parsed answers say, not a constant
    parsed = [parse_caption(a["answer"]) for a in report["answers"]]
    assert report["colour_accuracy"] == sum(p[0] == a["colour"] for p, a in zip(parsed, report["answers"],
                                                                                 strict=True)) / 2
