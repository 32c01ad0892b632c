"""OCR with rapidocr (PP-OCR, Chinese + English): lines with boxes and confidence, time-bounded, cached by image hash."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field


class OcrLine(BaseModel):
    text: str = Field(description="Recognised text of one line.")
    box: list[list[float]] = Field(description="Four corner points [x, y], clockwise from top-left.")
    confidence: float = Field(description="Recogniser confidence, 0..1.")


class OcrResult(BaseModel):
    """Text read from one image, top to bottom."""

    lines: list[OcrLine] = Field(default_factory=list)
    image_hash: str = Field("", description="sha256 of the RGB pixels; the cache key.")
    elapsed_s: float = Field(0.0, description="Seconds spent (0 on a cache hit).")

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class OcrTimeout(RuntimeError):
    """OCR of one image took longer than the configured bound."""


class OcrEngine:
    """One rapidocr engine; OCR runs on a worker thread so a caller can stop waiting after `timeout_s`."""

    def __init__(self, timeout_s: float = 20.0, cache_size: int = 256, min_confidence: float = 0.5) -> None:
        self.timeout_s = timeout_s
        self.min_confidence = min_confidence
        self._cache: OrderedDict[str, OcrResult] = OrderedDict()
        self._cache_size = cache_size
        self._engine = None
        self._lock = threading.Lock()
        # one worker: onnxruntime already uses every core, and a timed-out job must not pile up behind new ones
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")

    def _load(self):
        if self._engine is None:
            from rapidocr import RapidOCR

            # Detection at the image's own size (capped at 2000 px, as before): rapidocr's default upscales every
            # image to a 736 px short side, which made a 224 px photo cost 0.4 s and read noise as "一"/"二"
            # while reading no more real text (measured on the seed and eval images).
            self._engine = RapidOCR(params={"Global.log_level": "warning", "Det.limit_type": "max",
                                            "Det.limit_side_len": 2000})
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # "detection result is empty" is not a problem here
        return self._engine

    def _run(self, array: np.ndarray, key: str) -> OcrResult:
        import time

        t0 = time.perf_counter()
        with self._lock:
            out = self._load()(array)
        lines: list[OcrLine] = []
        if out.txts:
            for text, score, box in zip(out.txts, out.scores, out.boxes.tolist(), strict=False):
                if text.strip() and float(score) >= self.min_confidence:
                    lines.append(OcrLine(text=text.strip(), box=box, confidence=round(float(score), 4)))
        lines.sort(key=lambda ln: (round(ln.box[0][1] / 12), ln.box[0][0]))  # reading order: rows, then left→right
        return OcrResult(lines=lines, image_hash=key, elapsed_s=time.perf_counter() - t0)

    def read(self, image: Image.Image, timeout_s: float | None = None) -> OcrResult:
        """OCR `image`; raises OcrTimeout past the bound. Repeated images come from the cache."""
        rgb = image.convert("RGB")
        key = hashlib.sha256(rgb.tobytes() + f"{rgb.size}".encode()).hexdigest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key].model_copy(update={"elapsed_s": 0.0})
        future = self._pool.submit(self._run, np.asarray(rgb), key)
        try:
            result = future.result(timeout=timeout_s or self.timeout_s)
        except FutureTimeout:
            raise OcrTimeout(f"OCR took longer than {timeout_s or self.timeout_s:g} s (ocr_timeout_s)") from None
        if self._cache_size:
            self._cache[key] = result
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


_default: OcrEngine | None = None


def default_engine(timeout_s: float | None = None, cache_size: int | None = None) -> OcrEngine:
    """The process-wide engine (one onnxruntime session); arguments given here update its settings."""
    global _default
    if _default is None:
        _default = OcrEngine(timeout_s or 20.0, 256 if cache_size is None else cache_size)
    if timeout_s is not None:
        _default.timeout_s = timeout_s
    if cache_size is not None:
        _default._cache_size = cache_size
    return _default


def ocr_image(image: Image.Image, timeout_s: float | None = None) -> OcrResult:
    """OCR one image with the process-wide engine (used by ingestion and by chat images)."""
    return default_engine().read(image, timeout_s)
