"""The bundled A/B eval sets: reproducible from the builder, cover what the issue asks, and kept out of training data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from eval.ab import contamination
from eval.ab.bundled import BundleError, build, resolve_gold, seed_chunk_index
from eval.ab.contamination import find_leaks, training_files
from eval.ab.evalset import load_eval_sets

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "eval" / "data" / "ab"
SETS = [DATA / "ecommerce.jsonl", DATA / "medical.jsonl", DATA / "photos.jsonl"]


@pytest.fixture(scope="module")
def rows():
    return load_eval_sets(SETS)


def test_builder_reproduces_the_committed_files(tmp_path):
    build(tmp_path)
    for name in ("ecommerce.jsonl", "medical.jsonl", "photos.jsonl"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (DATA / name).read_text(encoding="utf-8"), name
    committed = sorted(p.name for p in (DATA / "images").glob("*.png"))
    assert committed == sorted(p.name for p in (tmp_path / "images").glob("*.png"))
    for name in committed:
        with Image.open(DATA / "images" / name) as a, Image.open(tmp_path / "images" / name) as b:
            assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None, name
    assert sum(p.stat().st_size for p in (DATA / "images").glob("*.png")) < 200_000, "keep committed binaries small"


def test_sets_cover_domains_languages_ocr_and_safety(rows):
    def count(**where):
        return sum(1 for r in rows if all(getattr(r, k) == v if k != "tag" else v in r.tags for k, v in where.items()))

    for domain in ("ecommerce", "medical"):
        for lang in ("en", "zh"):
            assert count(domain=domain, language=lang) >= 8, (domain, lang)
            assert count(domain=domain, language=lang, tag="ocr") >= 2, (domain, lang)
    ocr = [r for r in rows if "ocr" in r.tags]
    assert all(r.images and all(p.is_file() for p in r.image_paths()) for r in ocr)
    assert count(domain="medical", tag="should_refuse") >= 4 and count(domain="medical", tag="red_flag") >= 3
    assert any(r.is_safety_case and not r.should_refuse for r in rows), "controls that should be answered"
    assert all(r.references for r in rows if not r.is_safety_case)
    photos = [r for r in rows if "photo" in r.tags]
    assert {r.references[0] for r in photos if "colour" in r.tags and r.language == "en"} >= {"red", "blue", "gray"}
    assert len({r.images[0] for r in photos}) >= 20 and all(p.is_file() for r in photos for p in r.image_paths())
    gold = [r for r in rows if r.gold_chunk_ids]
    assert len(gold) >= 40 and all(r.gold_sources for r in gold)


def test_gold_ids_are_the_seed_chunks_that_contain_the_answer(rows):
    index = {cid: (src, text) for src, cid, text in seed_chunk_index()}
    by_id = {r.id: r for r in rows}
    for r in rows:
        for cid in r.gold_chunk_ids:
            assert cid in index, f"{r.id}: {cid} is not a seed chunk"
            assert index[cid][0] in r.gold_sources
    kettle = by_id["ec-price-NW-KT-101-en"]
    assert all("NW-KT-101" in index[c][1] for c in kettle.gold_chunk_ids)
    assert "28.99" in index[kettle.gold_chunk_ids[0]][1]
    with pytest.raises(BundleError, match="no chunk of seeds/medical/lab_tests.csv contains 'no such phrase'"):
        resolve_gold([{"id": "x", "gold": [("seeds/medical/lab_tests.csv", "no such phrase")]}], [
            (s, c, t) for c, (s, t) in index.items()])


def test_no_eval_question_is_in_the_training_data(rows):
    files = training_files()
    assert find_leaks(rows, files) == []
    assert contamination.main([]) == 0


def test_a_leaked_question_is_found_in_any_training_format(tmp_path, rows, capsys):
    question = next(r for r in rows if r.id == "ec-rice-e3-en").question
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"messages": [{"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": "On its way."}]},
        {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question.upper()}]},
                      {"role": "assistant", "content": "E3 is the lid."}]},
    ]) + "\n")
    llava = tmp_path / "llava.json"
    zh = next(r for r in rows if r.id == "med-cancel-zh").question
    llava.write_text(json.dumps([{"image": "x.png", "conversations": [
        {"from": "human", "value": f"<image>\n请问：{zh}谢谢"}, {"from": "gpt", "value": "24小时"}]}], ensure_ascii=False))
    leaks = find_leaks(rows, [jsonl, llava])
    assert {(leak.row_id, Path(leak.file).name, leak.line) for leak in leaks} == {
        ("ec-rice-e3-en", "train.jsonl", 2), ("med-cancel-zh", "llava.json", 1)}
    assert contamination.main(["--train", str(jsonl)]) == 1
    assert "LEAK ec-rice-e3-en" in capsys.readouterr().out
    assert contamination.main(["--train", str(tmp_path / "missing.jsonl")]) == 2
