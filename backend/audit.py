"""The one audit log: who changed what, when. Knowledge edits write it from the knowledge store; every other
mutating admin request (accounts, feedback review, exports, adapters) is recorded here by `AuditRequests`.

Both use the knowledge layer's `kn_audit_log` table, so the admin console reads one trail in one place.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from sqlalchemy import select

from knowledge import records as R

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Knowledge routes are audited in more detail by the knowledge store itself; chat and login are not admin acts.
SELF_AUDITED = ("/v1/knowledge/", "/v1/chat/", "/v1/auth/")
SECRET_FIELDS = frozenset({"password", "key", "token", "api_key"})


class AuditLog:
    """Reads and writes `kn_audit_log` in the knowledge database (created at first use, not when the app is built)."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._sessions = None

    @property
    def Session(self):  # noqa: N802 - reads like the sessionmaker it is
        if self._sessions is None:
            self._sessions = R.make_sessionmaker(R.make_engine(self.database_url))
        return self._sessions

    def record(self, actor: str, action: str, target: str, detail: dict | None = None) -> None:
        with self.Session.begin() as s:
            s.add(R.AuditEntry(actor=actor, action=action[:64], target=target[:64], detail=detail or {}))

    def entries(self, *, target: str | None = None, actor: str | None = None, action: str | None = None,
                since: datetime | None = None, limit: int = 200) -> list[R.AuditEntry]:
        """Newest first."""
        with self.Session() as s:
            q = select(R.AuditEntry).order_by(R.AuditEntry.id.desc()).limit(limit)
            if target:
                q = q.where(R.AuditEntry.target == target)
            if actor:
                q = q.where(R.AuditEntry.actor == actor)
            if action:
                q = q.where(R.AuditEntry.action.startswith(action))
            if since:
                q = q.where(R.AuditEntry.at >= since)
            return list(s.scalars(q))

    def close(self) -> None:
        if self._sessions is not None:
            self._sessions.kw["bind"].dispose()


def masked_body(body: bytes) -> dict:
    """The JSON fields of a request body, secrets replaced by a marker (a password reset shows as such)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: ("(changed)" if k in SECRET_FIELDS and v is not None else v) for k, v in data.items()
            if isinstance(v, (str, int, float, bool, type(None), list))}


class AuditRequests:
    """ASGI middleware: a successful POST/PUT/PATCH/DELETE by an admin lands in the audit log."""

    def __init__(self, app, audit: AuditLog):
        self.app = app
        self.audit = audit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in MUTATING or scope["path"].startswith(SELF_AUDITED):
            return await self.app(scope, receive, send)
        scope.setdefault("state", {})  # shared with the route, where require() puts the principal
        status = 500
        body = bytearray()

        async def capture_receive():
            message = await receive()
            if message["type"] == "http.request" and len(body) < 65536:
                body.extend(message.get("body", b""))
            return message

        async def capture_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, capture_receive, capture_send)
        principal = scope["state"].get("principal")
        if principal is None or status >= 400 or not principal.has("admin"):
            return
        route = getattr(scope.get("route"), "path", scope["path"])
        params = scope.get("path_params") or {}
        target = ",".join(str(v) for v in params.values()) or route
        detail = {"path": scope["path"], "status": status, **masked_body(bytes(body))}
        await asyncio.to_thread(self.audit.record, principal.username, f"{scope['method']} {route}", target, detail)
