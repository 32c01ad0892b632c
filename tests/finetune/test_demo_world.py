"""The demo model's SFT worlds: generated shops and clinics whose facts sit in their documents, questions that never
match an eval question, and images whose text real OCR reads back."""

from __future__ import annotations

import json

import pytest

from finetune.demo.scenes import lab_report, order_screen, product_box
from finetune.demo.sft_data import template_matches
from finetune.demo.tasks import PhotoRecipe, drafts
from finetune.demo.world import make_world
from support import ROOT


def test_a_world_is_reproducible_and_worlds_differ():
    a, b, other = make_world(3), make_world(3), make_world(4)
    assert a.facts == b.facts and a.numbers == b.numbers
    assert [p.price for p in a.products] != [p.price for p in other.products]
    assert {p.name for p in a.products}.isdisjoint({"Breeze Kettle", "Nova Kettle"})  # never the Northwind catalogue


def test_every_fact_is_written_in_its_source_document(tmp_path):
    from knowledge.formats import extract

    world = make_world(5)
    world.write(tmp_path)
    for fact in world.facts:
        path = tmp_path / fact.source
        assert path.exists(), fact
        # as ingestion reads it: a CSV row becomes `column: value; ...`, the form retrieved blocks show
        assert fact.evidence.lower() in extract(path, max_bytes=10**6).text.lower(), fact


def test_no_training_template_matches_a_bundled_eval_question():
    from eval.ab.contamination import BUNDLED
    from eval.ab.evalset import load_eval_sets

    questions = [r.question for r in load_eval_sets([str(p) for p in BUNDLED])]
    assert len(questions) >= 60
    assert template_matches(questions) == []
    # the check itself bites: a question written from a training template is caught
    assert template_matches(["What's the price of the Breeze Kettle?", "清风电热水壶的保修期是多久？"]) != []
    assert len(template_matches(["What's the price of the Breeze Kettle?"])) == 1


def test_drafts_follow_the_mix_and_are_deterministic():
    world = make_world(1)
    first = drafts(world, 200, seed=0, photo_seeds=range(3))
    again = drafts(world, 200, seed=0, photo_seeds=range(3))
    assert [d.question for d in first] == [d.question for d in again]
    families = {d.task.split(":")[0] for d in first}
    assert {"fact", "box", "order", "lab", "photo", "safety"} <= families
    assert {d.lang for d in first} == {"en", "zh"}
    # dose / medicine-change / diagnosis requests get the medical profile's fixed reply: nothing to train
    assert not [d for d in first if d.task == "safety:refuse"]
    emergencies = [d for d in first if d.task.startswith("safety:")]
    assert emergencies and all(d.domain == "medical" for d in emergencies)


def test_most_photo_questions_retrieve_a_named_product_that_the_photo_contradicts():
    from knowledge.text import is_chinese

    world = make_world(1)
    plain = drafts(world, 400, seed=0, photo_seeds=range(3), photos=PhotoRecipe(distractors=False))
    assert not [d for d in plain if d.retrieval_hint]
    with_hints = drafts(world, 400, seed=0, photo_seeds=range(3))  # on by default
    assert [d.question for d in with_hints] == [d.question for d in plain]  # the same draw, hints added
    photos = [d for d in with_hints if d.task.startswith("photo:")]
    hinted = [d for d in photos if d.retrieval_hint]
    assert len(photos) >= 40 and 0.5 < len(hinted) / len(photos) < 1.0
    by_name = {p.name: p for p in world.products} | {p.name_zh: p for p in world.products}
    assert all(d.retrieval_hint in by_name and d.retrieval_hint not in d.question for d in hinted)
    assert all(is_chinese(d.retrieval_hint) == (d.lang == "zh") for d in hinted)
    # the answer is the photo's, whatever the named product's colour is
    assert any(by_name[d.retrieval_hint].colour not in d.answer([]) for d in hinted if d.task == "photo:colour")


def test_the_photo_recipe_sets_share_and_wordings_and_the_previous_recipe_still_draws_as_before():
    from finetune.demo.tasks import MIX, PHOTO_QUESTIONS

    world = make_world(1)
    before = PhotoRecipe(share=0.18, wordings=2, distractors=False)  # the recipe of the parts before these
    assert before.mix() is MIX  # the very weights its data was drawn with
    previous = drafts(world, 400, seed=0, photo_seeds=range(3), photos=before)
    first_two = {q for qs in PHOTO_QUESTIONS.values() for q in qs[:2]}
    assert {d.question for d in previous if d.task.startswith("photo:")} <= first_two
    default = drafts(world, 400, seed=0, photo_seeds=range(3))
    photo_share = sum(d.task.startswith("photo:") for d in default) / len(default)
    assert 0.24 < photo_share < 0.36 and sum(d.task.startswith("photo:") for d in previous) / 400 < 0.24
    assert {d.question for d in default if d.task.startswith("photo:")} - first_two  # the other wordings are asked
    assert abs(sum(w for _, w in PhotoRecipe().mix()) - sum(w for _, w in MIX)) < 1e-9
    with pytest.raises(ValueError, match="wordings must be 1 to 6"):
        PhotoRecipe(wordings=7)
    with pytest.raises(ValueError, match="share must be between 0 and 1"):
        PhotoRecipe(share=1.5)


