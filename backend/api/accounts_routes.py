"""Login, logout, users and API keys."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from backend.accounts import AccountError, Accounts, Principal
from backend.api.security import require


class LoginRequest(BaseModel):
    username: str = Field(description="Account name.")
    password: str = Field(description="Password.")


class UserOut(BaseModel):
    username: str = Field(description="Account name.")
    role: Literal["agent", "admin"] = Field(description="What the account may do.")
    disabled: bool = Field(description="A disabled account cannot log in or use its tokens.")
    created_at: datetime = Field(description="When the account was created.")


class LoginResponse(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = Field("bearer", description="Always `bearer`.")
    expires_at: datetime | None = Field(description="When the token stops working.")
    user: UserOut = Field(description="The account logged in.")


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=100, description="Account name.")
    password: str = Field(min_length=8, description="At least 8 characters.")
    role: Literal["agent", "admin"] = Field("agent", description="What the account may do.")


class UserUpdate(BaseModel):
    role: Literal["agent", "admin"] | None = Field(None, description="New role.")
    disabled: bool | None = Field(None, description="Disable or re-enable; disabling ends open logins.")
    password: str | None = Field(None, min_length=8, description="New password; ends open logins.")


class NewApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for, e.g. `eval-runner`.")
    username: str | None = Field(None, description="Account the key acts as; empty: the caller.")


class ApiKeyOut(BaseModel):
    id: int = Field(description="Key id, for revoking.")
    name: str = Field(description="What the key is for.")
    username: str = Field(description="Account the key acts as.")
    prefix: str = Field(description="First characters of the key, to recognise it.")
    created_at: datetime = Field(description="When it was created.")
    last_used_at: datetime | None = Field(description="Last use, to the minute.")
    revoked: bool = Field(description="Revoked keys no longer work.")


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key itself; shown only now.")


class KeyRotation(BaseModel):
    grace_minutes: float = Field(0, ge=0, le=10_080, description="How long the old key keeps working (0: it stops "
                                                                  "now); at most a week.")


def _user(u) -> UserOut:
    return UserOut(username=u.username, role=u.role, disabled=u.disabled, created_at=u.created_at)


class LoginThrottle:
    """Failed logins per client address in a sliding window (this process only): slows password spraying
    across many accounts, which the per-account lockout alone does not."""

    WINDOW_S = 600.0
    MAX_CLIENTS = 10_000  # bounded memory under a flood of addresses

    def __init__(self, limit: int):
        self.limit = limit
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        if not self.limit:
            return
        now = time.monotonic()
        recent = self._failures.get(client)
        while recent and recent[0] <= now - self.WINDOW_S:
            recent.popleft()
        if recent is not None and not recent:
            del self._failures[client]
        elif recent and len(recent) >= self.limit:
            wait = recent[0] + self.WINDOW_S - now
            raise AccountError(f"too many failed logins from {client}; try again in {math.ceil(wait / 60)} min",
                               status=429, retry_after=wait)

    def failed(self, client: str) -> None:
        if not self.limit:
            return
        if client not in self._failures and len(self._failures) >= self.MAX_CLIENTS:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(time.monotonic())


def router(accounts: Accounts, login_failures_per_ip: int = 0) -> APIRouter:
    r = APIRouter(tags=["accounts"])
    throttle = LoginThrottle(login_failures_per_ip)

    @r.post("/v1/auth/login", response_model=LoginResponse, summary="Exchange a username and password for a token",
            responses={429: {"description": "Account locked, or too many failed logins from this address; "
                                            "see Retry-After"}})
    async def login(body: LoginRequest, request: Request) -> LoginResponse:
        client = request.client.host if request.client else "unknown"
        throttle.check(client)
        try:
            issued, user = await asyncio.to_thread(accounts.login, body.username, body.password)
        except AccountError as exc:
            if exc.status == 401:
                throttle.failed(client)
            raise
        return LoginResponse(token=issued.secret, expires_at=issued.expires_at, user=_user(user))

    @r.post("/v1/auth/logout", status_code=204, summary="End the current login")
    async def logout(principal: Principal = Depends(require("agent"))) -> None:
        if principal.token_kind != "session":
            raise AccountError("API keys do not log out; an admin revokes them with DELETE /v1/api-keys/{id}")
        await asyncio.to_thread(accounts.revoke, principal.token_id)

    @r.get("/v1/auth/me", response_model=UserOut, summary="The account behind the token")
    async def me(principal: Principal = Depends(require("agent"))) -> UserOut:
        users = await asyncio.to_thread(accounts.list_users)
        return _user(next(u for u in users if u.id == principal.user_id))

    @r.get("/v1/users", response_model=list[UserOut], summary="All accounts")
    async def list_users(_: Principal = Depends(require("admin"))) -> list[UserOut]:
        return [_user(u) for u in await asyncio.to_thread(accounts.list_users)]

    @r.post("/v1/users", response_model=UserOut, status_code=201, summary="Create an agent or admin account")
    async def create_user(body: NewUser, _: Principal = Depends(require("admin"))) -> UserOut:
        return _user(await asyncio.to_thread(accounts.create_user, body.username, body.password, body.role))

    @r.patch("/v1/users/{username}", response_model=UserOut, summary="Change role, reset password, disable")
    async def update_user(username: str, body: UserUpdate, _: Principal = Depends(require("admin"))) -> UserOut:
        return _user(await asyncio.to_thread(accounts.update_user, username, role=body.role, disabled=body.disabled,
                                             password=body.password))

    @r.get("/v1/api-keys", response_model=list[ApiKeyOut], summary="API keys (secrets are never shown again)")
    async def list_keys(_: Principal = Depends(require("admin"))) -> list[ApiKeyOut]:
        rows = await asyncio.to_thread(accounts.list_api_keys)
        return [ApiKeyOut(id=t.id, name=t.name, username=u, prefix=t.prefix, created_at=t.created_at,
                          last_used_at=t.last_used_at, revoked=t.revoked) for t, u in rows]

    @r.post("/v1/api-keys", response_model=NewApiKeyOut, status_code=201, summary="Create an API key for a service")
    async def create_key(body: NewApiKey, request: Request,
                         principal: Principal = Depends(require("admin"))) -> NewApiKeyOut:
        username = body.username or principal.username
        issued = await asyncio.to_thread(accounts.create_api_key, username, body.name)
        rows = await asyncio.to_thread(accounts.list_api_keys)
        token, owner = next((t, u) for t, u in rows if t.id == issued.token_id)
        return NewApiKeyOut(id=token.id, name=token.name, username=owner, prefix=token.prefix,
                            created_at=token.created_at, last_used_at=None, revoked=False, key=issued.secret)

    @r.post("/v1/api-keys/{key_id}/rotate", response_model=NewApiKeyOut, status_code=201,
            summary="Replace an API key: a new secret for the same account and purpose; the old one ends")
    async def rotate_key(key_id: int, body: KeyRotation | None = None,
                         _: Principal = Depends(require("admin"))) -> NewApiKeyOut:
        grace = timedelta(minutes=(body or KeyRotation()).grace_minutes)
        issued = await asyncio.to_thread(accounts.rotate_api_key, key_id, grace)
        rows = await asyncio.to_thread(accounts.list_api_keys)
        token, owner = next((t, u) for t, u in rows if t.id == issued.token_id)
        return NewApiKeyOut(id=token.id, name=token.name, username=owner, prefix=token.prefix,
                            created_at=token.created_at, last_used_at=None, revoked=False, key=issued.secret)

    @r.delete("/v1/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
    async def revoke_key(key_id: int, _: Principal = Depends(require("admin"))) -> None:
        await asyncio.to_thread(accounts.revoke, key_id, "api_key")

    return r
