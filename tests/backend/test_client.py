"""backend.client.VisionDeskClient against a real backend (and against a port where nothing listens)."""

from __future__ import annotations

import pytest

from backend.api.schemas import ModelList, Readiness, VisionDeskResult
from backend.client import BackendError, BackendUnreachable, ChatAnswer, VisionDeskClient
from support import free_port, image_bytes

IMAGE_TOKENS = 16


@pytest.fixture
def client(backend):
    with VisionDeskClient(backend.url, api_key=backend.api_key, timeout=120) as c:
        yield c


@pytest.fixture
def label_png(tmp_path):
    path = tmp_path / "label.png"
    path.write_bytes(image_bytes((80, 60), color=(250, 200, 0)))
    return path


def test_chat_with_an_image_file(client, label_png):
    answer = client.chat("What is on this label?", images=[label_png], domain="ecommerce", variant="B",
                         max_tokens=16, temperature=0)
    assert isinstance(answer, ChatAnswer)
    assert isinstance(answer.text, str)
    assert answer.finish_reason in ("stop", "length")
    assert answer.model == "tiny-llava"
    assert answer.visiondesk.domain == "ecommerce"
    assert answer.visiondesk.variant == "B"
    assert answer.visiondesk.notice is None
    assert answer.citations == []
    assert answer.usage["prompt_tokens"] > IMAGE_TOKENS
    assert 0 < answer.usage["completion_tokens"] <= 16


def test_stream_chat_calls_on_meta_first_and_matches_chat(client, label_png):
    events: list = []
    pieces = []
    for piece in client.stream_chat("What is on this label?", images=[str(label_png)], domain="medical",
                                    variant="A", max_tokens=24, temperature=0,
                                    on_meta=lambda meta: events.append(meta)):
        assert events, "on_meta must be called before the first piece of text"
        pieces.append(piece)
    assert len(events) == 1
    assert isinstance(events[0], VisionDeskResult)
    assert events[0].domain == "medical" and events[0].variant == "A"
    assert len(pieces) > 1
    whole = client.chat("What is on this label?", images=[label_png], max_tokens=24, temperature=0)
    assert "".join(pieces) == whole.text


def test_history_via_messages(client, label_png):
    first = client.chat("What is on this label?", images=[label_png], max_tokens=4, temperature=0)
    history = [
        {"role": "user", "content": "What is on this label?"},
        {"role": "assistant", "content": first.text or "a label"},
    ]
    follow_up = client.chat("And the price?", messages=history, max_tokens=4, temperature=0)
    alone = client.chat("And the price?", max_tokens=4, temperature=0)
    assert follow_up.usage["prompt_tokens"] > alone.usage["prompt_tokens"]


def test_models_and_ready(client):
    models = client.models()
    assert isinstance(models, ModelList)
    assert models.data[0].id == "tiny-llava" and models.data[0].kind == "base"
    ready = client.ready()
    assert isinstance(ready, Readiness)
    assert ready.ready is True and ready.model == "tiny-llava"
    assert client.health() is True


def test_backend_error_carries_status_and_code(client):
    with pytest.raises(BackendError) as err:
        client.chat("   ")
    assert not isinstance(err.value, BackendUnreachable)
    assert err.value.status == 400
    assert err.value.code == "empty_question"
    assert "empty" in err.value.message
    assert "HTTP 400" in str(err.value)

    with pytest.raises(BackendError) as err:
        list(client.stream_chat(" "))
    assert err.value.status == 400 and err.value.code == "empty_question"

    with pytest.raises(BackendError) as err:
        client.chat("hello", model="no-such-model")
    assert err.value.status == 404 and err.value.code == "model_not_found"


def test_unreachable_backend_names_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    with VisionDeskClient(url, timeout=5) as c:
        for call in (lambda: c.chat("hello"), c.ready, c.models, lambda: list(c.stream_chat("hello"))):
            with pytest.raises(BackendUnreachable) as err:
                call()
            assert url in str(err.value)
            assert "cannot reach" in str(err.value)
            assert err.value.code == "backend_unreachable"
            assert err.value.status == 0
