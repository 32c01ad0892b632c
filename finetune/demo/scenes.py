"""What customers photograph, drawn with PIL: product boxes, order screenshots, medicine boxes and lab reports.

Layouts, colours and fonts sizes vary with a seed so the demo model learns to read text (through OCR) and not to
recognise one template; every scene returns the image and the facts printed on it.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from finetune.demo.world import STATUSES, Product, World

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def _fonts(rng: random.Random) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    if not FONT.is_file():
        raise FileNotFoundError(f"CJK font {FONT} not found: install Debian's fonts-wqy-zenhei")
    size = rng.randint(22, 30)
    return ImageFont.truetype(str(FONT), size), ImageFont.truetype(str(FONT), size - rng.randint(5, 8))


def _pale(rng: random.Random) -> tuple[int, int, int]:
    return tuple(rng.randint(225, 255) for _ in range(3))


def _dark(rng: random.Random) -> tuple[int, int, int]:
    return tuple(rng.randint(0, 70) for _ in range(3))


def product_box(world: World, product: Product, seed: int) -> Image.Image:
    """A carton or shelf label: store, English and Chinese names, model number, sometimes the price."""
    rng = random.Random(f"box/{world.seed}/{product.sku}/{seed}")
    big, small = _fonts(rng)
    w, h = rng.choice([(560, 300), (600, 320), (520, 280)])
    img = Image.new("RGB", (w, h), rng.choice([(214, 184, 140), (200, 200, 205), (235, 225, 205)]))
    d = ImageDraw.Draw(img)
    d.rectangle([16, 16, w - 16, h - 16], fill=_pale(rng), outline=_dark(rng), width=3)
    x, y = rng.randint(30, 50), 30
    d.text((x, y), f"{world.store[0]}  {world.store[1]}", font=small, fill=_dark(rng))
    d.text((x, y + 44), product.name, font=big, fill="black")
    d.text((x, y + 86), product.name_zh, font=big, fill="black")
    label = rng.choice(["Model 型号", "SKU", "Item 货号"])
    d.text((x, y + 140), f"{label}: {product.sku}", font=small, fill="black")
    if rng.random() < 0.4:
        d.text((x, y + 178), f"${product.price}", font=small, fill=(170, 20, 20))
    return img


def order_screen(world: World, order: dict, seed: int) -> Image.Image:
    """A shopping-app order page: number, status in English and Chinese, date, items."""
    rng = random.Random(f"order/{world.seed}/{order['number']}/{seed}")
    big, small = _fonts(rng)
    status = STATUSES[order["status"]]
    w = rng.choice([400, 440, 480])
    img = Image.new("RGB", (w, 320 + 40 * len(order["items"])), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w, 56], fill=rng.choice([(30, 90, 160), (200, 80, 40), (40, 140, 90), (90, 60, 150)]))
    d.text((20, 14), rng.choice(["Order details 订单详情", "My Orders 我的订单", world.store[0]]), font=small, fill="white")
    d.text((20, 80), f"{rng.choice(['Order No.', 'Order #', 'Order ID'])} 订单号: {order['number']}", font=small,
           fill="black")
    d.text((20, 120), f"Status 状态: {status[0]} {status[1]}", font=small, fill=(20, 110, 40))
    d.text((20, 160), f"Placed 下单日期: {order['date']}", font=small, fill=(70, 70, 70))
    for n, (product, qty) in enumerate(order["items"]):
        d.text((20, 210 + 40 * n), f"{product.sku} x{qty}", font=small, fill="black")
    return img


def medicine_box(medicine: tuple, seed: int) -> Image.Image:
    """A pharmacy box: English and Chinese name, a strength and a count, "as directed"."""
    rng = random.Random(f"med/{medicine[0]}/{seed}")
    big, small = _fonts(rng)
    img = Image.new("RGB", (560, 280), _pale(rng))
    d = ImageDraw.Draw(img)
    band = rng.choice([(20, 110, 170), (170, 40, 60), (30, 130, 80), (120, 80, 160)])
    d.rectangle([0, 0, 560, 40], fill=band)
    d.text((30, 62), medicine[0], font=big, fill="black")
    d.text((30, 104), medicine[1], font=big, fill="black")
    d.text((30, 160), f"{rng.choice([5, 10, 20, 25, 50, 100])} mg  x {rng.choice([14, 28, 30, 56])} tablets 片",
           font=small, fill=(40, 40, 40))
    d.text((30, 200), "Use as directed 遵医嘱使用", font=small, fill=(90, 90, 90))
    return img


def lab_report(world: World, seed: int, lang: str) -> tuple[Image.Image, list[dict]]:
    """A lab report table (test, result, unit, range, H/L flag) and its rows."""
    rng = random.Random(f"lab/{world.seed}/{seed}/{lang}")
    big, small = _fonts(rng)
    tests = rng.sample(world.tests, rng.choice([3, 3, 4]))
    rows = []
    flagged = rng.randrange(len(tests))
    for i, (name, zh, abbr, rng_, unit, *_rest) in enumerate(tests):
        low, high = (float(v) for v in rng_.split("-"))
        flag = rng.choice(["H", "L"]) if i == flagged else ""
        if flag == "H":
            value = high * rng.uniform(1.1, 1.6)
        elif flag == "L":
            value = low * rng.uniform(0.5, 0.9) if low > 0 else 0.0
        else:
            value = rng.uniform(low, high)
        if flag == "L" and value == 0.0:  # a zero lower bound cannot be undercut: flag it high instead
            flag, value = "H", high * 1.3
        digits = 0 if high >= 50 else (1 if high >= 5 else 2)
        rows.append({"test": name if lang == "en" else zh, "test_en": name, "test_zh": zh, "abbr": abbr,
                     "value": f"{value:.{digits}f}", "unit": unit, "range": rng_, "flag": flag})
    title, header = (("Laboratory Report", ["Test", "Result", "Unit", "Reference", "Flag"]) if lang == "en"
                     else ("检验报告单", ["项目", "结果", "单位", "参考范围", "提示"]))
    clinic = rng.choice(["Riverside Clinic", "Greenhill Health Centre", "Eastgate Clinic"]) if lang == "en" \
        else rng.choice(["河畔诊所", "青山社区医院", "东门诊所"])
    cols = [20, 300, 390, 490, 620]
    img = Image.new("RGB", (690, 130 + 44 * (len(rows) + 1)), "white")
    d = ImageDraw.Draw(img)
    d.text((20, 20), f"{clinic} {title}", font=big, fill="black")
    for x, head in zip(cols, header, strict=True):
        d.text((x, 80), head, font=small, fill=(60, 60, 60))
    d.line([20, 112, 670, 112], fill=(120, 120, 120), width=2)
    for n, row in enumerate(rows):
        cells = [row["test"], row["value"], row["unit"], row["range"], row["flag"]]
        for x, cell in zip(cols, cells, strict=True):
            d.text((x, 124 + 44 * n), cell, font=small, fill=(170, 20, 20) if row["flag"] else "black")
    return img, rows
