"""Image intake: limits checked before decoding, clear errors, cache by content hash."""

from __future__ import annotations

import base64
import time

import pytest
from PIL import Image

from backend.images import ImageLoader, ImageRejected, decode_image, parse_data_uri, ImageLimits
from backend.settings import ImageSettings, LimitSettings
from support import image_bytes, png_header_only

LIMITS = ImageLimits(max_bytes=200_000, max_pixels=1_000_000, formats=frozenset({"PNG", "JPEG"}))


def test_decodes_to_rgb():
    img = decode_image(image_bytes((40, 30), fmt="JPEG"), LIMITS)
    assert img.mode == "RGB" and img.size == (40, 30)


def test_too_many_bytes():
    with pytest.raises(ImageRejected, match="max_image_bytes") as err:
        decode_image(b"\x89PNG" + b"\x00" * 200_001, LIMITS)
    assert err.value.status == 413


def test_decompression_bomb_is_refused_from_the_header_alone():
    bomb = png_header_only(50_000, 50_000)  # 2.5 gigapixels claimed, ~100 bytes sent
    started = time.perf_counter()
    with pytest.raises(ImageRejected, match="max_image_pixels") as err:
        decode_image(bomb, LIMITS)
    assert time.perf_counter() - started < 1.0
    assert err.value.limit == "max_image_pixels"


def test_format_not_allowed():
    with pytest.raises(ImageRejected, match="GIF is not accepted") as err:
        decode_image(image_bytes(fmt="GIF"), LIMITS)
    assert err.value.status == 415


@pytest.mark.parametrize("data", [b"not an image at all", image_bytes((64, 64))[:60]])
def test_corrupt_or_truncated(data):
    with pytest.raises(ImageRejected, match="not a readable image|corrupt or truncated"):
        decode_image(data, LIMITS)


def test_data_uri_parsing():
    payload = image_bytes()
    assert parse_data_uri("data:image/png;base64," + base64.b64encode(payload).decode()) == payload
    with pytest.raises(ImageRejected, match="invalid base64"):
        parse_data_uri("data:image/png;base64,@@@")
    with pytest.raises(ImageRejected, match="base64-encoded"):
        parse_data_uri("data:image/png,rawbytes")


def test_remote_urls_off_by_default_and_allowlisted_when_on():
    loader = ImageLoader(LimitSettings(), ImageSettings())
    with pytest.raises(ImageRejected, match="disabled") as err:
        loader.load("https://example.com/a.png")
    assert err.value.limit == "allow_remote_urls"
    loader = ImageLoader(LimitSettings(), ImageSettings(allow_remote_urls=True, url_allowlist=["cdn.shop.test"]))
    with pytest.raises(ImageRejected, match="not in images.url_allowlist") as err:
        loader.load("http://169.254.169.254/latest/meta-data")
    assert err.value.status == 403


def test_cache_returns_the_same_decoded_image_and_evicts_oldest():
    loader = ImageLoader(LimitSettings(), ImageSettings(cache_size=2))
    a, b, c = (image_bytes(color=(i, 0, 0)) for i in (1, 2, 3))
    first = loader.decode(a)
    assert loader.decode(a) is first
    loader.decode(b)
    loader.decode(c)
    assert loader.decode(a) is not first  # evicted by b and c
    assert isinstance(first, Image.Image)


@pytest.fixture
def image_server():
    """A real HTTP server on 127.0.0.1 serving a PNG and a too-large file."""
    import http.server
    import threading

    small, big = image_bytes((30, 20)), b"\x89PNG" + b"\x00" * 300_000

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = small if self.path == "/label.png" else big
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_allowlisted_remote_image_is_fetched_with_the_byte_limit(image_server):
    loader = ImageLoader(LimitSettings(max_image_bytes=200_000),
                         ImageSettings(allow_remote_urls=True, url_allowlist=["127.0.0.1"]))
    assert loader.load(f"{image_server}/label.png").size == (30, 20)
    with pytest.raises(ImageRejected, match="larger than 200,000 bytes") as err:
        loader.load(f"{image_server}/huge.png")
    assert err.value.status == 413
