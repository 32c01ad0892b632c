"""The demo model's vision data: caption rows the finetune loader accepts, and answers parsed into colour + type."""

from __future__ import annotations

import json

import pytest

from finetune.datasets import load_rows
from finetune.demo.vision import (CAPTION_PROMPTS, HELDOUT_PROMPTS, TOWER, build_tower, geometry, parse_caption,
                                  write_captions)


def test_default_caption_rows_are_the_committed_recipe(tmp_path):
    path = write_captions(tmp_path, range(1))
    rows = load_rows(path)
    assert len(rows) == 80 and not [r for r in rows if isinstance(r, Exception)]
    messages = [json.loads(line)["messages"] for line in path.read_text().splitlines()]
    pairs = [(m[0]["content"][1]["text"], m[1]["content"][0]["text"]) for m in messages]
    assert {q for q, _ in pairs} == set(CAPTION_PROMPTS.values())
    assert {parse_caption(a) for _, a in pairs} == {(c, o) for c in ("red", "orange", "yellow", "green", "blue",
                                                                     "purple", "pink", "brown", "black", "gray")
                                                    for o in ("mug", "t-shirt", "sneaker", "backpack", "bottle",
                                                              "lamp", "cap", "phone")}


def test_question_caption_rows_name_every_colour_and_type_in_both_languages(tmp_path):
    import re

    from finetune.demo.render import COLOURS, OBJECTS

    path = write_captions(tmp_path, range(2), questions=True)
    rows = load_rows(path)
    assert len(rows) == 160 and not [r for r in rows if isinstance(r, Exception)]
    seen = {"en": set(), "zh": set()}
    questions = set()
    for line in path.read_text().splitlines():
        row = json.loads(line)
        question, answer = row["messages"][0]["content"][1]["text"], row["messages"][1]["content"][0]["text"]
        questions.add(question)
        obj, colour = re.match(r"images/(.+)-(\w+)-\d+\.png", row["images"][0]).groups()
        named = parse_caption(answer)
        assert named[0] in (None, colour) and named[1] in (None, obj) and named != (None, None), (row, named)
        lang = "zh" if re.search("[\u4e00-\u9fff]", answer) else "en"
        seen[lang] |= {n for n in named if n}
    # the language turns with the seed: no colour or type is only ever captioned in one language
    assert seen["en"] == seen["zh"] == set(COLOURS) | set(OBJECTS)
    assert CAPTION_PROMPTS["en"] in questions and CAPTION_PROMPTS["zh"] in questions and len(questions) > 6


def test_the_heldout_wording_is_in_no_training_row_and_no_eval_set(tmp_path):
    from eval.ab.contamination import BUNDLED
    from eval.ab.evalset import load_eval_sets
    from finetune.demo.sft_data import template_matches

    def asked(wordings: int) -> set[str]:
        path = write_captions(tmp_path / str(wordings), range(2), questions=True, wordings=wordings)
        return {json.loads(line)["messages"][0]["content"][1]["text"] for line in path.read_text().splitlines()}

    two, six = asked(2), asked(6)
    assert two < six  # more wordings asked, the first two among them
    held = set(HELDOUT_PROMPTS.values())
    assert len(held) == 2 and not held & six
    assert template_matches(sorted(held)) == []  # no SFT template either
    assert not held & {r.question for r in load_eval_sets([str(p) for p in BUNDLED])}


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
    finer = CLIPVisionConfig.from_pretrained(build_tower(tmp_path / "finer", image_size=112, patch_size=16))
    assert (finer.image_size, finer.patch_size, finer.hidden_size) == (112, 16, TOWER["hidden_size"])
    assert geometry(finer) == {"image_size": 112, "patch_size": 16} == geometry(finer.to_dict())
    with pytest.raises(ValueError, match="must be a multiple of its patch size"):
        build_tower(tmp_path / "bad", image_size=100, patch_size=16)


