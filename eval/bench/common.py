"""Small helpers shared by the benchmarks: percentiles, test images, and the result record."""

from __future__ import annotations

import io
import statistics
from dataclasses import asdict, dataclass, field

from PIL import Image, ImageDraw


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def screenshot_png(width: int = 1280, height: int = 800, seed: int = 0) -> bytes:
    """A busy screenshot-like PNG (text rows and boxes), so decoding costs what a real screenshot costs."""
    img = Image.new("RGB", (width, height), (245, 246, 248))
    draw = ImageDraw.Draw(img)
    for row in range(0, height, 22):
        shade = (row * 7 + seed * 31) % 200
        draw.rectangle([10, row + 3, width - 10 - (row * 13) % 300, row + 17], outline=(shade, 90, 160))
        draw.text((16, row + 4), f"Order #{20240000 + row + seed} status: shipped  total ${row * 1.37:.2f}",
                  fill=(20, 20, 20))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Result:
    name: str
    ratio: float
    goal: str
    met: bool
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)
