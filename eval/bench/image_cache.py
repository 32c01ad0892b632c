"""Repeated image: preprocessing cost of the second request for the same image vs the first.

Preprocessing = what the backend does before generation: base64 data URI → validated, decoded image
(ImageLoader) → the model's image features (the engine's processor). The first request pays all of it;
the second should find both caches warm.
"""

from __future__ import annotations

import base64
import time

from eval.bench.common import Result, median, screenshot_png


def run(model_path, repeats: int = 15) -> Result:
    from transformers import AutoProcessor

    from backend.engines.feature_cache import CachingImageProcessor
    from backend.images import ImageLoader
    from backend.settings import ImageSettings, LimitSettings

    base = AutoProcessor.from_pretrained(model_path).image_processor
    firsts, seconds = [], []
    for i in range(repeats):
        uri = "data:image/png;base64," + base64.b64encode(screenshot_png(seed=i)).decode()
        loader = ImageLoader(LimitSettings(), ImageSettings())
        features = CachingImageProcessor(base)
        for bucket in (firsts, seconds):
            t0 = time.perf_counter()
            image = loader.load(uri)
            features([image], return_tensors="pt")
            bucket.append(time.perf_counter() - t0)
    ratio = median(seconds) / median(firsts)
    return Result(
        "repeated image preprocessing (second / first)",
        ratio,
        "<= 0.10",
        ratio <= 0.10,
        {"first_ms_p50": median(firsts) * 1000, "second_ms_p50": median(seconds) * 1000,
         "image": "1280x800 PNG screenshot", "repeats": repeats},
    )
