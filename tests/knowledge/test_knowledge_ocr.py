"""Real rapidocr on rendered Chinese + English text: lines, boxes, confidence, cache, time bound."""

import pytest
from PIL import Image, ImageDraw, ImageFont

from knowledge.ocr import OcrEngine, OcrTimeout, ocr_image

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def _image(lines):
    font = ImageFont.truetype(FONT, 28)
    img = Image.new("RGB", (620, 60 + 50 * len(lines)), "white")
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((20, 20 + 50 * i), line, font=font, fill="black")
    return img


def test_reads_chinese_and_english_with_boxes_and_cache():
    engine = OcrEngine(timeout_s=60)
    img = _image(["订单号 20241105-3381 已发货", "Total: $129.99 SKU NW-KT-101"])
    result = engine.read(img)
    assert [ln.text for ln in result.lines] == ["订单号 20241105-3381 已发货", "Total: $129.99 SKU NW-KT-101"]
    assert all(0.5 <= ln.confidence <= 1 and len(ln.box) == 4 for ln in result.lines)
    assert result.lines[0].box[0][1] < result.lines[1].box[0][1]
    again = engine.read(img.copy())
    assert again.elapsed_s == 0.0 and again.text == result.text and again.image_hash == result.image_hash


def test_time_bound_and_blank_image():
    engine = OcrEngine(timeout_s=60)
    with pytest.raises(OcrTimeout, match="ocr_timeout_s"):
        engine.read(_image(["A slow image " * 3] * 6), timeout_s=0.001)
    assert ocr_image(Image.new("RGB", (200, 120), "white")).lines == []
