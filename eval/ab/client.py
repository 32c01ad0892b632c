"""One eval question → one streamed answer through `/v1/chat/completions`, timed (latency, time to first token)."""

from __future__ import annotations

import json
import time

import httpx
from pydantic import BaseModel, Field

from eval.ab.config import VariantSpec
from eval.ab.evalset import EvalRow, data_uri


class AnswerError(RuntimeError):
    """The backend answered with an error (HTTP status or an in-band stream error)."""


class CitationRef(BaseModel):
    number: int
    chunk_id: str
    document_id: str
    source: str
    title: str = ""


class Answer(BaseModel):
    text: str
    citations: list[CitationRef] = Field(default_factory=list)
    ocr_text: list[str] = Field(default_factory=list)
    retrieval: bool = False
    adapter: str | None = None
    request_id: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float
    ttft_ms: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Generated tokens per second of the whole request. Engines deliver tokens in bursts (and the backend
        holds the first one until the stream opens), so a rate measured after the first token is not stable."""
        if self.completion_tokens < 1 or self.latency_ms <= 0:
            return None
        return self.completion_tokens / (self.latency_ms / 1000)


def request_body(spec: VariantSpec, row: EvalRow, seed: int) -> dict:
    content: list[dict] = [{"type": "image_url", "image_url": {"url": data_uri(p)}} for p in row.image_paths()]
    content.append({"type": "text", "text": row.question})
    messages = [{"role": "system", "content": spec.system_prompt}] if spec.system_prompt else []
    messages.append({"role": "user", "content": content})
    options = {"domain": spec.domain or row.domain, "retrieval": spec.retrieval, "variant": spec.name}
    if spec.top_k is not None:
        options["top_k"] = spec.top_k
    body = {"messages": messages, "stream": True, "stream_options": {"include_usage": True},
            "max_tokens": spec.max_tokens, "temperature": spec.temperature, "seed": seed, "visiondesk": options}
    if spec.model:
        body["model"] = spec.model
    return body


async def ask(client: httpx.AsyncClient, body: dict) -> Answer:
    """Send one streamed request; raise AnswerError with the backend's own message on failure."""
    started = time.perf_counter()
    parts: list[str] = []
    ttft = None
    extension: dict = {}
    usage: dict = {}
    finish = None
    async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            await resp.aread()
            raise AnswerError(_http_error(resp))
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                raise AnswerError(f"stream error: {chunk['error'].get('message')}")
            if chunk.get("visiondesk"):
                extension = {**extension, **chunk["visiondesk"]}
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices", []):
                text = choice.get("delta", {}).get("content") or ""
                if text and ttft is None:
                    ttft = (time.perf_counter() - started) * 1000
                parts.append(text)
                finish = choice.get("finish_reason") or finish
    latency = (time.perf_counter() - started) * 1000
    return Answer(
        text="".join(parts),
        citations=[CitationRef(**{k: c.get(k, "") for k in ("number", "chunk_id", "document_id", "source", "title")})
                   for c in extension.get("citations", [])],
        ocr_text=extension.get("ocr_text", []), retrieval=bool(extension.get("retrieval")),
        adapter=extension.get("adapter"), request_id=extension.get("request_id"), finish_reason=finish,
        prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0),
        latency_ms=latency, ttft_ms=ttft)


def _http_error(resp: httpx.Response) -> str:
    try:
        err = resp.json()["error"]
        return f"HTTP {resp.status_code} {err.get('code') or err.get('type')}: {err.get('message')}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
