"""Where variants run: the real backend app built in-process (one per distinct settings), or a running backend URL.

Either way requests go through `/v1/chat/completions`, the path agents use, so what is measured is what ships.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import httpx

from eval.ab.config import ABConfig, ConfigError, VariantSpec
from eval.ab.transport import StreamingASGITransport

EVAL_USER = "ab-eval"
log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """A backend could not be started or reached; the message says which and why."""


class Target:
    """An HTTP client pointed at one backend, with an agent's credentials."""

    name: str
    client: httpx.AsyncClient

    async def start(self) -> None: ...

    async def close(self) -> None:
        await self.client.aclose()


class RemoteBackend(Target):
    def __init__(self, url: str, api_key: str, timeout_s: float):
        self.name = url
        self.client = httpx.AsyncClient(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"},
                                        timeout=httpx.Timeout(timeout_s, connect=10))

    async def start(self) -> None:
        try:
            resp = await self.client.get("/v1/models")
        except httpx.HTTPError as exc:
            raise BackendError(f"backend {self.name} is unreachable: {exc}") from None
        if resp.status_code in (401, 403):
            raise BackendError(f"backend {self.name} refused the API key ({resp.status_code}); "
                               "set it in the environment variable named by api_key_env")
        if resp.status_code != 200:
            raise BackendError(f"backend {self.name}: GET /v1/models answered {resp.status_code}: {resp.text[:200]}")


class InProcessBackend(Target):
    """`backend.api.app.create_app` with its real engine, database and knowledge store, called through ASGI."""

    def __init__(self, settings, timeout_s: float, ready_timeout_s: float):
        self.settings = settings
        self.name = f"in-process ({settings.data_dir})"
        self.timeout_s, self.ready_timeout_s = timeout_s, ready_timeout_s
        self._lifespan = None

    async def start(self) -> None:
        from backend.accounts import AccountError
        from backend.api.app import create_app
        from backend.engines import make_engine

        self.app = create_app(self.settings, make_engine(self.settings))
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        accounts = self.app.state.visiondesk.accounts
        try:
            await asyncio.to_thread(accounts.create_user, EVAL_USER, secrets.token_urlsafe(24), "agent")
        except AccountError:
            pass  # a resumed run reuses its data folder, and the eval account with it
        key = await asyncio.to_thread(accounts.create_api_key, EVAL_USER, "eval.ab")
        self.client = httpx.AsyncClient(transport=StreamingASGITransport(self.app), base_url="http://visiondesk.eval",
                                        headers={"Authorization": f"Bearer {key.secret}"},
                                        timeout=httpx.Timeout(self.timeout_s))
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout_s
        reason = "no answer"
        while loop.time() < deadline:
            resp = await self.client.get("/readyz")
            if resp.status_code == 200:
                return
            reason = resp.json().get("reason", resp.text)
            await asyncio.sleep(0.5)
        raise BackendError(f"{self.name} was not ready after {self.ready_timeout_s:.0f} s: {reason}")

    async def close(self) -> None:
        if getattr(self, "client", None) is not None:
            await self.client.aclose()
        if self._lifespan is not None:
            await self._lifespan.__aexit__(None, None, None)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def settings_for(config: ABConfig, spec: VariantSpec) -> tuple[str, Any]:
    """(group key, backend Settings) of an in-process variant; variants with equal settings share one backend."""
    from backend.settings import SettingsError, load_settings

    merged = _merge(config.backend_settings, spec.settings)
    key = hashlib.sha256(json.dumps([str(config.backend_config), merged], sort_keys=True, default=str)
                         .encode()).hexdigest()[:10]
    # Each distinct backend gets its own data folder inside the run (one Chroma owner per folder); a rerun
    # finds it again, so the seeded knowledge store is reused instead of rebuilt.
    root = Path(merged.get("data_dir") or config.output_dir / "backends")
    merged["data_dir"] = str(root / key)
    auth = dict(merged.get("auth") or {})
    auth.setdefault("admin_password", secrets.token_urlsafe(24))  # never print a one-time password mid-report
    merged["auth"] = auth
    try:
        return key, load_settings(config.backend_config, **merged)
    except SettingsError as exc:
        raise ConfigError(f"variant {spec.name!r}: {exc}") from None


def open_targets(config: ABConfig) -> dict[str, Target]:
    """One target per variant name (and the judge), sharing backends where the settings are the same."""
    specs = [*config.variants, *([config.judge] if config.judge else [])]
    if config.backend_url:
        api_key = os.environ.get(config.api_key_env, "")
        if not api_key:
            raise ConfigError(f"api_key_env: the environment variable {config.api_key_env} is empty; put an agent "
                              "API key of the backend in it")
        remote = RemoteBackend(config.backend_url, api_key, config.request_timeout_s)
        return {spec.name: remote for spec in specs}
    groups: dict[str, Target] = {}
    out: dict[str, Target] = {}
    for spec in specs:
        key, settings = settings_for(config, spec)
        if key not in groups:
            groups[key] = InProcessBackend(settings, config.request_timeout_s, config.ready_timeout_s)
        out[spec.name] = groups[key]
    return out


async def start_all(targets: dict[str, Target]) -> None:
    for target in _unique(targets):
        await target.start()


async def close_all(targets: dict[str, Target]) -> None:
    for target in _unique(targets):
        try:
            await target.close()
        except Exception:
            log.exception("closing %s failed", target.name)


def _unique(targets: dict[str, Target]) -> list[Target]:
    seen: list[Target] = []
    for t in targets.values():
        if all(t is not s for s in seen):
            seen.append(t)
    return seen
