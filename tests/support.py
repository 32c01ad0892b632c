"""Helpers shared by the test packages: real backend servers started the way users start them, test images.

Import them with `from support import ...` (tests/ is on sys.path through the root conftest).
"""

from __future__ import annotations

from pathlib import Path

from backend.process import ROOT, BackendProcess, free_port  # noqa: F401 - re-exported for tests
from backend.process import start_backend as start_backend_process

RunningBackend = BackendProcess


ADMIN_PASSWORD = "test-admin-password"


def start_backend(tmp: Path, env_overrides: dict[str, str], *, ready_timeout: float = 120) -> BackendProcess:
    """`python -m backend serve` in a subprocess; returns once /readyz says ready.

    The returned process carries `headers` (an agent's API key) and `admin_headers` (an admin login).
    Knowledge is off unless the test turns it on: opening and seeding the store costs half a minute, and
    tests/backend/test_grounded_chat.py covers it.
    """
    backend = start_backend_process(
        tmp, {"VISIONDESK_DATA_DIR": str(tmp / "data"), "VISIONDESK_AUTH__ADMIN_PASSWORD": ADMIN_PASSWORD,
              "VISIONDESK_KNOWLEDGE__ENABLED": "false", **env_overrides},
        timeout=ready_timeout)
    backend.data_dir = Path(env_overrides.get("VISIONDESK_DATA_DIR", tmp / "data"))
    try:
        authorize(backend)
    except Exception:
        backend.stop()  # never leak a server when the test set-up fails
        raise
    return backend


def authorize(backend: BackendProcess) -> None:
    """Log in as the first admin, create an agent account and an API key for it."""
    import httpx

    login = httpx.post(f"{backend.url}/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                       timeout=30)
    login.raise_for_status()
    backend.admin_headers = {"Authorization": f"Bearer {login.json()['token']}"}
    httpx.post(f"{backend.url}/v1/users", headers=backend.admin_headers, timeout=30,
               json={"username": "agent", "password": "agent-password", "role": "agent"}).raise_for_status()
    key = httpx.post(f"{backend.url}/v1/api-keys", headers=backend.admin_headers, timeout=30,
                     json={"name": "tests", "username": "agent"})
    key.raise_for_status()
    backend.api_key = key.json()["key"]
    backend.headers = {"Authorization": f"Bearer {backend.api_key}"}


def stop_backend(backend: BackendProcess) -> None:
    backend.stop()


def image_bytes(size: tuple[int, int] = (64, 48), color=(200, 30, 30), fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height but holds almost no data: a decompression-bomb stand-in."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
