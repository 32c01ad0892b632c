"""Image intake: parse data URIs, enforce limits before decoding, and cache decoded images by content hash."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx
from PIL import Image, UnidentifiedImageError

from backend.settings import ImageSettings, LimitSettings

HASH_KEY = "visiondesk_sha"
SOURCE_KEY = "visiondesk_source"


class ImageRejected(ValueError):
    """An image broke a limit or could not be read. `limit` names the setting involved."""

    def __init__(self, message: str, *, limit: str, status: int = 400):
        super().__init__(message)
        self.limit = limit
        self.status = status


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    formats: frozenset[str]

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> ImageLimits:
        return cls(limits.max_image_bytes, limits.max_image_pixels, frozenset(f.upper() for f in limits.image_formats))


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Check size, format and pixel count from the header, then decode to RGB."""
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"image is {len(data):,} bytes; the limit is {limits.max_bytes:,} (limits.max_image_bytes)",
            limit="max_image_bytes",
            status=413,
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns on large images; our own pixel limit below is the one that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Pillow refuses headers over 2 x Image.MAX_IMAGE_PIXELS inside open(): that is a pixel-count refusal.
        raise ImageRejected(
            f"image has too many pixels ({exc}); the limit is {limits.max_pixels:,} (limits.max_image_pixels)",
            limit="max_image_pixels",
            status=413,
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageRejected(f"the data is not a readable image ({exc})", limit="image_formats") from None
    fmt = (img.format or "").upper()
    if fmt not in limits.formats:
        raise ImageRejected(
            f"image format {fmt or 'unknown'} is not accepted; allowed: {', '.join(sorted(limits.formats))} "
            "(limits.image_formats)",
            limit="image_formats",
            status=415,
        )
    # Image.open reads only the header, so this check runs before any pixel is decompressed.
    pixels = img.width * img.height
    if pixels > limits.max_pixels:
        raise ImageRejected(
            f"image is {img.width}x{img.height} = {pixels:,} pixels; the limit is {limits.max_pixels:,} "
            "(limits.max_image_pixels)",
            limit="max_image_pixels",
            status=413,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
            rgb = img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"the image is corrupt or truncated ({exc})", limit="image_formats") from None
    rgb.info[HASH_KEY] = content_hash(data)
    # The original encoding, so an upstream model server gets the bytes the client sent (no re-encoding).
    rgb.info[SOURCE_KEY] = (fmt, data)
    return rgb


def parse_data_uri(uri: str) -> bytes:
    """Bytes of a `data:image/...;base64,...` URI."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:"):
        raise ImageRejected("image_url must be a data: URI such as data:image/png;base64,...", limit="image_url")
    if not header.endswith(";base64"):
        raise ImageRejected("data: URIs must be base64-encoded (data:image/png;base64,...)", limit="image_url")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected("the data: URI holds invalid base64", limit="image_url") from None


class ImageLoader:
    """Turns image URLs from requests into decoded images, reusing earlier decodes of the same bytes."""

    def __init__(self, limits: LimitSettings, images: ImageSettings):
        self.limits = ImageLimits.from_settings(limits)
        self.settings = images
        self._cache: OrderedDict[str, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, url: str) -> Image.Image:
        if url.startswith("data:"):
            data = parse_data_uri(url)
        elif url.startswith(("http://", "https://")):
            data = self._fetch(url)
        else:
            raise ImageRejected("image_url must be a data: URI or an http(s) URL", limit="image_url")
        return self.decode(data)

    def decode(self, data: bytes) -> Image.Image:
        key = content_hash(data)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        img = decode_image(data, self.limits)
        if self.settings.cache_size:
            with self._lock:
                self._cache[key] = img
                while len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)
        return img

    def _fetch(self, url: str) -> bytes:
        if not self.settings.allow_remote_urls:
            raise ImageRejected(
                "remote image URLs are disabled; send the image as a data: URI (images.allow_remote_urls)",
                limit="allow_remote_urls",
            )
        host = urlparse(url).hostname or ""
        if host not in self.settings.url_allowlist:
            raise ImageRejected(
                f"image host {host!r} is not in images.url_allowlist", limit="url_allowlist", status=403
            )
        max_bytes = self.limits.max_bytes
        try:
            with httpx.stream("GET", url, timeout=self.settings.fetch_timeout_s, follow_redirects=False) as resp:
                resp.raise_for_status()
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ImageRejected(
                            f"image at {url} is larger than {max_bytes:,} bytes (limits.max_image_bytes)",
                            limit="max_image_bytes",
                            status=413,
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise ImageRejected(f"could not fetch image {url}: {exc}", limit="image_url") from None
        return b"".join(chunks)
