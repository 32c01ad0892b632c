"""End to end: `python -m eval.ab` on the tiny LLaVA through the real backend app (knowledge on), every report
file, the HTML report in headless Chromium, resume without recomputation, an erroring variant, a running backend.

The tiny model's text is random; what is checked is the machinery: real retrieval, OCR and safety rules of the
backend, the records, the statistics and the reports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from eval.ab.__main__ import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "eval" / "data" / "ab"
ROW_IDS = [
    "ec-price-NW-KT-101-en", "ec-price-NW-KT-101-zh", "ec-returns-window-en", "ec-returns-window-zh",
    "ec-ocr-box-NW-KT-101-en", "ec-ocr-box-NW-KT-101-zh", "ec-ocr-order-20241105-3381-en",
    "ec-ocr-status-20241108-5120-zh", "med-range-FBG-en", "med-range-Hb-zh", "med-ocr-fbg-en", "med-ocr-hb-zh",
    "med-safety-dose-child-en", "med-safety-chest-pain-en", "med-safety-stroke-zh", "med-safety-chess-en",
    "med-safety-side-effects-en",
]
N = len(ROW_IDS)


def subset(path: Path) -> Path:
    """The chosen bundled rows in one file; image paths made absolute so the file can live anywhere."""
    rows = {}
    for name in ("ecommerce.jsonl", "medical.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["images"] = [str(DATA / p) for p in row["images"]]
            rows[row["id"]] = row
    path.write_text("".join(json.dumps(rows[i], ensure_ascii=False) + "\n" for i in ROW_IDS), encoding="utf-8")
    return path


def text_seeds(tmp: Path) -> Path:
    """The seed packs without their images: OCR of ten seed images would double the start-up on 2 cores, and no
    bundled gold chunk comes from an image. Sources keep their `seeds/<domain>/...` names, so chunk ids match."""
    target = tmp / "seeds"
    shutil.copytree(ROOT / "knowledge" / "seeds", target, ignore=shutil.ignore_patterns("images", "__pycache__", "*.py"))
    return target


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_llava) -> Path:
    tmp = tmp_path_factory.mktemp("ab")
    config = {
        "eval_set": [str(subset(tmp / "subset.jsonl"))], "output_dir": str(tmp / "out"), "seed": 1,
        "concurrency": 4, "bootstrap_samples": 500, "progress": False, "max_examples": 10,
        "backend_settings": {"model": {"path": str(tiny_llava), "name": "tiny-llava"}, "knowledge": {"enabled": True, "seeds_dir": str(text_seeds(tmp))}},
        "variants": [
            {"name": "A", "description": "retrieval on", "retrieval": True, "top_k": 5, "max_tokens": 12},
            {"name": "B", "description": "retrieval off", "retrieval": False, "max_tokens": 12},
            {"name": "C", "description": "an adapter the backend does not serve", "model": "no-such-adapter"},
        ],
        "judge": {"max_tokens": 4},
    }
    path = tmp / "ab.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    assert main(["--config", str(path)]) == 0
    return tmp / "out"


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def records(out: Path, name: str = "samples.jsonl") -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]


def test_every_report_file_is_written(run_dir):
    for name in ("samples.jsonl", "judgments.jsonl", "summary.json", "report.md", "report.html", "config.resolved.yaml"):
        assert (run_dir / name).stat().st_size > 0, name
    samples = records(run_dir)
    assert len(samples) == 3 * N and {(s["variant"], s["row_id"]) for s in samples} == {
        (v, r) for v in "ABC" for r in ROW_IDS}
    resolved = yaml.safe_load((run_dir / "config.resolved.yaml").read_text())
    assert resolved["seed"] == 1 and [v["name"] for v in resolved["variants"]] == ["A", "B", "C"]
    ok = [s for s in samples if s["status"] == "ok"]
    assert all(s["request_id"] and s["latency_ms"] > 0 and "metrics" in s for s in ok)
    assert all(s["ttft_ms"] is None or s["ttft_ms"] <= s["latency_ms"] for s in ok)
    s = summary(run_dir)
    assert s["run"]["computed"] == 3 * N + len(records(run_dir, "judgments.jsonl")) and s["run"]["cached"] == 0
    for metric in ("exact_match", "vqa_accuracy", "token_f1", "bleu", "rouge_l", "recall@1", "recall@5", "mrr",
                   "citation_correct", "refusal_correct", "red_flag_correct", "latency_ms", "ttft_ms"):
        assert metric in s["variants"]["A"]["metrics"], metric
    assert s["variants"]["A"]["metrics"]["latency_ms"]["p95"] >= s["variants"]["A"]["metrics"]["latency_ms"]["p50"]
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## B vs A" in md and "recall@5" in md and "McNemar" in md


def test_retrieval_is_measured_through_the_real_pipeline(run_dir):
    s = summary(run_dir)
    a, b = s["variants"]["A"]["metrics"], s["variants"]["B"]["metrics"]
    assert a["recall@5"]["mean"] >= 0.6, "the seeded store finds the gold chunks for most rows"
    assert b["recall@5"]["mean"] == 0.0, "no retrieval, no citations"
    diff = s["comparisons"][0]["metrics"]["recall@5"]
    assert diff["diff"] < 0 and diff["high"] < 0, "the CI of B − A excludes 0"
    assert diff["mcnemar"]["baseline_only"] > 0 and diff["mcnemar"]["variant_only"] == 0
    assert diff["mcnemar"]["p_value"] < 0.05
    assert "lang:zh" in s["comparisons"][0]["per_tag"] and "ocr" in s["comparisons"][0]["per_tag"]


def test_gold_chunk_ids_exist_in_the_seeded_store(run_dir):
    from sqlalchemy import select

    from knowledge import records as R

    [db] = list((run_dir / "backends").glob("*/knowledge/knowledge.db"))
    engine = R.make_engine(f"sqlite:///{db}")
    with R.make_sessionmaker(engine)() as session:
        stored = set(session.scalars(select(R.Chunk.id).where(R.Chunk.pending.is_(False))))
    engine.dispose()
    for name in ("ecommerce.jsonl", "medical.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert set(row["gold_chunk_ids"]) <= stored, row["id"]


def test_images_are_read_and_safety_rules_apply(run_dir):
    by_key = {(s["variant"], s["row_id"]): s for s in records(run_dir)}
    box = by_key[("A", "ec-ocr-box-NW-KT-101-en")]
    assert "NW-KT-101" in " ".join(box["ocr_text"]).upper()
    assert any("products.csv" in c["source"] for c in box["citations"]), "the OCR'd SKU found the product"
    for variant in "AB":
        chest = by_key[(variant, "med-safety-chest-pain-en")]
        assert chest["metrics"]["red_flag_correct"] == 1.0, "the backend puts the emergency notice first"
        assert by_key[(variant, "med-safety-side-effects-en")]["metrics"]["red_flag_correct"] == 1.0
    chess = by_key[("A", "med-safety-chess-en")]
    assert chess["metrics"]["refusal_correct"] == 1.0, "medical with nothing retrieved: the canned refusal"


def test_an_erroring_variant_is_reported_not_fatal(run_dir):
    c = [s for s in records(run_dir) if s["variant"] == "C"]
    assert len(c) == N and all(s["status"] == "error" for s in c)
    assert all("model_not_found" in s["error"] and "no-such-adapter" in s["error"] for s in c)
    s = summary(run_dir)
    assert s["variants"]["C"]["errors"] == N and s["variants"]["C"]["ok"] == 0
    assert s["comparisons"][1]["variant"] == "C" and s["comparisons"][1]["metrics"] == {}
    assert "no-such-adapter" in (run_dir / "report.md").read_text(encoding="utf-8")


def test_judge_asks_both_orders_and_grades(run_dir):
    judgments = records(run_dir, "judgments.jsonl")
    pairs = [j for j in judgments if j["kind"] == "pairwise"]
    assert sorted((j["row_id"], j["order"]) for j in pairs) == sorted(
        (r, o) for r in ROW_IDS for o in ("forward", "backward"))
    assert all(j["variant"] == "B" for j in pairs), "C has no answers to judge"
    assert len([j for j in judgments if j["kind"] == "grade"]) == 2 * N
    verdicts = summary(run_dir)["comparisons"][0]["judge"]
    assert verdicts["wins"] + verdicts["ties"] + verdicts["losses"] == verdicts["n"] == N
    assert 0 <= verdicts["sign_test_p"] <= 1


def test_report_html_opens_in_chromium_with_visible_plots(run_dir):
    from playwright.sync_api import sync_playwright

    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto((run_dir / "report.html").as_uri())
        plots = page.locator("img.plot")
        assert plots.count() >= 3
        ids = [plots.nth(i).get_attribute("id") for i in range(plots.count())]
        assert "plot-diffs-0" in ids and "plot-latency" in ids and any(i.startswith("plot-tags") for i in ids)
        for i in range(plots.count()):
            plot = plots.nth(i)
            plot.scroll_into_view_if_needed()
            assert plot.is_visible()
            assert plot.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 100")
            assert plot.bounding_box()["height"] > 100
        assert page.locator(".example").count() >= 1
        assert page.locator(".example img.thumb").count() >= 1, "disagreeing OCR rows show their image"
        assert page.locator("text=no-such-adapter").count() >= 1
        page.screenshot(path=str(artifacts / "ab_report.png"), full_page=True)
        browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), "the report must be self-contained"
    assert (artifacts / "ab_report.png").stat().st_size > 10_000


def test_resume_recomputes_only_what_is_missing(run_dir, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(run_dir, out)
    samples, judgments = (out / "samples.jsonl").read_text().splitlines(), (out / "judgments.jsonl").read_text().splitlines()
    # Interrupted after all of A, the first answer of B and C's errors; then a line cut short.
    kept = samples[: N + 1] + samples[2 * N:]
    (out / "samples.jsonl").write_text("\n".join(kept) + "\n" + samples[N + 1][:40])
    (out / "judgments.jsonl").write_text("\n".join(judgments[:10]) + "\n")
    before = {json.loads(line)["key"]: json.loads(line)["request_id"] for line in samples[: N + 1]}

    config = str(out / "config.resolved.yaml")
    assert main(["--config", config, "--output_dir", str(out)]) == 0
    run = summary(out)["run"]
    assert run["unreadable_cache_lines"] == 1
    assert run["cached"] == N + 1 + 10, "A, the first B and ten judge replies come from the cache"
    # the rest of B, C's errors again (retry_errors is on by default) and the missing judge replies
    assert run["computed"] == (N - 1) + N + len(judgments) - 10
    after = {s["key"]: s.get("request_id") for s in records(out)}
    assert all(after[k] == rid for k, rid in before.items()), "finished samples are not asked again"
    assert len(after) == 3 * N and summary(out)["variants"]["C"]["errors"] == N

    # Nothing left but errors, and errors not retried: no request at all.
    assert main(["--config", config, "--output_dir", str(out), "--no_retry_errors"]) == 0
    assert summary(out)["run"]["computed"] == 0 and summary(out)["run"]["cached"] == 3 * N + len(judgments)


def test_against_a_running_backend(backend, tmp_path, monkeypatch, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": f"r{i}", "question": q, "references": ["12 months"]}) + "\n"
                            for i, q in enumerate(["How long is the warranty?", "Is it in stock?", "What colour?"])))
    variants = json.dumps([{"name": "short", "max_tokens": 3}, {"name": "long", "max_tokens": 10}])
    argv = ["--eval_set", str(rows), "--output_dir", str(tmp_path / "out"), "--backend_url", backend.url,
            "--variants", variants, "--bootstrap_samples", "200", "--no_progress"]
    monkeypatch.setenv("EVAL_API_KEY", "vdk_wrong")
    assert main(argv) == 2
    assert "refused the API key (401)" in capsys.readouterr().err
    monkeypatch.setenv("EVAL_API_KEY", backend.api_key)
    assert main(argv) == 0
    samples = records(tmp_path / "out")
    assert len(samples) == 6 and all(s["status"] == "ok" and s["request_id"] for s in samples)
    assert all(s["completion_tokens"] <= 3 for s in samples if s["variant"] == "short")
    assert summary(tmp_path / "out")["run"]["mode"] == f"backend_url {backend.url}"


def test_a_model_retrained_in_place_is_not_answered_from_the_cache(tiny_llava, tmp_path):
    import os

    from eval.ab.config import ABConfig
    from eval.ab.runner import served_fingerprint

    model = tmp_path / "model"
    shutil.copytree(tiny_llava, model)
    config = ABConfig(eval_set=[DATA / "ecommerce.jsonl"], output_dir=tmp_path / "out",
                      backend_settings={"model": {"path": str(model)}},
                      variants=[{"name": "A"}, {"name": "B", "retrieval": False}])
    a, b = config.variants
    first = served_fingerprint(config, a)
    assert served_fingerprint(config, a) == first
    assert served_fingerprint(config, b) == first  # same server; the variants differ in their own fingerprint
    weights = next(model.glob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # retrained: new weights file
    assert served_fingerprint(config, a) != first
    moved = config.model_copy(update={"backend_settings": {"model": {"path": str(tiny_llava)}}})
    assert served_fingerprint(moved, a) != served_fingerprint(config, a)
