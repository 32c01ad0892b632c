"""Hybrid retrieval (dense Chroma + BM25 with jieba, fused by reciprocal rank): one path for chat, admin and eval."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from knowledge.errors import StoreUnavailable
from knowledge.store import ChunkView, KnowledgeStore
from knowledge.text import tokenize


class RetrievalRequest(BaseModel):
    """One search; unset fields take the knowledge settings' defaults."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    query: str = Field(description="What to look for (question + OCR text + recent turns).")
    domain: str = Field(description="Domain whose collection is searched.")
    top_k: int | None = Field(None, ge=1, le=100, description="Hits returned.")
    score_threshold: float | None = Field(None, description="Minimum dense cosine similarity of a hit.")
    tags: list[str] = Field(default_factory=list, description="Keep only chunks whose document has any of these tags.")
    languages: list[str] = Field(default_factory=list, description="Keep only documents in these languages.")
    expansions: list[str] = Field(default_factory=list, description="Extra lexical terms (e.g. glossary synonyms).")
    mode: str = Field("hybrid", pattern="^(hybrid|dense|lexical)$", description="hybrid, dense or lexical.")
    query_vector: list[float] | None = Field(None, description="Precomputed query embedding (benchmarks).")


class Hit(BaseModel):
    chunk_id: str
    document_id: str
    title: str
    source: str
    text: str
    score: float = Field(description="Dense cosine similarity between query and chunk.")
    fused: float = Field(description="Reciprocal-rank-fusion score that ordered the hits.")
    dense_rank: int | None = None
    lexical_rank: int | None = None
    position: int = 0
    key: str | None = None
    tags: list[str] = Field(default_factory=list)


Reranker = Callable[[str, list[Hit]], list[Hit]]


@dataclass
class _DomainCache:
    generation: int
    chunks: list[ChunkView]
    by_id: dict[str, int]
    bm25: object | None
    tags: list[frozenset[str]]
    masks: dict = None  # filter → boolean mask, computed once per generation

    def __post_init__(self) -> None:
        self.masks = {}


class Retriever:
    """Search a domain; the BM25 index and the visible-chunk table are rebuilt when the domain's generation moves."""

    def __init__(self, store: KnowledgeStore, *, reranker: Reranker | None = None) -> None:
        self.store = store
        self.settings = store.settings
        self.reranker = reranker
        self._cache: dict[str, _DomainCache] = {}
        self._lock = threading.Lock()

    def _domain(self, domain: str) -> _DomainCache | None:
        gen = self.store.generation(domain)
        if gen < 0:
            return None
        cached = self._cache.get(domain)
        if cached is not None and cached.generation == gen:
            return cached
        with self._lock:
            cached = self._cache.get(domain)
            if cached is not None and cached.generation == gen:
                return cached
            import bm25s

            self.store.check_domain(domain)  # refuses a domain built with another embedder
            chunks = self.store.visible_chunks(domain)
            corpus = [tokenize(f"{c.title}\n{c.text}") or ["∅"] for c in chunks]
            bm25 = None
            if chunks:
                bm25 = bm25s.BM25()
                bm25.index(corpus, show_progress=False)
            cached = _DomainCache(gen, chunks, {c.id: i for i, c in enumerate(chunks)}, bm25,
                                  [frozenset(c.tags) for c in chunks])
            self._cache[domain] = cached
            return cached

    def search(self, request: RetrievalRequest) -> list[Hit]:
        """Dense and lexical candidates, filtered in memory, fused, thresholded, optionally reranked.

        Raises StoreUnavailable when a Chroma server stops answering (the client's transport error otherwise
        leaks out as an unexplained 500), so callers can tell "the store is down" from a bug.
        """
        try:
            return self._search(request)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"Chroma server at {self.store.index.location} is unreachable "
                                   f"({type(exc).__name__}: {exc})") from None

    def _search(self, request: RetrievalRequest) -> list[Hit]:
        s = self.settings
        top_k = request.top_k or s.top_k
        threshold = s.score_threshold if request.score_threshold is None else request.score_threshold
        cache = self._domain(request.domain)
        if cache is None or not cache.chunks:
            return []
        allowed = self._mask(cache, request)
        qvec = (np.asarray(request.query_vector, np.float32) if request.query_vector is not None
                else self.store.embed_query(request.query))
        n = max(s.candidates, top_k)
        dense: list[tuple[int, float]] = []
        if request.mode != "lexical":
            # oversample when filters are on: they are applied here, not as a Chroma `where` (20-45x slower)
            want = n if allowed is None else min(len(cache.chunks), n * 4)
            for cid, sim in self.store.index.query(request.domain, qvec, min(want, len(cache.chunks))):
                i = cache.by_id.get(cid)  # ids of pending or stale vectors are not in the table: ignored
                if i is not None and (allowed is None or allowed[i]):
                    dense.append((i, sim))
            dense = dense[:n]
        lexical: list[int] = []
        if request.mode != "dense" and cache.bm25 is not None:
            tokens = tokenize(request.query) + [t for e in request.expansions for t in tokenize(e)]
            if tokens:
                scores = cache.bm25.get_scores(tokens)
                if allowed is not None:
                    scores = np.where(allowed, scores, 0.0)
                top = np.argpartition(-scores, min(n, len(scores) - 1))[:n]
                lexical = [int(i) for i in top[np.argsort(-scores[top])] if scores[i] > 0]
        fused: dict[int, float] = {}
        for rank, (i, _) in enumerate(dense):
            fused[i] = fused.get(i, 0.0) + 1.0 / (s.rrf_k + rank + 1)
        for rank, i in enumerate(lexical):
            fused[i] = fused.get(i, 0.0) + 1.0 / (s.rrf_k + rank + 1)
        sims = dict(dense)
        missing = [cache.chunks[i].id for i in fused if i not in sims]
        for cid, vec in self.store.index.vectors(request.domain, missing).items():
            sims[cache.by_id[cid]] = float(vec @ qvec)
        dense_rank = {i: r + 1 for r, (i, _) in enumerate(dense)}
        lex_rank = {i: r + 1 for r, i in enumerate(lexical)}
        order = sorted(fused, key=lambda i: -fused[i])
        hits = []
        for i in order:
            sim = sims.get(i, 0.0)
            if sim < threshold:
                continue
            c = cache.chunks[i]
            hits.append(Hit(chunk_id=c.id, document_id=c.document_id, title=c.title, source=c.source, text=c.text,
                            score=round(sim, 4), fused=round(fused[i], 6), dense_rank=dense_rank.get(i),
                            lexical_rank=lex_rank.get(i), position=c.position, key=c.key, tags=list(c.tags)))
        if self.reranker is not None:
            hits = self.reranker(request.query, hits)
        return hits[:top_k]

    @staticmethod
    def _mask(cache: _DomainCache, request: RetrievalRequest) -> np.ndarray | None:
        if not request.tags and not request.languages:
            return None
        key = (tuple(sorted(request.tags)), tuple(sorted(request.languages)))
        if key not in cache.masks:
            cache.masks[key] = Retriever._build_mask(cache, request)
        return cache.masks[key]

    @staticmethod
    def _build_mask(cache: _DomainCache, request: RetrievalRequest) -> np.ndarray:
        want_tags = frozenset(request.tags)
        langs = set(request.languages)
        return np.array([(not want_tags or bool(t & want_tags)) and (not langs or c.language in langs)
                         for c, t in zip(cache.chunks, cache.tags, strict=True)], dtype=bool)
