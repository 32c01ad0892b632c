"""Reuses the attention keys and values of prompt openings that earlier prompts shared (automatic prefix caching).

Grounded prompts of one domain open with the same ~200 tokens of profile text; on a CPU, prefilling those is a
third of the time to first token. Entries hold the text before a prompt's first image, keyed by adapter (a LoRA
changes the keys and values); a lookup returns a copy cut to the longest shared opening.
"""

from __future__ import annotations

import copy
import threading

import torch

# Families whose positions are plain token offsets. Qwen2-VL's multimodal rotary positions and other models
# that keep per-call position state would need their own continuation logic.
FAMILIES = frozenset({"llava"})


class PrefixCache:
    def __init__(self, entries: int = 4, min_tokens: int = 16):
        self.entries = entries
        self.min_tokens = min_tokens
        self._items: list[tuple[str, torch.Tensor, object]] = []  # least recently used first
        self._lock = threading.Lock()
        self.hits = 0
        self.reused_tokens = 0

    def lookup(self, key: str, ids: torch.Tensor, limit: int):
        """A private copy of the cache for the longest stored opening of `ids[:limit]`, or None."""
        with self._lock:
            # Entries are picked by position: comparing the tuples would compare their token tensors.
            scored = [(shared_length(item[1], ids, limit), i) for i, item in enumerate(self._items) if item[0] == key]
            best_len, at = max(scored, default=(0, None))
            if best_len < self.min_tokens:
                return None
            best = self._items.pop(at)
            self._items.append(best)
            cache = copy.deepcopy(best[2])
        cache.crop(best_len - cache.get_seq_length())
        self.hits += 1
        self.reused_tokens += best_len
        return cache

    def store(self, key: str, ids: torch.Tensor, cache, limit: int) -> None:
        """Keep `cache` (taken over, not copied) for the opening `ids[:limit]`; generated tokens are cut off."""
        if limit < self.min_tokens or cache.get_seq_length() < limit:
            return
        cache.crop(limit - cache.get_seq_length())
        with self._lock:
            self._items.append((key, ids[:limit].clone(), cache))
            del self._items[: max(len(self._items) - self.entries, 0)]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def shared_length(a: torch.Tensor, b: torch.Tensor, limit: int) -> int:
    """How many leading tokens a and b share, up to limit."""
    n = min(len(a), len(b), limit)
    if n <= 0:
        return 0
    differ = (a[:n] != b[:n]).nonzero()
    return int(differ[0]) if len(differ) else n


def cacheable_length(ids: torch.Tensor, image_token_id: int | None) -> int:
    """The part of a prompt another prompt may share: the text before its first image, and never the last token
    (generation needs at least one new position to produce logits)."""
    limit = len(ids) - 1
    if image_token_id is not None:
        at = (ids == image_token_id).nonzero()
        if len(at):
            limit = min(limit, int(at[0]))
    return max(limit, 0)
