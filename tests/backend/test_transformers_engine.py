"""TransformersEngine: streaming, dynamic batching, per-request sampling, cancellation, queue bound, LoRA."""

from __future__ import annotations

import asyncio

import pytest
import torch
from PIL import Image

from backend.engines import EngineBusy, GenerationRequest, SamplingParams, UnknownAdapter
from backend.engines.transformers_engine import TransformersEngine


def ask(question: str, *, image: Image.Image | None = None, **sampling) -> GenerationRequest:
    content = ([{"type": "image"}] if image is not None else []) + [{"type": "text", "text": question}]
    return GenerationRequest(
        messages=[{"role": "user", "content": content}],
        images=[image] if image is not None else [],
        sampling=SamplingParams(**{"max_tokens": 8, **sampling}),
    )


async def collect(engine, request):
    deltas = [d async for d in engine.stream(request)]
    return "".join(d.text for d in deltas), deltas


@pytest.fixture
async def engine(tiny_llava):
    eng = TransformersEngine(tiny_llava, max_batch_size=8, batch_wait_ms=20)
    await eng.start()
    yield eng
    await eng.close()


@pytest.fixture(scope="module")
def red():
    return Image.new("RGB", (80, 60), (220, 20, 20))


async def test_stream_yields_pieces_and_a_final_delta(engine, red):
    text, deltas = await collect(engine, ask("What is this?", image=red, max_tokens=10))
    final = deltas[-1]
    assert final.finish_reason in ("stop", "length")
    assert final.completion_tokens <= 10
    assert final.prompt_tokens > engine.model.config.image_seq_length
    assert sum(1 for d in deltas if d.text) >= 2
    assert all(d.finish_reason is None for d in deltas[:-1])


async def test_batched_greedy_equals_one_at_a_time(engine, red):
    questions = ["What is this?", "Is the box damaged? Please check the photo.", "退货政策是什么？", "Price?"]
    alone = [(await collect(engine, ask(q, image=red if i % 2 else None)))[0] for i, q in enumerate(questions)]
    batches_before = engine.batches_run
    together = await asyncio.gather(
        *[collect(engine, ask(q, image=red if i % 2 else None)) for i, q in enumerate(questions)]
    )
    await asyncio.sleep(0.05)
    assert [t for t, _ in together] == alone
    assert engine.batches_run - batches_before < len(questions), "concurrent requests were not batched"
    assert engine.largest_batch >= 2


async def test_each_request_keeps_its_own_length_limit(engine):
    results = await asyncio.gather(
        collect(engine, ask("one", max_tokens=2)), collect(engine, ask("two", max_tokens=9))
    )
    short, long = results[0][1][-1], results[1][1][-1]
    assert short.completion_tokens <= 2
    assert long.completion_tokens > short.completion_tokens or long.finish_reason == "stop"


async def test_seeded_sampling_is_reproducible_and_differs_from_greedy(engine):
    greedy = (await collect(engine, ask("Describe the product", max_tokens=12)))[0]
    sampled = await asyncio.gather(
        *[collect(engine, ask("Describe the product", max_tokens=12, temperature=1.5, seed=7)) for _ in range(2)]
    )
    assert sampled[0][0] == sampled[1][0]
    other = (await collect(engine, ask("Describe the product", max_tokens=12, temperature=1.5, seed=8)))[0]
    assert sampled[0][0] != greedy or other != greedy


async def test_stop_string_ends_the_answer(engine):
    full = (await collect(engine, ask("Describe the product", max_tokens=16)))[0]
    assert len(full) > 4
    stop = full[3:5]
    text, deltas = await collect(engine, ask("Describe the product", max_tokens=16, stop=(stop,)))
    assert stop not in text
    assert full.startswith(text)
    assert deltas[-1].finish_reason == "stop"


async def test_closing_a_stream_cancels_it_and_frees_the_engine(engine):
    stream = engine.stream(ask("Tell me a long story", max_tokens=400))
    first = await anext(stream)
    assert first.finish_reason is None
    await stream.aclose()
    text, deltas = await collect(engine, ask("Still there?", max_tokens=4))
    assert deltas[-1].finish_reason in ("stop", "length")


