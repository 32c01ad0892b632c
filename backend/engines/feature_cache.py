"""Caches a processor's per-image features by image content hash, so a repeated screenshot skips preprocessing."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from PIL import Image

from backend.images import HASH_KEY


def image_key(img: Image.Image) -> str:
    key = img.info.get(HASH_KEY)
    if key:
        return key
    # Images that did not come through ImageLoader: hash the pixels instead of the file bytes.
    return hashlib.blake2b(img.tobytes() + repr((img.size, img.mode)).encode(), digest_size=16).hexdigest()


class CachingImageProcessor:
    """Wraps an image processor: splits a call into single images, reuses cached results, joins them back.

    Joining concatenates along the first axis; per-image tensors of different lengths along axis 1
    (LLaVA-NeXT's patch count) are zero-padded, which is what the wrapped processors do themselves.
    """

    def __init__(self, inner: Any, capacity: int = 256):
        self._inner = inner
        self._capacity = capacity
        self._cache: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, images: Any = None, **kwargs: Any) -> Any:
        flat = _flatten(images)
        if not flat or self._capacity == 0 or not all(isinstance(i, Image.Image) for i in flat):
            return self._inner(images, **kwargs)
        return_tensors = kwargs.pop("return_tensors", None)
        options = repr(sorted(kwargs.items()))
        parts = [self._one(img, options, kwargs) for img in flat]
        joined = {key: _join([p[key] for p in parts]) for key in parts[0]}
        return _as_batch_feature(self._inner, joined, return_tensors)

    def _one(self, img: Image.Image, options: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        key = (image_key(img), options)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return hit
        out = self._inner([img], return_tensors="pt", **kwargs)
        feats = {k: v for k, v in out.items()}
        with self._lock:
            self.misses += 1
            self._cache[key] = feats
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return feats


def _flatten(images: Any) -> list[Any]:
    if images is None:
        return []
    if isinstance(images, Image.Image):
        return [images]
    out: list[Any] = []
    for item in images:
        out.extend(_flatten(item) if isinstance(item, (list, tuple)) else [item])
    return out


def _join(values: list[Any]) -> Any:
    if len(values) == 1:  # the common single-image request: hand out the cached tensor, no copy
        return values[0]
    if all(isinstance(v, torch.Tensor) for v in values):
        if values[0].dim() >= 2 and len({v.shape[1:] for v in values}) > 1:
            width = max(v.shape[1] for v in values)
            values = [_pad_axis1(v, width) for v in values]
        return torch.cat(values, dim=0)
    if all(isinstance(v, np.ndarray) for v in values):
        return np.concatenate(values, axis=0)
    joined: list[Any] = []
    for v in values:
        joined.extend(v if isinstance(v, list) else [v])
    return joined


def _pad_axis1(t: torch.Tensor, width: int) -> torch.Tensor:
    if t.shape[1] == width:
        return t
    pad = torch.zeros((t.shape[0], width - t.shape[1], *t.shape[2:]), dtype=t.dtype)
    return torch.cat([t, pad], dim=1)


def _as_batch_feature(inner: Any, data: dict[str, Any], return_tensors: str | None) -> Any:
    from transformers import BatchFeature

    return BatchFeature(data=data, tensor_type=return_tensors or "pt")
