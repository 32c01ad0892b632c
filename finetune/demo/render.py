"""Product photos for the demo model's vision side: simple objects in named colours, drawn with PIL.

Each photo varies background, size, position, rotation and shade, so colour and object type are what stays
constant; a seed makes every image reproducible, and held-out sets use seeds training never sees.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

# name: (RGB, Chinese name). Ten colours far apart in hue or lightness; chance is 1/10.
COLOURS: dict[str, tuple[tuple[int, int, int], str]] = {
    "red": ((200, 30, 40), "红色"),
    "orange": ((240, 130, 20), "橙色"),
    "yellow": ((240, 215, 30), "黄色"),
    "green": ((40, 150, 60), "绿色"),
    "blue": ((35, 80, 200), "蓝色"),
    "purple": ((120, 50, 160), "紫色"),
    "pink": ((240, 130, 190), "粉色"),
    "brown": ((120, 75, 35), "棕色"),
    "black": ((25, 25, 28), "黑色"),
    "gray": ((140, 140, 145), "灰色"),
}

Point = tuple[float, float]


def _mug() -> list[tuple[str, list[Point]]]:
    return [("ring", [(0.55, -0.25), (0.95, 0.25)]), ("rect", [(-0.6, -0.6), (0.6, 0.7)])]


def _tshirt() -> list[tuple[str, list[Point]]]:
    return [("poly", [(-0.35, -0.7), (-0.15, -0.6), (0.15, -0.6), (0.35, -0.7), (0.9, -0.35), (0.7, -0.05),
                      (0.45, -0.2), (0.45, 0.8), (-0.45, 0.8), (-0.45, -0.2), (-0.7, -0.05), (-0.9, -0.35)])]


def _sneaker() -> list[tuple[str, list[Point]]]:
    return [("poly", [(-0.9, 0.1), (-0.85, -0.3), (-0.3, -0.35), (0.0, -0.05), (0.75, 0.05), (0.95, 0.3),
                      (-0.9, 0.3)]),
            ("sole", [(-0.95, 0.3), (0.97, 0.45)])]


def _backpack() -> list[tuple[str, list[Point]]]:
    return [("ring", [(-0.25, -0.95), (0.25, -0.55)]), ("rrect", [(-0.6, -0.7), (0.6, 0.85)]),
            ("pocket", [(-0.4, 0.25), (0.4, 0.7)])]


def _bottle() -> list[tuple[str, list[Point]]]:
    return [("cap", [(-0.13, -0.95), (0.13, -0.78)]), ("rect", [(-0.13, -0.8), (0.13, -0.5)]),
            ("poly", [(-0.13, -0.5), (0.13, -0.5), (0.35, -0.3), (0.35, 0.9), (-0.35, 0.9), (-0.35, -0.3)])]


def _lamp() -> list[tuple[str, list[Point]]]:
    return [("poly", [(-0.3, -0.85), (0.3, -0.85), (0.6, -0.2), (-0.6, -0.2)]), ("rect", [(-0.05, -0.2), (0.05, 0.7)]),
            ("rect", [(-0.45, 0.7), (0.45, 0.85)])]


def _cap() -> list[tuple[str, list[Point]]]:
    return [("dome", [(-0.6, -0.5), (0.6, 0.5)]), ("poly", [(0.3, 0.0), (1.0, 0.05), (0.95, 0.2), (0.3, 0.15)])]


def _phone() -> list[tuple[str, list[Point]]]:
    # seen from the back, as customers photograph a phone case: the colour is the case, a camera in the corner
    return [("rrect", [(-0.5, -0.95), (0.5, 0.95)]), ("screen", [(-0.38, -0.82), (-0.05, -0.5)])]


# name: (shape, Chinese name). Eight silhouettes a 49-patch tower can tell apart; chance is 1/8.
OBJECTS = {
    "mug": (_mug, "杯子"),
    "t-shirt": (_tshirt, "T恤"),
    "sneaker": (_sneaker, "运动鞋"),
    "backpack": (_backpack, "双肩包"),
    "bottle": (_bottle, "水瓶"),
    "lamp": (_lamp, "台灯"),
    "cap": (_cap, "帽子"),
    "phone": (_phone, "手机"),
}


@dataclass(frozen=True)
class ProductPhoto:
    image: Image.Image
    colour: str
    object: str
    seed: int

    def caption(self, lang: str = "en") -> str:
        if lang == "zh":
            return f"一个{COLOURS[self.colour][1]}的{OBJECTS[self.object][1]}。"
        article = "an" if self.colour[0] in "aeiou" else "a"
        return f"{article.capitalize()} {self.colour} {self.object}."


def _shade(rgb: tuple[int, int, int], rng: random.Random, spread: int = 18) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-spread, spread))) for c in rgb)


def product_photo(obj: str, colour: str, seed: int, size: int = 224) -> ProductPhoto:
    """One photo of `obj` in `colour`; the same arguments always give the same pixels."""
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}; choose one of {', '.join(OBJECTS)}")
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; choose one of {', '.join(COLOURS)}")
    rng = random.Random(f"{obj}/{colour}/{seed}")
    scale = 4  # draw large, then downsample: anti-aliased edges like a photo's
    big = size * scale
    background = tuple(rng.randint(205, 250) for _ in range(3))
    img = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(img)
    # a floor line and a soft shadow give the scene some depth
    floor = tuple(max(0, c - rng.randint(10, 30)) for c in background)
    draw.rectangle([0, int(big * rng.uniform(0.78, 0.9)), big, big], fill=floor)
    radius = big * rng.uniform(0.26, 0.38)
    cx, cy = big * rng.uniform(0.38, 0.62), big * rng.uniform(0.4, 0.58)
    angle = math.radians(rng.uniform(-12, 12))
    flip = rng.random() < 0.5
    fill = _shade(COLOURS[colour][0], rng)
    outline = tuple(max(0, c - 60) for c in fill)

    def place(p: Point) -> tuple[float, float]:
        x, y = (-p[0] if flip else p[0]), p[1]
        xr, yr = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
        return cx + xr * radius, cy + yr * radius

    def box(points: list[Point]) -> list[float]:
        (x0, y0), (x1, y1) = place(points[0]), place(points[1])
        return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]

    draw.ellipse([cx - radius * 0.9, cy + radius * 0.8, cx + radius * 0.9, cy + radius * 1.0],
                 fill=tuple(max(0, c - 45) for c in floor))
    width = max(2, int(radius * 0.04))
    for kind, pts in OBJECTS[obj][0]():
        if kind == "poly":
            draw.polygon([place(p) for p in pts], fill=fill, outline=outline, width=width)
        elif kind == "rect":
            draw.rectangle(box(pts), fill=fill, outline=outline, width=width)
        elif kind == "rrect":
            draw.rounded_rectangle(box(pts), radius=radius * 0.15, fill=fill, outline=outline, width=width)
        elif kind == "ring":
            draw.ellipse(box(pts), outline=fill, width=int(radius * 0.12))
        elif kind == "dome":
            draw.chord(box(pts), 180, 360, fill=fill, outline=outline, width=width)
        elif kind == "pocket":
            draw.rounded_rectangle(box(pts), radius=radius * 0.08, outline=outline, width=width * 2)
        elif kind == "sole":
            draw.rectangle(box(pts), fill=(235, 235, 235), outline=(150, 150, 150), width=width)
        elif kind == "cap":
            draw.rectangle(box(pts), fill=outline)
        elif kind == "screen":
            draw.rounded_rectangle(box(pts), radius=radius * 0.05, fill=(30, 35, 45))
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    return ProductPhoto(img, colour, obj, seed)


def catalogue(seeds: range, *, size: int = 224) -> list[ProductPhoto]:
    """Every colour × object for each seed (80 photos per seed)."""
    return [product_photo(o, c, s, size) for s in seeds for o in OBJECTS for c in COLOURS]
