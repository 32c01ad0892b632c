"""Role checks for routes: `Depends(require("agent"))`. Every route either has one or is listed in PUBLIC."""

from __future__ import annotations

import asyncio

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.accounts import Principal

# Reachable without a token: probes, the login itself, the API description, and metrics for scrapers.
PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/v1/auth/login", "/openapi.json", "/docs", "/redoc",
                    "/docs/oauth2-redirect"})

_bearer = HTTPBearer(auto_error=False, description="A login token from /v1/auth/login, or an API key.")


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def require(role: str):
    """Dependency that resolves the caller's token and checks it carries at least `role`."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        if credentials is None:
            raise AuthError(401, "missing bearer token: log in at /v1/auth/login or send an API key")
        accounts = request.app.state.visiondesk.accounts
        principal = await asyncio.to_thread(accounts.resolve, credentials.credentials)
        if principal is None:
            raise AuthError(401, "the token is unknown, expired or revoked: log in again")
        if not principal.has(role):
            raise AuthError(403, f"this needs the {role} role; {principal.username} is {principal.role}")
        request.state.principal = principal
        return principal

    check.visiondesk_role = role  # read by the test that walks every route
    return check
