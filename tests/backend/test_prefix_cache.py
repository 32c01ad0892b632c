"""Prefix cache: a lone request reuses the keys and values of the opening an earlier prompt shared, and answers
exactly as a full prefill would (float32), across different images, adapters and adapter reloads."""

from __future__ import annotations

import asyncio

import pytest
import torch
from PIL import Image
from transformers import DynamicCache

from backend.engines import GenerationRequest, SamplingParams
from backend.engines.prefix_cache import PrefixCache, cacheable_length, shared_length
from backend.engines.transformers_engine import TransformersEngine

SYSTEM = ("You answer questions about Northwind Home products from the reference data below. Be brief and cite "
          "the block you used. Never invent order numbers, prices or warranty terms.")


def ask(question: str, image: Image.Image | None = None, adapter: str | None = None) -> GenerationRequest:
    content = ([{"type": "image"}] if image is not None else []) + [{"type": "text", "text": question}]
    return GenerationRequest(
        messages=[{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
                  {"role": "user", "content": content}],
        images=[image] if image is not None else [], sampling=SamplingParams(max_tokens=8), adapter=adapter)


async def answers(engine: TransformersEngine, requests: list[GenerationRequest]) -> list[str]:
    return [(await engine.complete(r)).text for r in requests]  # one at a time: each is a lone request


@pytest.fixture(scope="module")
def red():
    return Image.new("RGB", (80, 60), (220, 20, 20))


@pytest.fixture(scope="module")
def blue():
    return Image.new("RGB", (80, 60), (20, 40, 230))


async def run_both(tiny_llava, requests, **engine_args) -> tuple[list[str], list[str], TransformersEngine]:
    """The answers with the prefix cache off, and on (the engine with it on is returned for its counters)."""
    out = []
    for entries in (0, 4):
        eng = TransformersEngine(tiny_llava, prefix_cache_entries=entries, **engine_args)
        await eng.start()
        try:
            out.append((await answers(eng, requests), eng))
        finally:
            await eng.close()
    (plain, off), (cached, on) = out
    assert off.prefix_cache is None
    return plain, cached, on


def test_shared_length_stops_at_the_first_difference_and_the_limit():
    a, b = torch.tensor([5, 6, 7, 8, 9]), torch.tensor([5, 6, 7, 1, 9])
    assert shared_length(a, b, 10) == 3
    assert shared_length(a, b, 2) == 2
    assert shared_length(a, a[:4], 10) == 4
    assert shared_length(a, torch.tensor([1]), 10) == 0


def test_cacheable_length_ends_before_the_first_image_and_the_last_token():
    ids = torch.tensor([1, 2, 3, 99, 99, 4, 5])
    assert cacheable_length(ids, image_token_id=99) == 3
    assert cacheable_length(ids, image_token_id=None) == 6  # text only: all but the last token
    assert cacheable_length(torch.tensor([99, 1]), image_token_id=99) == 0


def kv(length: int) -> DynamicCache:
    """A one-layer cache whose keys at position i hold the value i."""
    cache = DynamicCache()
    k = torch.arange(length, dtype=torch.float32).view(1, 1, length, 1)
    cache.update(k, k.clone(), 0)
    return cache


def test_lookup_picks_the_longest_opening_among_many_and_evicts_the_least_recently_used():
    pc = PrefixCache(entries=3, min_tokens=4)
    a, b = torch.arange(100, 120), torch.cat([torch.arange(100, 130), torch.tensor([7] * 10)])
    c, d, e = torch.arange(500, 540), torch.arange(700, 740), torch.arange(800, 840)
    for key, ids in (("base", a), ("base", b), ("lora", c)):
        pc.store(key, ids, kv(len(ids)), limit=len(ids))

    query = torch.cat([torch.arange(100, 135), torch.tensor([1, 2])])
    hit = pc.lookup("base", query, limit=len(query))  # a shares 20 tokens, b 30
    assert hit.get_seq_length() == 30
    assert hit.layers[0].keys[0, 0, :, 0].tolist() == list(range(30))
    assert pc.lookup("base", query, limit=3) is None  # shorter than min_tokens
    assert pc.lookup("lora", query, limit=len(query)) is None  # another adapter's keys never match

    pc.store("base", d, kv(len(d)), limit=len(d))  # evicts a, the least recently used
    assert pc.lookup("lora", c, limit=len(c)).get_seq_length() == 40  # c is now the most recently used
    pc.store("base", e, kv(len(e)), limit=len(e))  # evicts b
    assert len(pc) == 3
    assert pc.lookup("base", query, limit=len(query)) is None
    assert pc.lookup("base", d, limit=len(d)).get_seq_length() == 40
    assert pc.lookup("lora", c, limit=len(c)).get_seq_length() == 40


async def test_lone_requests_reuse_the_shared_opening_and_answer_as_a_full_prefill(tiny_llava, red):
    requests = [ask(q) for q in ("Where is my order?", "What does the kettle cost?", "Is the lamp dimmable?")]
    requests.append(ask("What colour is this?", image=red))
    plain, cached, engine = await run_both(tiny_llava, requests)
    assert cached == plain
    assert engine.prefix_cache.hits == len(requests) - 1
    system_tokens = len(engine.processor.tokenizer(SYSTEM)["input_ids"])
    assert engine.prefix_cache.reused_tokens >= (len(requests) - 1) * system_tokens


async def test_a_different_image_after_the_same_text_is_not_taken_from_the_cache(tiny_llava, red, blue):
    requests = [ask("What colour is this product?", image=red), ask("What colour is this product?", image=blue)]
    plain, cached, engine = await run_both(tiny_llava, requests)
    assert plain[0] != plain[1], "the tiny model must tell the images apart for this test to mean anything"
    assert cached == plain
    assert engine.prefix_cache.hits == 1


async def test_adapters_keep_separate_entries(tiny_llava, lora_adapter, red):
    requests = [ask("What is this?", image=red), ask("What is this?", image=red, adapter="shop"),
                ask("And this?", image=red, adapter="shop"), ask("And this?", image=red)]
    plain, cached, engine = await run_both(tiny_llava, requests, adapters={"shop": str(lora_adapter)})
    assert plain[0] != plain[1], "the adapter must change the answer for this test to mean anything"
    assert cached == plain
    assert engine.prefix_cache.hits == 2  # requests 3 and 4 find their own adapter's opening; 2 finds none


async def test_reloading_an_adapter_drops_its_cached_openings(tiny_llava, lora_adapter):
    engine = TransformersEngine(tiny_llava, adapters={"shop": str(lora_adapter)})
    await engine.start()
    try:
        await engine.complete(ask("Where is my order?", adapter="shop"))
        for _ in range(100):  # the worker stores the entry just after the answer's last delta
            if len(engine.prefix_cache):
                break
            await asyncio.sleep(0.05)
        assert len(engine.prefix_cache) == 1
        engine.load_adapter("shop", str(lora_adapter))
        assert len(engine.prefix_cache) == 0
    finally:
        await engine.close()


async def test_requests_decoded_together_are_prefilled_whole(tiny_llava):
    engine = TransformersEngine(tiny_llava, max_batch_size=4, batch_wait_ms=50)
    await engine.start()
    try:
        alone = await answers(engine, [ask("Where is my order?"), ask("Is the lamp dimmable?")])
        hits = engine.prefix_cache.hits
        together = await asyncio.gather(*(engine.complete(ask(q)) for q in ("Where is my order?", "Is the lamp dimmable?")))
        assert engine.largest_batch == 2
        assert engine.prefix_cache.hits == hits
        assert [t.text for t in together] == alone
    finally:
        await engine.close()
