"""In-process engine: any Hugging Face image-text-to-text checkpoint, with dynamic batching and streaming.

Requests that arrive together are decoded together in one `generate` call. Each request keeps its own
sampling settings (applied by a per-row logits processor), its own length limit and stop strings
(a per-row stopping criterion), its own LoRA adapter (PEFT's `adapter_names`), and its own stream.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    AutoModelForImageTextToText,
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from backend.engines.base import (
    Delta,
    Engine,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    UnknownAdapter,
)
from backend.engines.feature_cache import CachingImageProcessor
from backend.engines.prefix_cache import FAMILIES, PrefixCache, cacheable_length
from backend.models.processors import load_processor

log = logging.getLogger(__name__)

_BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class _Row:
    """A request while it waits for or sits in a batch."""

    request: GenerationRequest
    prompt: str
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    cancelled: threading.Event = field(default_factory=threading.Event)
    token_ids: list[int] = field(default_factory=list)
    sent_chars: int = 0
    prompt_tokens: int = 0
    finish: str | None = None
    generator: torch.Generator | None = None

    def emit(self, delta: Delta | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.out.put_nowait, delta)


class TransformersEngine(Engine):
    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str = "",
        adapters: dict[str, str] | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        max_batch_size: int = 16,
        batch_wait_ms: float = 5.0,
        max_queue: int = 64,
        feature_cache_size: int = 256,
        prefix_cache_entries: int = 4,
    ):
        self.model_path = str(model_path)
        self.model_id = name or Path(self.model_path).name or self.model_path
        self._adapter_paths = dict(adapters or {})
        self._dtype = _DTYPES[dtype]
        self._device = torch.device(device)
        self.max_batch_size = max_batch_size
        self._batch_wait = batch_wait_ms / 1000
        self.max_queue = max_queue
        self._feature_cache_size = feature_cache_size
        self._prefix_cache_entries = prefix_cache_entries
        self.prefix_cache: PrefixCache | None = None  # set at load for families it is safe for
        self._pending: deque[_Row] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._load_error: str | None = None
        self._loaded = threading.Event()
        self._recent_batch_s = 1.0  # for Retry-After estimates
        self.model = None
        self.processor = None
        self.batches_run = 0
        self.largest_batch = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self._load)
        except Exception as exc:  # noqa: BLE001 - reported through readiness and re-raised
            self._load_error = f"model failed to load from {self.model_path}: {exc}"
            raise EngineUnavailable(self._load_error) from exc
        self._worker = threading.Thread(target=self._run, name="transformers-engine", daemon=True)
        self._worker.start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        processor = load_processor(self.model_path)
        processor.tokenizer.padding_side = "left"
        if getattr(processor, "image_processor", None) is not None:
            processor.image_processor = CachingImageProcessor(processor.image_processor, self._feature_cache_size)
        model = AutoModelForImageTextToText.from_pretrained(self.model_path, dtype=self._dtype)
        if self._adapter_paths:
            from peft import PeftModel

            items = iter(self._adapter_paths.items())
            first_name, first_path = next(items)
            model = PeftModel.from_pretrained(model, first_path, adapter_name=first_name)
            for adapter_name, adapter_path in items:
                model.load_adapter(adapter_path, adapter_name=adapter_name)
        model.to(self._device).eval()
        if self._prefix_cache_entries and model.config.model_type in FAMILIES:
            self.prefix_cache = PrefixCache(self._prefix_cache_entries)
        self.model, self.processor = model, processor
        self._loaded.set()
        log.info("loaded %s in %.1fs", self.model_path, time.perf_counter() - t0)

    def load_adapter(self, name: str, path: str) -> None:
        """Make a LoRA adapter available to requests (takes effect between batches)."""
        from peft import PeftModel

        with self._cond:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(path, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, path, adapter_name=name).eval()
            self._adapter_paths[name] = path
            if self.prefix_cache is not None:
                self.prefix_cache.clear()  # a replaced adapter makes its cached keys and values stale

    async def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker is not None:
            await asyncio.to_thread(self._worker.join, 30)

    def adapters(self) -> list[str]:
        return list(self._adapter_paths)

    async def readiness(self) -> tuple[bool, str]:
        if self._load_error:
            return False, self._load_error
        if not self._loaded.is_set():
            return False, f"model {self.model_id} is still loading"
        if self._worker is None or not self._worker.is_alive():
            return False, "the generation worker is not running"
        return True, f"model {self.model_id} loaded"

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    # -- requests ----------------------------------------------------------------------------------

    def render_prompt(self, request: GenerationRequest) -> str:
        """The prompt text the model sees, from the checkpoint's own chat template."""
        return self.processor.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if not self._loaded.is_set():
            raise EngineUnavailable(self._load_error or f"model {self.model_id} is still loading")
        if request.adapter and request.adapter not in self._adapter_paths:
            raise UnknownAdapter(
                f"adapter {request.adapter!r} is not loaded; available: {', '.join(self._adapter_paths) or 'none'}"
            )
        row = _Row(request, self.render_prompt(request), asyncio.get_running_loop(), asyncio.Queue())
        if request.sampling.temperature > 0:
            row.generator = torch.Generator()
            row.generator.manual_seed(request.sampling.seed if request.sampling.seed is not None else _fresh_seed())
        with self._cond:
            if len(self._pending) >= self.max_queue:
                waves = len(self._pending) / self.max_batch_size + 1
                raise EngineBusy(
                    f"the model queue is full ({self.max_queue} requests waiting); retry shortly",
                    retry_after=max(1.0, round(waves * self._recent_batch_s)),
                )
            self._pending.append(row)
            self._cond.notify()
        try:
            while True:
                item = await row.out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            # Closing the stream early (client gone, task cancelled) frees the row's batch slot.
            row.cancelled.set()

    # -- worker thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            started = time.perf_counter()
            self.batches_run += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                self._generate(batch)
            except Exception as exc:  # noqa: BLE001 - every waiting stream must hear about it
                log.exception("generation failed")
                for row in batch:
                    if row.finish is None:
                        row.finish = "error"
                        row.emit(EngineError(f"generation failed: {exc}"))
            self._recent_batch_s = 0.8 * self._recent_batch_s + 0.2 * (time.perf_counter() - started)

    def _next_batch(self) -> list[_Row] | None:
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            # Give requests that arrive together a moment to join the same batch.
            deadline = time.monotonic() + self._batch_wait
            while len(self._pending) < self.max_batch_size and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch = []
            while self._pending and len(batch) < self.max_batch_size:
                row = self._pending.popleft()
                if row.cancelled.is_set():
                    continue
                batch.append(row)
            return batch

    def _generate(self, batch: list[_Row]) -> None:
        if not batch:
            return
        processor, model = self.processor, self.model
        images = [img for row in batch for img in row.request.images]
        inputs = processor(
            text=[row.prompt for row in batch], images=images or None, padding=True, return_tensors="pt"
        ).to(self._device)
        if "pixel_values" in inputs and self._dtype != torch.float32:
            inputs["pixel_values"] = inputs["pixel_values"].to(self._dtype)
        prompt_len = inputs["input_ids"].shape[1]
        for i, row in enumerate(batch):
            row.prompt_tokens = int(inputs["attention_mask"][i].sum())
        tokenizer = processor.tokenizer
        eos_ids = _eos_ids(model, tokenizer)
        config = GenerationConfig(
            max_new_tokens=max(row.request.sampling.max_tokens for row in batch),
            do_sample=False,  # sampling happens per row inside _PerRowSampler
            eos_token_id=eos_ids,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0],
        )
        extra = {}
        if self._adapter_paths:
            extra["adapter_names"] = [row.request.adapter or _BASE for row in batch]
        reuse = self._prefix_inputs(batch, inputs["input_ids"])
        if reuse:
            extra["past_key_values"] = reuse[2]
        with torch.inference_mode():
            model.generate(
                **inputs,
                **extra,
                generation_config=config,
                logits_processor=LogitsProcessorList([_PerRowSampler(batch)]),
                stopping_criteria=StoppingCriteriaList([_PerRowStop(batch, prompt_len)]),
                streamer=_RowStreamer(batch, tokenizer, set(eos_ids)),
            )
        if reuse:
            self.prefix_cache.store(*reuse)
        for row in batch:  # rows still open when generate returns ran out of tokens
            if row.finish is None:
                _finish(row, tokenizer, "length")

    def _prefix_inputs(self, batch: list[_Row], input_ids: torch.Tensor):
        """(adapter, ids, cache, cacheable length) for a lone request: the cache starts from the longest opening
        an earlier prompt shared, and is kept afterwards for later ones. Batches of several (left-padded) rows
        are prefilled whole."""
        if self.prefix_cache is None or len(batch) != 1:
            return None
        key = batch[0].request.adapter or _BASE
        ids = input_ids[0]
        limit = cacheable_length(ids, getattr(self.model.config, "image_token_id", None))
        cache = self.prefix_cache.lookup(key, ids, limit) or DynamicCache(config=self.model.config.get_text_config())
        return key, ids, cache, limit