async def test_full_queue_is_refused_with_retry_after(tiny_llava):
    eng = TransformersEngine(tiny_llava, max_batch_size=1, max_queue=2, batch_wait_ms=0)
    await eng.start()
    try:
        streams = [eng.stream(ask(f"question {i}", max_tokens=200)) for i in range(4)]
        started = [asyncio.ensure_future(anext(s)) for s in streams]
        done = await asyncio.gather(*started, return_exceptions=True)
        busy = [r for r in done if isinstance(r, EngineBusy)]
        assert busy, "no request was refused although the queue bound is 2"
        assert all(b.retry_after and b.retry_after >= 1 for b in busy)
        assert "queue is full" in str(busy[0])
        for s in streams:
            await s.aclose()
    finally:
        await eng.close()


async def test_unknown_adapter_is_refused(engine):
    with pytest.raises(UnknownAdapter, match="not loaded"):
        await collect(engine, GenerationRequest(messages=[{"role": "user", "content": "hi"}], adapter="nope"))


async def test_adapters_switch_per_request_inside_one_batch(tiny_llava, lora_adapter, red):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    eng = TransformersEngine(tiny_llava, adapters={"shop": str(lora_adapter)}, max_batch_size=4, batch_wait_ms=50)
    await eng.start()
    try:
        assert eng.adapters() == ["shop"]
        base_req, tuned_req = ask("What is this?", image=red, max_tokens=8), ask("What is this?", image=red, max_tokens=8)
        tuned_req.adapter = "shop"
        (base, _), (tuned, _) = await asyncio.gather(collect(eng, base_req), collect(eng, tuned_req))
        assert base != tuned
        assert eng.largest_batch == 2, "base and adapter requests should share one batch"
        # The same adapter applied directly with PEFT gives the same greedy answer.
        plain = AutoModelForImageTextToText.from_pretrained(tiny_llava)
        reference = PeftModel.from_pretrained(plain, lora_adapter).eval()
        inputs = eng.processor(text=[eng.render_prompt(tuned_req)], images=[red], return_tensors="pt")
        with torch.inference_mode():
            ids = reference.generate(**inputs, max_new_tokens=8, do_sample=False)
        expected = eng.processor.tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        expected = expected.rstrip("\ufffd")  # the engine drops a character cut in half by the length limit
        assert tuned == expected
        without = (await collect(eng, ask("What is this?", image=red, max_tokens=8)))[0]
        assert without == base
    finally:
        await eng.close()


async def test_repeated_image_reuses_cached_features(engine, red):
    cache = engine.processor.image_processor
    misses = cache.misses
    await collect(engine, ask("first look", image=red, max_tokens=2))
    await collect(engine, ask("second look", image=red, max_tokens=2))
    assert cache.misses == misses + 1
    assert cache.hits >= 1


async def test_readiness_reports_a_broken_model_path(tmp_path):
    eng = TransformersEngine(tmp_path / "missing")
    with pytest.raises(Exception, match="failed to load"):
        await eng.start()
    ready, reason = await eng.readiness()
    assert not ready and "missing" in reason


@pytest.mark.parametrize("family", ["llava_next", "qwen2_vl"])
async def test_other_families_batch_images_of_different_sizes(models_dir, family):
    from backend.models.tiny import ensure_tiny_model

    eng = TransformersEngine(ensure_tiny_model(family, models_dir), max_batch_size=4, batch_wait_ms=50)
    await eng.start()
    try:
        requests = lambda: [  # noqa: E731 - fresh requests each time
            ask("What is this?", image=Image.new("RGB", (120, 60), (10, 200, 10))),
            ask("And this one, in the photo?", image=Image.new("RGB", (48, 90), (10, 10, 200))),
            ask("No image here"),
        ]
        alone = [(await collect(eng, r))[0] for r in requests()]
        together = [t for t, _ in await asyncio.gather(*[collect(eng, r) for r in requests()])]
        assert together == alone
        assert eng.largest_batch == 3
    finally:
        await eng.close()
