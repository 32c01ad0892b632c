"""Retrieval on the seed packs (English and Chinese), the eval sets' gold keys, hooks and thresholds."""

import json
from pathlib import Path

from eval.retrieval import DOMAINS, evaluate, gold_ids, load_queries
from knowledge.retrieval import RetrievalRequest, Retriever


def test_seed_packs_loaded_once(seeded):
    from knowledge.seeds import ensure_seeded

    summaries = seeded.seed_summaries
    assert set(summaries) == {"ecommerce", "medical"}
    assert all(not s.failed for s in summaries.values()), {d: s.failed for d, s in summaries.items()}
    assert len(summaries["ecommerce"].added) >= 20 and len(summaries["medical"].added) >= 20
    assert ensure_seeded(seeded) == {}  # not empty any more: left alone
    labels = [d for d in seeded.documents("ecommerce") if d.meta.get("kind") == "image"]
    assert len(labels) == 10 and all(Path(d.meta["image_copy"]).exists() for d in labels)


def test_eval_sets_are_big_enough_and_every_gold_key_resolves(seeded):
    for domain in DOMAINS:
        queries = load_queries(domain)
        assert sum(q["language"] == "en" for q in queries) >= 50 and sum(q["language"] == "zh" for q in queries) >= 50
        assert len(queries) >= 100
        assert all(gold_ids(seeded, domain, queries))


def test_english_chinese_and_image_text_are_found(seeded):
    r = Retriever(seeded)
    def top(q, domain="ecommerce", **kw):
        return r.search(RetrievalRequest(query=q, domain=domain, score_threshold=-1, **kw))[0]
    assert "30 days" in top("how many days do I have to return an item").text
    assert "30天" in top("签收后多少天内可以退货").text
    assert top("Aurora Blender price").key == "NW-BL-105"
    order = r.search(RetrievalRequest(query="status of order 20241112-7764", domain="ecommerce", top_k=3))
    assert any("20241112-7764" in h.text and h.source.endswith(".png") for h in order)  # read by OCR from a screenshot
    assert "HbA1c" in top("糖化血红蛋白的正常范围", domain="medical").text


def test_threshold_mode_and_reranker_hook(seeded):
    r = Retriever(seeded)
    q = RetrievalRequest(query="how long does express delivery take", domain="ecommerce", top_k=3)
    assert all(h.score >= seeded.settings.score_threshold for h in r.search(q))
    assert r.search(q.model_copy(update={"score_threshold": 0.999})) == []
    lexical = r.search(q.model_copy(update={"mode": "lexical", "score_threshold": -1}))
    assert lexical and all(h.dense_rank is None for h in lexical)
    received = []
    r.reranker = lambda query, hits: received.append((query, hits)) or list(reversed(hits))
    plain = Retriever(seeded).search(q)
    reranked = r.search(q)
    assert received[0][0] == q.query and len(received[0][1]) >= 3
    assert reranked == list(reversed(received[0][1]))[:3]
    assert len(plain) == 3
    assert r.search(q.model_copy(update={"domain": "nowhere"})) == []


def test_eval_metrics_on_a_sample(seeded, tmp_path):
    rep = evaluate(Retriever(seeded), "medical")
    assert rep["en"]["recall@5"] >= 0.9 and rep["zh"]["recall@5"] >= 0.85
    json.dumps(rep)
