"""Load the seed packs into empty domains on first start."""

from __future__ import annotations

from pathlib import Path

from knowledge.ingest import IngestSummary, ingest
from knowledge.store import KnowledgeStore


def ensure_seeded(store: KnowledgeStore, domains: list[str] | None = None, *, force: bool = False) -> dict[str, IngestSummary]:
    """Ingest `seeds/<domain>/` for every domain that has no documents yet (all of them with `force`).

    Idempotent: a domain that already holds documents is left alone; re-seeding adds only what changed.
    """
    seeds_dir: Path = store.settings.seeds_dir
    out: dict[str, IngestSummary] = {}
    for folder in sorted(p for p in seeds_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        domain = folder.name
        if domains is not None and domain not in domains:
            continue
        if not force and not store.is_empty(domain):
            continue
        # sources are named `seeds/<domain>/...` wherever the package is installed, so eval gold keys hold
        out[domain] = ingest(store, [folder], domain, actor="seed", source_root=seeds_dir.parent)
    return out