def test_measure_reports_accuracy_per_photo(aligned_model):
    from finetune.demo.render import product_photo
    from finetune.demo.vision import measure, measure_many

    photos = [product_photo("mug", "red", 1, size=64), product_photo("lamp", "blue", 2, size=64)]
    report = measure(aligned_model, photos, batch_size=2)
    assert report["n"] == 2 and len(report["answers"]) == 2
    assert 0 <= report["colour_accuracy"] <= 1 and 0 <= report["object_accuracy"] <= 1
    assert [(a["colour"], a["object"]) for a in report["answers"]] == [("red", "mug"), ("blue", "lamp")]
    assert report["question"] == CAPTION_PROMPTS["en"]
    other = measure(aligned_model, photos, question=HELDOUT_PROMPTS["en"], batch_size=2)
    assert other["question"] == HELDOUT_PROMPTS["en"]
    assert [a["answer"] for a in other["answers"]] != [a["answer"] for a in report["answers"]]  # the prompt is asked
    # the score is what the parsed answers say, not a constant
    parsed = [parse_caption(a["answer"]) for a in report["answers"]]
    assert report["colour_accuracy"] == sum(p[0] == a["colour"] for p, a in zip(parsed, report["answers"],
                                                                                 strict=True)) / 2
    # the build's check: several questions on one loaded checkpoint, each the same as asked alone
    both = measure_many(aligned_model, photos, {"caption": ("en", None), "heldout": ("en", HELDOUT_PROMPTS["en"])},
                        batch_size=2)
    assert both == {"caption": report, "heldout": other}


def test_anchored_projector_reads_as_the_words_the_tower_sees(tmp_path):
    """After anchoring, an image's tokens point at the word embedding of the colour the warm-up head picks."""
    import torch
    from ft_helpers import build_parts
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor
    from finetune.align import assemble, save_checkpoint
    from finetune.demo.render import COLOURS, catalogue
    from finetune.demo.vision import HEADS_FILE, anchor_projector, features, pretrain_tower

    tower = build_tower(tmp_path / "tower")
    warmup = pretrain_tower(tower, range(2), range(1000, 1001), steps=40, batch_size=32, learning_rate=3e-3,
                            log=lambda *a, **k: None)
    assert warmup["heldout_accuracy"]["colour"] > 0.3  # the heads see something: chance is 0.1
    _, lm = build_parts(tmp_path)
    stage0 = save_checkpoint(*assemble(tower, lm), tmp_path / "stage0")
    report = anchor_projector(stage0, tower)
    assert report["anchored_units"] == 18

    model = AutoModelForImageTextToText.from_pretrained(stage0, dtype=torch.float32).eval()
    projector = model.model.multi_modal_projector
    assert not torch.count_nonzero(projector.linear_2.weight[:, 18:]) and not torch.count_nonzero(projector.linear_2.bias)
    tokenizer = load_processor(stage0).tokenizer
    embed = model.get_input_embeddings().weight
    words = torch.stack([embed[tokenizer(f" {c}", add_special_tokens=False)["input_ids"]
                               + tokenizer(zh, add_special_tokens=False)["input_ids"]].mean(0)
                         for c, (_, zh) in COLOURS.items()])
    photos = catalogue(range(1000, 1001))
    pixels = load_processor(stage0).image_processor([p.image for p in photos], return_tensors="pt")["pixel_values"]
    heads = load_file(str(tower / HEADS_FILE))
    with torch.no_grad():
        vision = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True)
        tokens = projector(vision.hidden_states[-2][:, 1:])
        seen = (features(model.model.vision_tower, pixels) @ heads["colour.weight"].T + heads["colour.bias"]).argmax(-1)
    read = torch.nn.functional.cosine_similarity(tokens.mean(1)[:, None], words[None], dim=-1).argmax(-1)
    assert (read == seen).float().mean() > 0.8, (read, seen)
    # image tokens are as long as word embeddings, so SmolLM2 reads them at the scale of its inputs
    assert 0.5 < float(tokens.norm(dim=-1).mean() / embed.norm(dim=-1).mean()) < 2


def test_anchoring_without_warm_up_heads_says_how_to_get_them(tmp_path):
    from finetune.demo.vision import anchor_projector

    with pytest.raises(FileNotFoundError, match="redo the warm-up .*--anchor_projector off"):
        anchor_projector(tmp_path / "stage0", build_tower(tmp_path / "tower"))
