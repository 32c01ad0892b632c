"""Every endpoint has a role check: anonymous → 401, the wrong role → 403, walked over the real route table."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from backend.api.app import create_app
from backend.api.security import PUBLIC
from backend.db import Database
from backend.engines.openai_engine import OpenAIEngine
from backend.settings import Settings
from support import ADMIN_PASSWORD


def route_roles(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """(method, path) → the role its dependencies require, or None when it has no role check."""
    table = {}
    for route in _api_routes(app.routes):
        role = _role_of(route.dependant)
        for method in route.methods:
            table[(method, route.path)] = role
    return table


def _api_routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers as lazy wrappers
            yield from _api_routes(route.original_router.routes)


def _role_of(dependant) -> str | None:
    for dep in dependant.dependencies:
        role = getattr(dep.call, "visiondesk_role", None) or _role_of(dep)
        if role:
            return role
    return None


def unprotected(app: FastAPI) -> list[str]:
    return sorted(f"{m} {p}" for (m, p), role in route_roles(app).items() if role is None and p not in PUBLIC)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> FastAPI:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'routes.db'}")
    return create_app(Settings(), OpenAIEngine("http://127.0.0.1:9/v1", model="m"), db=db)


def test_every_endpoint_has_a_role_check_or_is_public(app):
    assert unprotected(app) == []
    assert len(route_roles(app)) >= 12


def test_the_check_catches_a_new_endpoint_without_a_role(app, tmp_path):
    extra = create_app(Settings(), OpenAIEngine("http://127.0.0.1:9/v1", model="m"),
                       db=Database(f"sqlite:///{tmp_path / 'x.db'}"))

    @extra.get("/v1/forgotten")
    async def forgotten():
        return {}

    assert unprotected(extra) == ["GET /v1/forgotten"]


def _concrete(path: str) -> str:
    # An id nothing has, so walking DELETE/PATCH routes changes nothing the other tests rely on.
    return re.sub(r"\{[^}]+\}", "999999", path)


def _endpoints(app, role_filter):
    return sorted((m, p) for (m, p), role in route_roles(app).items() if role_filter(role) and p not in PUBLIC)


def _call(backend, method, path, headers=None) -> httpx.Response:
    # Bodies are irrelevant: role checks answer before the body is validated against the route.
    return httpx.request(method, f"{backend.url}{_concrete(path)}", headers=headers, json={}, timeout=30)


def test_anonymous_gets_401_everywhere_except_public(app, backend):
    for method, path in _endpoints(app, lambda role: role is not None):
        resp = _call(backend, method, path)
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.headers.get("www-authenticate") == "Bearer"
        assert resp.json()["error"]["type"] == "authentication_error"


def test_a_wrong_token_gets_401(app, backend):
    for method, path in _endpoints(app, lambda role: role is not None):
        resp = _call(backend, method, path, {"Authorization": "Bearer vdk_not-a-real-key"})
        assert resp.status_code == 401, (method, path)


def login(backend, username: str, password: str) -> dict:
    """A fresh login, so walking /v1/auth/logout does not end the shared fixture's tokens."""
    resp = httpx.post(f"{backend.url}/v1/auth/login", json={"username": username, "password": password}, timeout=30)
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def test_agents_get_403_on_admin_endpoints(app, backend):
    admin_only = _endpoints(app, lambda role: role == "admin")
    assert admin_only, "expected admin-only endpoints"
    for method, path in admin_only:
        resp = _call(backend, method, path, backend.headers)
        assert resp.status_code == 403, (method, path, resp.text)
        assert "admin role" in resp.json()["error"]["message"]


def test_agents_and_admins_pass_the_check_on_agent_endpoints(app, backend):
    for method, path in _endpoints(app, lambda role: role == "agent"):
        for user, password in (("agent", "agent-password"), ("admin", ADMIN_PASSWORD)):
            resp = _call(backend, method, path, login(backend, user, password))
            assert resp.status_code not in (401, 403), (method, path, resp.text)


def test_admins_pass_the_check_on_admin_endpoints(app, backend):
    for method, path in _endpoints(app, lambda role: role == "admin"):
        resp = _call(backend, method, path, login(backend, "admin", ADMIN_PASSWORD))
        assert resp.status_code not in (401, 403), (method, path, resp.text)


def test_public_endpoints_answer_without_a_token(backend):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert httpx.get(f"{backend.url}{path}", timeout=30).status_code == 200, path
