"""The chat app's HTTP calls to the backend; every failure becomes a `BackendProblem` the UI can explain."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from backend.api.schemas import DomainCard, VisionDeskResult
from backend.client import sse_events


class BackendProblem(Exception):
    """Why a backend call failed. `kind`: unreachable, timeout, http (status set) or stream (error mid-answer)."""

    def __init__(self, kind: str, message: str, *, status: int = 0, code: str | None = None,
                 param: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status
        self.code, self.param, self.retry_after = code, param, retry_after


class Login(BaseModel):
    token: str
    username: str
    role: str


class ConversationSummary(BaseModel):
    id: str
    title: str
    domain: str | None = None
    updated_at: str


@dataclass
class StreamEvent:
    """One piece of a streamed answer: `meta` (citations, OCR, ids) first, then `text` pieces."""

    kind: str  # "meta" | "text"
    text: str = ""
    meta: VisionDeskResult | None = None


def image_block(path: str | Path) -> dict:
    """An OpenAI image part holding the file as a data URI (the backend reads only data: URIs by default)."""
    path = Path(path)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = base64.b64encode(path.read_bytes()).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


class BackendAPI:
    """Thin client; the token is passed per call so each browser session keeps its own login."""

    def __init__(self, base_url: str, *, timeout_s: float = 180.0, connect_timeout_s: float = 5.0):
        self.base_url = base_url.rstrip("/")
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        # One pool for all sessions: connections are shared, tokens never are.
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout,
                                  limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    def close(self) -> None:
        self._http.close()

    # -- calls -----------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Login:
        body = self._call("POST", "/v1/auth/login", json={"username": username, "password": password}).json()
        return Login(token=body["token"], username=body["user"]["username"], role=body["user"]["role"])

    def logout(self, token: str) -> None:
        self._call("POST", "/v1/auth/logout", token=token, ok=(204, 200))

    def domains(self, token: str) -> list[DomainCard]:
        return [DomainCard.model_validate(d) for d in self._call("GET", "/v1/domains", token=token).json()]

    def conversations(self, token: str, limit: int) -> list[ConversationSummary]:
        rows = self._call("GET", "/v1/conversations", token=token, params={"limit": limit}).json()
        return [ConversationSummary.model_validate(r) for r in rows]

    def conversation(self, token: str, conversation_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/conversations/{conversation_id}", token=token).json()

    def feedback(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/feedback", token=token, json=body, ok=(201, 200)).json()

    def stream_chat(self, token: str, messages: list[dict], *, domain: str | None, conversation_id: str | None,
                    max_tokens: int = 0) -> Iterator[StreamEvent]:
        body: dict[str, Any] = {"messages": messages, "stream": True,
                                "visiondesk": {"domain": domain, "conversation_id": conversation_id}}
        if max_tokens:
            body["max_tokens"] = max_tokens
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body, headers=_auth(token)) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise _problem_from(resp)
                for event in sse_events(resp):
                    if "error" in event:
                        err = event["error"]
                        raise BackendProblem("stream", err.get("message", ""), status=502, code=err.get("code"))
                    if event.get("visiondesk"):
                        yield StreamEvent("meta", meta=VisionDeskResult.model_validate(event["visiondesk"]))
                    for choice in event.get("choices", []):
                        text = choice.get("delta", {}).get("content")
                        if text:
                            yield StreamEvent("text", text=text)
        except httpx.TimeoutException as exc:
            raise BackendProblem("timeout", str(exc) or "timed out") from None
        except httpx.TransportError as exc:
            raise BackendProblem("unreachable", str(exc) or type(exc).__name__) from None

    # -- plumbing --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, token: str | None = None, ok: tuple[int, ...] = (200,),
              **kwargs) -> httpx.Response:
        try:
            resp = self._http.request(method, path, headers=_auth(token), **kwargs)
        except httpx.TimeoutException as exc:
            raise BackendProblem("timeout", str(exc) or "timed out") from None
        except httpx.TransportError as exc:
            raise BackendProblem("unreachable", str(exc) or type(exc).__name__) from None
        if resp.status_code not in ok:
            raise _problem_from(resp)
        return resp


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _problem_from(resp: httpx.Response) -> BackendProblem:
    try:
        err = resp.json()["error"]
        message, code, param = err["message"], err.get("code"), err.get("param")
    except (ValueError, KeyError, TypeError):
        message, code, param = resp.text or resp.reason_phrase, None, None
    retry = resp.headers.get("retry-after", "")
    try:
        retry_after = float(retry) if retry else None
    except ValueError:
        retry_after = None  # an HTTP date: say "in a moment" rather than guess
    return BackendProblem("http", message, status=resp.status_code, code=code, param=param, retry_after=retry_after)
