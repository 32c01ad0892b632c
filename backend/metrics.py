"""Prometheus metrics of the backend, in a registry of its own (one per app, so tests do not collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self, queue_depth: Callable[[], float]):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("visiondesk_requests", "HTTP requests by route and status.", ["route", "status"],
                                registry=r)
        self.errors = Counter("visiondesk_errors", "Failed chat requests by error type.", ["type"], registry=r)
        self.latency = Histogram("visiondesk_request_latency_seconds", "End-to-end chat latency.", ["stream"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("visiondesk_time_to_first_token_seconds", "Time from request to first token.",
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("visiondesk_generated_tokens", "Completion tokens generated.", ["model"], registry=r)
        self.prompt_tokens = Counter("visiondesk_prompt_tokens", "Prompt tokens processed.", ["model"], registry=r)
        self.decode_rate = Histogram("visiondesk_tokens_per_second", "Per-request decoding speed after the first token.",
                                     buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=r)
        self.queue = Gauge("visiondesk_queue_depth", "Requests waiting for a batch slot.", registry=r)
        self.queue.set_function(queue_depth)

    def observe_chat(self, *, model: str, stream: bool, latency_s: float, ttft_s: float | None,
                     prompt_tokens: int, completion_tokens: int) -> None:
        self.latency.labels(stream=str(stream).lower()).observe(latency_s)
        if ttft_s is not None:
            self.ttft.observe(ttft_s)
            decode_s = latency_s - ttft_s
            if completion_tokens > 1 and decode_s > 0:
                self.decode_rate.observe((completion_tokens - 1) / decode_s)
        self.tokens.labels(model=model).inc(completion_tokens)
        self.prompt_tokens.labels(model=model).inc(prompt_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
