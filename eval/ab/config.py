"""The A/B run's configuration: a flat dataclass the TRL parser fills from YAML + flags, validated into `ABConfig`.

TrlParser (as in finetune/sft.py) makes every YAML key a default that a `--flag` overrides. Nested values
(`variants`, `judge`, `backend_settings`) are YAML structures in the file and JSON strings on the command line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(ValueError):
    """The A/B configuration is invalid; the message names each bad field."""


@dataclass
class ABArguments:
    """What `python -m eval.ab` reads; every field can sit in the YAML file or be given as `--field value`."""

    eval_set: list[str] = field(default_factory=list, metadata={
        "help": "Eval set JSONL file(s), e.g. eval/data/ab/ecommerce.jsonl eval/data/ab/medical.jsonl"})
    output_dir: str = field(default="", metadata={"help": "Folder for samples.jsonl, summary.json, report.md/html"})
    variants: str | None = field(default=None, metadata={
        "help": "The variants, baseline first: a YAML list in the config file, a JSON list on the command line"})
    judge: str | None = field(default=None, metadata={
        "help": "LLM judge: a YAML mapping (a variant spec plus pairwise/grading), JSON on the command line"})
    backend_settings: str | None = field(default=None, metadata={
        "help": "Backend settings shared by in-process variants (mapping as in config/visiondesk.example.yaml)"})
    backend_config: str | None = field(default=None, metadata={
        "help": "Backend YAML settings file for in-process variants (backend_settings and variant settings win)"})
    backend_url: str | None = field(default=None, metadata={
        "help": "Run against this running backend instead of in-process, e.g. http://127.0.0.1:8700"})
    api_key_env: str = field(default="EVAL_API_KEY", metadata={
        "help": "Environment variable holding the agent API key for backend_url"})
    seed: int = field(default=0, metadata={"help": "Seed for sampling, sample order and bootstrap"})
    max_samples: int | None = field(default=None, metadata={"help": "Use only the first N rows (after filters)"})
    domains: list[str] = field(default_factory=list, metadata={"help": "Keep only rows of these domains"})
    tags: list[str] = field(default_factory=list, metadata={"help": "Keep only rows carrying any of these tags"})
    concurrency: int = field(default=4, metadata={"help": "Requests in flight at once (the engine batches them)"})
    bootstrap_samples: int = field(default=2000, metadata={"help": "Paired bootstrap resamples per metric"})
    confidence: float = field(default=0.95, metadata={"help": "Confidence level of the intervals"})
    recall_k: list[int] = field(default_factory=lambda: [1, 5], metadata={"help": "k values of retrieval recall@k"})
    max_examples: int = field(default=12, metadata={"help": "Side-by-side disagreement examples in the report"})
    retry_errors: bool = field(default=True, metadata={"help": "On a rerun, retry samples that errored before"})
    request_timeout_s: float = field(default=300.0, metadata={"help": "Seconds to wait for one answer"})
    ready_timeout_s: float = field(default=600.0, metadata={"help": "Seconds to wait for an in-process backend"})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar on stderr"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSpec(_Strict):
    """One pipeline: engine + model (backend settings), adapter, prompt, retrieval settings, sampling."""

    name: str = Field(pattern=NAME_PATTERN, description="Short name used in the report, e.g. `A`, `lora-v2`.")
    description: str = ""
    settings: dict[str, Any] = Field(default_factory=dict, description="Backend settings overrides (in-process).")
    model: str | None = Field(None, description="Request `model`: a LoRA adapter name; empty: the base model.")
    domain: str | None = Field(None, description="Domain profile; empty: the eval row's own domain.")
    retrieval: bool = True
    top_k: int | None = Field(None, ge=1, le=50)
    system_prompt: str | None = Field(None, description="Extra system message (added to the profile's prompt).")
    max_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0, le=2)

    def fingerprint(self) -> str:
        """What decides an answer: a changed spec means cached samples of this variant no longer count."""
        data = self.model_dump(exclude={"description"})
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


class JudgeSpec(VariantSpec):
    """The LLM judge: any engine the variants could use, asked without retrieval."""

    name: str = Field("judge", pattern=NAME_PATTERN)
    retrieval: bool = False
    max_tokens: int = Field(16, ge=1)
    pairwise: bool = Field(True, description="Compare each variant with the baseline, both orders.")
    grading: bool = Field(True, description="Grade every answer alone on a 1-10 scale.")


class ABConfig(_Strict):
    """The validated run configuration; written to the output folder as `config.resolved.json`."""

    eval_set: list[Path] = Field(min_length=1)
    output_dir: Path
    variants: list[VariantSpec] = Field(min_length=2)
    judge: JudgeSpec | None = None
    backend_settings: dict[str, Any] = Field(default_factory=dict)
    backend_config: Path | None = None
    backend_url: str | None = None
    api_key_env: str = "EVAL_API_KEY"
    seed: int = 0
    max_samples: int | None = Field(None, ge=1)
    domains: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    concurrency: int = Field(4, ge=1, le=256)
    bootstrap_samples: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    recall_k: list[int] = Field(default_factory=lambda: [1, 5], min_length=1)
    max_examples: int = Field(12, ge=0)
    retry_errors: bool = True
    request_timeout_s: float = Field(300.0, gt=0)
    ready_timeout_s: float = Field(600.0, gt=0)
    progress: bool = True

    @field_validator("eval_set")
    @classmethod
    def _files_exist(cls, paths: list[Path]) -> list[Path]:
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ValueError(f"eval set file(s) not found: {', '.join(missing)}")
        return paths

    @field_validator("recall_k")
    @classmethod
    def _positive_k(cls, ks: list[int]) -> list[int]:
        if any(k < 1 for k in ks):
            raise ValueError("every k must be at least 1")
        return sorted(set(ks))

    @model_validator(mode="after")
    def _consistent(self) -> ABConfig:
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(dupes)}")
        if self.judge is not None and self.judge.name in names:
            raise ValueError(f"the judge's name {self.judge.name!r} is also a variant's name")
        if self.backend_url:
            with_settings = [v.name for v in [*self.variants, *([self.judge] if self.judge else [])] if v.settings]
            if with_settings or self.backend_settings or self.backend_config:
                raise ValueError("backend settings cannot apply to a running backend (backend_url); remove them "
                                 f"or run in-process (variants with settings: {', '.join(with_settings) or 'none'})")
        return self

    @property
    def baseline(self) -> VariantSpec:
        return self.variants[0]


def _structured(value: Any, name: str) -> Any:
    """YAML gives lists/mappings directly; the command line gives JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: not valid JSON ({exc.msg} at character {exc.pos}): {value[:80]!r}") from None
    return value


def resolve(args: ABArguments) -> ABConfig:
    """Validate the parsed arguments; every problem is reported with its field name."""
    if not args.output_dir:
        raise ConfigError("output_dir: required (where the reports go)")
    if args.variants is None:
        raise ConfigError("variants: required (at least two, the baseline first)")
    data = {name: getattr(args, name) for name in ABArguments.__dataclass_fields__}
    for name in ("variants", "judge", "backend_settings"):
        data[name] = _structured(data[name], name)
    if data["backend_settings"] is None:
        data["backend_settings"] = {}
    try:
        return ABConfig(**data)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    lines = ["invalid A/B configuration:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown field")
        else:
            lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})"[:400])
    return "\n".join(lines)