def _fresh_seed() -> int:
    return secrets.randbits(63)


def _eos_ids(model, tokenizer) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


class _PerRowSampler(LogitsProcessor):
    """Applies each row's temperature and top-p and samples with its own generator.

    The chosen token is returned as the only finite logit, so generate's greedy pick takes it; greedy rows
    pass through untouched.
    """

    def __init__(self, batch: list[_Row]):
        self.batch = batch

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for i, row in enumerate(self.batch):
            params = row.request.sampling
            if params.temperature <= 0:
                continue
            probs = torch.softmax(scores[i].float() / params.temperature, dim=-1)
            if params.top_p < 1.0:
                sorted_probs, order = probs.sort(descending=True)
                keep = sorted_probs.cumsum(-1) - sorted_probs < params.top_p
                filtered = torch.zeros_like(probs)
                filtered[order[keep]] = sorted_probs[keep]
                probs = filtered / filtered.sum()
            token = torch.multinomial(probs, 1, generator=row.generator).item()
            scores[i] = float("-inf")
            scores[i, token] = 0.0
        return scores


class _PerRowStop(StoppingCriteria):
    """A row stops when it hit its own max_tokens, a stop string, or was cancelled."""

    def __init__(self, batch: list[_Row], prompt_len: int):
        self.batch = batch
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_len
        done = [
            row.finish is not None or row.cancelled.is_set() or generated >= row.request.sampling.max_tokens
            for row in self.batch
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _RowStreamer(BaseStreamer):
    """Receives each step's tokens for the whole batch and feeds every row's stream."""

    def __init__(self, batch: list[_Row], tokenizer, eos_ids: set[int]):
        self.batch = batch
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate first hands over the prompt ids
            self.prompt_seen = True
            return
        for row, token in zip(self.batch, value.view(-1).tolist(), strict=True):
            if row.finish is not None:
                continue
            if row.cancelled.is_set():
                row.finish = "cancelled"
                continue
            if token in self.eos_ids:
                _finish(row, self.tokenizer, "stop")
                continue
            row.token_ids.append(token)
            _send_new_text(row, self.tokenizer)
            if row.finish is None and len(row.token_ids) >= row.request.sampling.max_tokens:
                _finish(row, self.tokenizer, "length")

    def end(self) -> None:
        pass


def _decoded(row: _Row, tokenizer) -> str:
    return tokenizer.decode(row.token_ids, skip_special_tokens=True)


def _send_new_text(row: _Row, tokenizer) -> None:
    text = _decoded(row, tokenizer)
    stops = row.request.sampling.stop
    for stop in stops:
        at = text.find(stop, max(0, row.sent_chars - len(stop)))
        if at != -1:
            _emit_text(row, text[:at])
            row.finish = "stop"
            row.emit(_final(row, "stop"))
            return
    # Hold back a partial UTF-8 character, and any tail that could be the start of a stop string.
    safe = len(text.rstrip("\ufffd"))
    for stop in stops:
        for k in range(min(len(stop) - 1, safe), 0, -1):
            if text[:safe].endswith(stop[:k]):
                safe -= k
                break
    _emit_text(row, text[:safe])


def _emit_text(row: _Row, text: str) -> None:
    if len(text) > row.sent_chars:
        row.emit(Delta(text[row.sent_chars :]))
        row.sent_chars = len(text)


def _finish(row: _Row, tokenizer, reason: str) -> None:
    if reason != "cancelled":
        # A length cut can split a multi-byte character: drop the dangling replacement character.
        _emit_text(row, _decoded(row, tokenizer).rstrip("\ufffd"))
    row.finish = reason
    row.emit(_final(row, reason))


def _final(row: _Row, reason: str) -> Delta:
    return Delta("", finish_reason=reason, prompt_tokens=row.prompt_tokens, completion_tokens=len(row.token_ids))
