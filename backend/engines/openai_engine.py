"""Engine that calls any OpenAI-compatible server (vLLM first; SGLang and LMDeploy speak the same API).

LoRA adapters are chosen the way vLLM exposes them: an adapter is a model name on the server.
Only connection failures are retried (with exponential backoff); an HTTP error from the server is final.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator

import httpx
from PIL import Image

from backend.engines.base import (
    Delta,
    Engine,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    UnknownAdapter,
)
from backend.images import SOURCE_KEY
from backend.settings import Settings

_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)


_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


def image_data_uri(img: Image.Image) -> str:
    """The client's original bytes when the backend decoded them; otherwise a lossless PNG of the pixels."""
    fmt, data = img.info.get(SOURCE_KEY, (None, None))
    if data is None or fmt not in _MIME:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        fmt, data = "PNG", buf.getvalue()
    return f"data:{_MIME[fmt]};base64," + base64.b64encode(data).decode("ascii")


def to_openai_messages(messages: list[dict], images: list[Image.Image]) -> list[dict]:
    """Hugging Face-format messages with `{"type": "image"}` parts → OpenAI messages with data-URI images."""
    pending = iter(images)
    out = []
    for msg in messages:
        content = msg["content"]
        if isinstance(content, str):
            out.append({"role": msg["role"], "content": content})
            continue
        parts = []
        for part in content:
            if part["type"] == "image":
                try:
                    img = next(pending)
                except StopIteration:
                    raise EngineError("the messages hold more image parts than images were given") from None
                parts.append({"type": "image_url", "image_url": {"url": image_data_uri(img)}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        out.append({"role": msg["role"], "content": parts})
    return out


class OpenAIEngine(Engine):
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "EMPTY",
        model: str = "",
        adapters: list[str] | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.model_id = model
        self._adapters = list(adapters or [])
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEngine:
        o = settings.openai
        return cls(
            o.base_url,
            api_key=o.api_key.get_secret_value(),
            model=o.model,
            adapters=list(settings.model.adapters),
            timeout_s=o.timeout_s,
            connect_timeout_s=o.connect_timeout_s,
            max_retries=o.max_retries,
            backoff_s=o.backoff_s,
        )

    async def start(self) -> None:
        if not self.model_id:
            # Ask the server which model it serves; retried later by readiness if it is still starting.
            try:
                self.model_id = (await self._list_models())[0]
            except EngineUnavailable:
                self.model_id = "upstream"

    async def close(self) -> None:
        await self._client.aclose()

    def adapters(self) -> list[str]:
        return list(self._adapters)

    async def readiness(self) -> tuple[bool, str]:
        try:
            served = await self._list_models()
        except EngineUnavailable as exc:
            return False, str(exc)
        if self.model_id in ("", "upstream"):
            self.model_id = served[0]
        missing = [name for name in [self.model_id, *self._adapters] if name not in served]
        if missing:
            return False, f"model server at {self.base_url} does not serve: {', '.join(missing)}"
        return True, f"model server at {self.base_url} serves {self.model_id}"

    async def _list_models(self) -> list[str]:
        try:
            resp = await self._client.get("/models", timeout=httpx.Timeout(5.0))
            resp.raise_for_status()
            served = [m["id"] for m in resp.json()["data"]]
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"model server at {self.base_url} is unreachable: {_describe(exc)}") from None
        if not served:
            raise EngineUnavailable(f"model server at {self.base_url} serves no model")
        return served

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if request.adapter and request.adapter not in self._adapters:
            raise UnknownAdapter(
                f"adapter {request.adapter!r} is not configured; available: {', '.join(self._adapters) or 'none'}"
            )
        payload = self._payload(request)
        delay = self.backoff_s
        for attempt in range(self.max_retries + 1):
            started = False
            try:
                async with self._client.stream("POST", "/chat/completions", json=payload) as resp:
                    if resp.status_code != 200:
                        await resp.aread()
                        raise _http_error(resp, request.adapter)
                    deltas = _parse_sse(resp) if payload["stream"] else _parse_json(resp)
                    async for delta in deltas:
                        started = True
                        yield delta
                return
            except _RETRYABLE as exc:
                if started:
                    raise EngineUnavailable(
                        f"lost the connection to the model server at {self.base_url} mid-answer: {_describe(exc)}"
                    ) from None
                if attempt == self.max_retries:
                    raise EngineUnavailable(
                        f"model server at {self.base_url} is unreachable after {attempt + 1} attempts: {_describe(exc)}"
                    ) from None
                await asyncio.sleep(delay)
                delay *= 2
            except httpx.TimeoutException:
                raise EngineUnavailable(f"model server at {self.base_url} timed out") from None

    def _payload(self, request: GenerationRequest) -> dict:
        s = request.sampling
        payload = {
            "model": request.adapter or self.model_id,
            "messages": to_openai_messages(request.messages, request.images),
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stream": request.incremental,
        }
        if request.incremental:
            payload["stream_options"] = {"include_usage": True}
        if s.seed is not None:
            payload["seed"] = s.seed
        if s.stop:
            payload["stop"] = list(s.stop)
        return payload


async def _parse_sse(resp: httpx.Response) -> AsyncIterator[Delta]:
    finish, usage = None, None
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        event = json.loads(data)
        if "error" in event:
            raise EngineError(f"model server error: {event['error'].get('message', event['error'])}")
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            text = (choice.get("delta") or {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
            if text:
                yield Delta(text)
    usage = usage or {}
    yield Delta(
        "",
        finish_reason=finish or "stop",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


async def _parse_json(resp: httpx.Response) -> AsyncIterator[Delta]:
    """A non-streamed answer in the shape of a stream: its text, then the final delta."""
    body = json.loads(await resp.aread())
    if "error" in body:
        raise EngineError(f"model server error: {body['error'].get('message', body['error'])}")
    choice = (body.get("choices") or [{}])[0]
    usage = body.get("usage") or {}
    text = (choice.get("message") or {}).get("content") or ""
    if text:
        yield Delta(text)
    yield Delta(
        "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


def _http_error(resp: httpx.Response, adapter: str | None) -> EngineError:
    try:
        message = resp.json().get("error", {}).get("message") or resp.text
    except (ValueError, AttributeError):
        message = resp.text
    text = f"model server answered {resp.status_code}: {message}"
    if resp.status_code == 429:
        retry = resp.headers.get("retry-after")
        return EngineBusy(text, retry_after=float(retry) if retry and retry.isdigit() else 1.0)
    if resp.status_code == 404:
        if adapter:
            return UnknownAdapter(f"the model server does not serve adapter {adapter!r}: {text}")
        return EngineUnavailable(f"{text} (check openai.base_url and openai.model)")
    if resp.status_code >= 500:
        return EngineUnavailable(text)
    error = EngineError(text)
    error.status = resp.status_code  # the server's 4xx verdict on the request stands
    return error


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
