"""Domain profiles: one YAML file per domain (prompt, style, safety, retrieval settings, quick actions)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class RetrievalProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(5, ge=1, le=50, description="Chunks put into the prompt.")
    score_threshold: float | None = Field(None, description="Minimum dense similarity; empty: the knowledge setting.")
    tags: list[str] = Field(default_factory=list, description="Only documents with one of these tags.")
    use_glossary: bool = Field(False, description="Expand queries with the medical glossary.")


class SafetyProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    medical: bool = Field(False, description="Apply the medical rules: disclaimer, red flags, no improvising.")
    disclaimer_en: str = ""
    disclaimer_zh: str = ""
    no_knowledge_en: str = "I could not find this in the knowledge base."
    no_knowledge_zh: str = "知识库中没有找到相关信息。"
    treatment_reply_en: str = Field(
        "", description="With `medical`: the fixed reply to a request for a dose, a change of medicine or a diagnosis "
                        "(knowledge.safety.treatment_request); the model is not asked. Empty: the model answers.")
    treatment_reply_zh: str = ""


class QuickAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    label: str
    prompt: str


class DomainProfile(BaseModel):
    """Everything domain-specific about answering; adding a domain is adding a YAML file."""

    model_config = ConfigDict(extra="forbid")

    domain: str
    title: str
    language: str = "auto"
    system_prompt: str
    answer_style: str = ""
    safety_policy: str = ""
    retrieval: RetrievalProfile = Field(default_factory=RetrievalProfile)
    default_adapter: str | None = None
    safety: SafetyProfile = Field(default_factory=SafetyProfile)
    quick_actions: list[QuickAction] = Field(default_factory=list)


def load_profiles(directory: Path) -> dict[str, DomainProfile]:
    """Every `*.yaml` in `directory`, keyed by domain; a malformed file fails with its name."""
    out: dict[str, DomainProfile] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            profile = DomainProfile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except Exception as exc:
            raise ValueError(f"profile {path}: {exc}") from exc
        out[profile.domain] = profile
    return out
