"""The demo model's SFT rows come out of the backend's own prompt path (real Chroma, embeddings and OCR), cite the
block that holds the answer, and load in `finetune.sft`'s reader."""

from __future__ import annotations

import json
import re

import pytest

from finetune.datasets import load_rows
from finetune.demo.sft_data import build
from finetune.demo.tasks import PHOTO_QUESTIONS

QUESTIONS = {q for qs in PHOTO_QUESTIONS.values() for q in qs}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft")
    # the default recipe: most photo rows retrieve a named catalogue product (tests/finetune/test_demo_world.py)
    path = build(out, worlds=1, rows_per_world=24, seed=5, progress=False)
    return out, [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_rows_carry_the_served_prompt_and_load_for_training(built):
    out, rows = built
    assert len(rows) >= 18  # a few may be dropped: medical questions the backend answers with a canned reply
    from knowledge.profiles import load_profiles
    from knowledge.settings import KnowledgeSettings

    profiles = load_profiles(KnowledgeSettings().profiles_dir)
    for row in rows:
        system, user, assistant = row["messages"]
        assert [system["role"], user["role"], assistant["role"]] == ["system", "user", "assistant"]
        prompt = system["content"][0]["text"]
        domain = "medical" if "clinic" in prompt.split("\n")[0] else "ecommerce"
        assert prompt.startswith(profiles[domain].system_prompt.strip())  # the profile's prompt, as served
        assert sum(p["type"] == "image" for p in user["content"]) == len(row["images"])
        assert all((out / p).is_file() for p in row["images"])
        for n in re.findall(r"\[(\d+)\]", assistant["content"][0]["text"]):
            assert f"\n[{n}] " in prompt, f"answer cites [{n}], which the prompt does not hold"
    loaded = load_rows(out / "train.jsonl")
    assert not [r for r in loaded if isinstance(r, Exception)] and len(loaded) == len(rows)


@pytest.mark.slow
def test_a_cited_block_holds_the_fact_and_image_text_reaches_the_prompt(built):
    _, rows = built
    facts = [r for r in rows if r["task"].startswith("fact:") and "[" in r["messages"][2]["content"][0]["text"]]
    assert facts, "no fact question was answered from a retrieved block"
    for row in facts:
        prompt, answer = row["messages"][0]["content"][0]["text"], row["messages"][2]["content"][0]["text"]
        n = re.findall(r"\[(\d+)\]", answer)[-1]
        block = prompt.split(f"\n[{n}] ", 1)[1].split("\n\n[", 1)[0]
        numbers = re.findall(r"\d+(?:\.\d+)?", answer.split(f"[{n}]")[0])
        assert any(x in block for x in numbers) or not numbers, (answer, block)
    with_images = [r for r in rows if r["images"] and not r["task"].startswith("photo")]
    assert with_images and all("<image_text>" in r["messages"][0]["content"][0]["text"] for r in with_images)
    stats = json.loads((built[0] / "stats.json").read_text())
    assert stats["answered"] >= 1


@pytest.mark.slow
def test_photo_rows_show_the_bare_question_and_blocks_about_another_product(built):
    _, rows = built
    photos = [r for r in rows if r["task"].startswith("photo:")]
    assert photos
    for row in photos:
        system, user, _ = row["messages"]
        assert [p["text"] for p in user["content"] if p["type"] == "text"][0] in QUESTIONS  # no retrieval hint
    # the hint reached retrieval: some blocks are rows of the product catalogue
    assert any("(seeds/ecommerce/products.csv)" in r["messages"][0]["content"][0]["text"] for r in photos)


def test_the_cli_refuses_a_bad_photo_recipe_by_name(tmp_path, capsys):
    from finetune.demo.sft_data import main

    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "sft"), "--photo-wordings", "9"])
    assert exc.value.code == 2 and "photo wordings must be 1 to 6" in capsys.readouterr().err
    assert not (tmp_path / "sft").exists()  # refused before any work


@pytest.mark.slow
def test_the_cli_balances_the_unknown_product_rows_languages(tmp_path):
    from finetune.demo.sft_data import main

    # seed 7's first world draws two unknown-product questions in 30, both Chinese unless balanced
    assert main(["--out", str(tmp_path / "sft"), "--worlds", "1", "--rows-per-world", "30", "--seed", "7",
                 "--balanced-unknown"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "sft" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["lang"] for r in rows if r["task"] == "unknown") == ["en", "zh"]
