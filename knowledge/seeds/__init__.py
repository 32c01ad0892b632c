"""Seed packs written by the project (fictional store, patient education) and `ensure_seeded` to load them."""

from knowledge.seeds.loader import ensure_seeded

__all__ = ["ensure_seeded"]
