"""A small Python client for the VisionDesk backend, used by the apps and tests.

    client = VisionDeskClient("http://127.0.0.1:8700")
    answer = client.chat("What is on this label?", images=["label.png"], domain="ecommerce")
    print(answer.text, answer.citations)
    for piece in client.stream_chat("And the price?", images=["label.png"]):
        print(piece, end="")
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.api.schemas import ChatCompletion, ModelList, Readiness, VisionDeskResult

ImageInput = str | Path | bytes



def sse_events(resp: httpx.Response) -> Iterator[dict]:
    """The JSON events of an OpenAI-style server-sent event stream, up to `data: [DONE]`."""
    for line in resp.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)

class BackendError(RuntimeError):
    """The backend refused or failed a request. `code` names the cause (for limits, the setting)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, retry_after: float | None = None):
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after


class BackendUnreachable(BackendError):
    """No connection to the backend: it is down, starting, or the URL is wrong."""

    def __init__(self, url: str, detail: str):
        super().__init__(0, f"cannot reach the VisionDesk backend at {url}: {detail}", code="backend_unreachable")


@dataclass
class ChatAnswer:
    text: str
    finish_reason: str
    model: str
    visiondesk: VisionDeskResult
    usage: dict = field(default_factory=dict)

    @property
    def citations(self):
        return self.visiondesk.citations


def image_part(image: ImageInput) -> dict:
    """An OpenAI image part with a data URI, from a file path or raw bytes."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        data = path.read_bytes()
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
    else:
        data, mime = image, "image/png"
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}}


def user_message(question: str, images: list[ImageInput] | None = None) -> dict:
    return {"role": "user", "content": [*(image_part(i) for i in images or []), {"type": "text", "text": question}]}


class VisionDeskClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0):
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VisionDeskClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- verbs -----------------------------------------------------------------------------------

    def health(self) -> bool:
        return self._request("GET", "/healthz").status_code == 200

    def ready(self) -> Readiness:
        resp = self._request("GET", "/readyz", ok=(200, 503))
        return Readiness.model_validate(resp.json())

    def models(self) -> ModelList:
        return ModelList.model_validate(self._request("GET", "/v1/models").json())

    def chat(self, question: str | None = None, *, images: list[ImageInput] | None = None,
             messages: list[dict] | None = None, **options) -> ChatAnswer:
        body = self._body(question, images, messages, stream=False, **options)
        completion = ChatCompletion.model_validate(self._request("POST", "/v1/chat/completions", json=body).json())
        choice = completion.choices[0]
        return ChatAnswer(choice.message.content, choice.finish_reason, completion.model, completion.visiondesk,
                          completion.usage.model_dump())

    def stream_chat(self, question: str | None = None, *, images: list[ImageInput] | None = None,
                    messages: list[dict] | None = None, on_meta=None, **options) -> Iterator[str]:
        """Yield answer text as it arrives; `on_meta(VisionDeskResult)` is called once, before the text."""
        body = self._body(question, images, messages, stream=True, **options)
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise _error_from(resp)
                for event in sse_events(resp):
                    if "error" in event:
                        raise BackendError(502, event["error"]["message"], code=event["error"].get("code"))
                    if event.get("visiondesk") and on_meta:
                        on_meta(VisionDeskResult.model_validate(event["visiondesk"]))
                    for choice in event.get("choices", []):
                        text = choice["delta"].get("content")
                        if text:
                            yield text
        except httpx.TransportError as exc:
            raise BackendUnreachable(self.base_url, str(exc) or type(exc).__name__) from None

    # -- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _body(question, images, messages, *, stream: bool, model: str | None = None, max_tokens: int | None = None,
              temperature: float | None = None, seed: int | None = None, domain: str | None = None,
              retrieval: bool = True, top_k: int | None = None, variant: str | None = None) -> dict:
        if messages is None:
            if question is None:
                raise ValueError("give a question or messages")
            messages = [user_message(question, images)]
        elif question is not None:
            messages = [*messages, user_message(question, images)]
        body = {"messages": messages, "stream": stream, "model": model, "max_tokens": max_tokens,
                "temperature": temperature, "seed": seed,
                "visiondesk": {"domain": domain, "retrieval": retrieval, "top_k": top_k, "variant": variant}}
        return {k: v for k, v in body.items() if v is not None}

    def _request(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnreachable(self.base_url, str(exc) or type(exc).__name__) from None
        if resp.status_code not in ok:
            raise _error_from(resp)
        return resp


def _error_from(resp: httpx.Response) -> BackendError:
    try:
        err = resp.json()["error"]
        message, code = err["message"], err.get("code")
    except (ValueError, KeyError, TypeError):
        message, code = resp.text or resp.reason_phrase, None
    retry = resp.headers.get("retry-after")
    return BackendError(resp.status_code, message, code=code,
                        retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