def test_the_product_fact_share_asks_more_product_facts_and_refuses_a_share_outside_0_to_1():
    from finetune.demo.tasks import PRODUCT_KINDS

    world = make_world(1)

    def product_facts(ds):
        shop = [d for d in ds if d.task.startswith("fact:") and d.domain == "ecommerce"]
        return sum(d.task.split(":")[1] in PRODUCT_KINDS for d in shop) / len(shop), len(shop)

    default = drafts(world, 1200, seed=0, photo_seeds=range(3))
    share, n = product_facts(default)
    assert n > 250 and 0.25 < share < 0.42  # 4 of the 12 kinds
    weighted = drafts(world, 1200, seed=0, photo_seeds=range(3), product_share=0.75)
    share, n = product_facts(weighted)
    assert n > 250 and 0.68 < share < 0.82
    assert drafts(world, 50, seed=0, photo_seeds=range(3), product_share=0.75)[0].question == weighted[0].question
    assert {d.lang for d in weighted if d.task in ("fact:price", "fact:warranty")} == {"en", "zh"}
    with pytest.raises(ValueError, match="product fact share must be between 0 and 1"):
        drafts(world, 10, seed=0, photo_seeds=range(3), product_share=1.0)


def test_balanced_unknown_rows_ask_both_languages_and_every_product_fact_and_leave_the_other_rows_alone():
    from collections import Counter

    from finetune.demo.tasks import PRODUCT_KINDS, TEMPLATES

    world = make_world(1)
    drawn = drafts(world, 400, seed=0, photo_seeds=range(3))
    balanced = drafts(world, 400, seed=0, photo_seeds=range(3), balanced_unknown=True)
    unknown = [d for d in balanced if d.task == "unknown"]
    assert len(unknown) >= 8
    langs = Counter(d.lang for d in unknown)
    assert abs(langs["en"] - langs["zh"]) <= 1
    kinds = set()
    for d in unknown:
        for kind in PRODUCT_KINDS:
            if template_matches([d.question], TEMPLATES[(kind, d.lang)]):
                kinds.add(kind)
        assert d.answer([]).startswith("知识库中没有" if d.lang == "zh" else "I couldn't find the")
    assert kinds == set(PRODUCT_KINDS)
    # every other row is the default (committed) draw: same families in the same order, same questions
    assert [d.task for d in drawn] == [d.task for d in balanced]
    assert [d.question for d in drawn if d.task != "unknown"] == [d.question for d in balanced if d.task != "unknown"]


def test_the_demo_command_defaults_to_the_committed_parts_recipe_and_refuses_a_bad_one_first(tmp_path, capsys):
    from finetune.demo.__main__ import DemoConfig, main, recipe

    cfg = DemoConfig()
    assert PhotoRecipe(cfg.photo_share, cfg.photo_wordings, cfg.photo_distractors) == PhotoRecipe()
    # the committed parts record the settings that built them: a bare `python -m finetune.demo` rebuilds them
    parts = json.loads((ROOT / "backend" / "models" / "demo_parts" / "parts.json").read_text())
    assert parts["report"]["config"] == recipe(cfg)
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "demo"), "--photo_wordings", "9"])
    assert exc.value.code == 2 and "photo wordings must be 1 to 6" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "demo"), "--tower_image_size", "100", "--tower_patch_size", "16"])
    assert exc.value.code == 2 and "image size (100) must be a multiple of its patch size" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "demo"), "--product_fact_share", "1.5"])
    assert exc.value.code == 2 and "product fact share must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()  # stopped before the first step


def test_lab_reports_flag_exactly_the_out_of_range_value():
    world = make_world(2)
    for seed in range(20):
        _, rows = lab_report(world, seed, "en")
        flagged = [r for r in rows if r["flag"]]
        assert len(flagged) == 1
        for r in rows:
            low, high = (float(v) for v in r["range"].split("-"))
            value = float(r["value"])
            assert (r["flag"] == "H") == (value > high) and (r["flag"] == "L") == (value < low), r


@pytest.mark.slow
def test_ocr_reads_the_sku_and_the_order_number_the_answers_rely_on():
    from knowledge.ocr import OcrEngine

    world = make_world(0)
    ocr = OcrEngine(timeout_s=60, cache_size=0)
    product = world.products[0]
    text = ocr.read(product_box(world, product, seed=1)).text
    assert product.sku in text.replace(" ", "")
    order = world.orders[0]
    assert order["number"] in ocr.read(order_screen(world, order, seed=1)).text
