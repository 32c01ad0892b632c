"""Profiles, settings, glossary and the safety post-processor."""

import pytest
from pydantic import ValidationError

from knowledge.glossary import load_glossary
from knowledge.profiles import load_profiles
from knowledge.safety import postprocess_answer, red_flags
from knowledge.settings import KnowledgeSettings


def test_settings_forbid_unknown_keys_and_describe_every_field():
    with pytest.raises(ValidationError):
        KnowledgeSettings(embeder="minilm")
    assert all(f.description for f in KnowledgeSettings.model_fields.values())
    s = KnowledgeSettings(data_dir="/tmp/x")
    assert s.resolved_database_url() == "sqlite:////tmp/x/knowledge.db" and str(s.resolved_persist_dir()) == "/tmp/x/chroma"


def test_profiles_load_and_a_domain_is_a_yaml_file(tmp_path):
    profiles = load_profiles(KnowledgeSettings().profiles_dir)
    assert set(profiles) == {"ecommerce", "medical"}
    assert profiles["medical"].safety.medical and profiles["medical"].retrieval.use_glossary
    labels = [q.label for p in profiles.values() for q in p.quick_actions]
    assert "Write a product listing from this photo" in labels and "Explain this lab report in plain words" in labels
    (tmp_path / "legal.yaml").write_text("domain: legal\ntitle: Legal\nsystem_prompt: You help with contracts.\n")
    assert list(load_profiles(tmp_path)) == ["legal"]
    (tmp_path / "bad.yaml").write_text("domain: x\ntitle: X\nsystem_prompt: y\nunknown: 1\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_profiles(tmp_path)


def test_glossary_expands_across_languages_and_registers():
    g = load_glossary(KnowledgeSettings().glossary_path)
    assert {"对乙酰氨基酚", "acetaminophen", "fever reducer"} <= set(g.expansions("Can I take Tylenol?"))
    assert "Glycated haemoglobin" in g.expansions("我的糖化血红蛋白偏高")
    assert g.expansions("good cholesterol") and "高密度脂蛋白胆固醇" in g.expansions("good cholesterol")
    assert g.unverified_names("布洛芬 and ibuprofen are fine; 左氧氟沙星片 is not listed", []) == ["左氧氟沙星片"]


@pytest.mark.parametrize("text", ["I have chest pain", "her face is drooping and slurred speech", "severe bleeding",
                                  "胸口痛得厉害", "突然呼吸困难", "他昏迷了"])
def test_red_flags_in_both_languages(text):
    assert red_flags(text)


def test_postprocess_only_for_medical_profiles():
    profiles = load_profiles(KnowledgeSettings().profiles_dir)
    assert postprocess_answer("Ships in 2 days [1].", profiles["ecommerce"], question="shipping?", has_knowledge=True) \
        == "Ships in 2 days [1]."
    out = postprocess_answer("HbA1c shows average sugar [1].", profiles["medical"], question="what is HbA1c",
                             has_knowledge=True)
    assert out.startswith("HbA1c shows") and "not medical advice" in out and not red_flags(out.split("\n")[0])
