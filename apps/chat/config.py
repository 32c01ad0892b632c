"""The chat app's settings, taken from the one VisionDesk settings object (plus command-line overrides)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.settings import Settings


class ChatConfig(BaseModel):
    """What the chat app needs to know; built by `from_settings` so it shares the backend's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend_url: str = Field(description="Backend base URL, without /v1.")
    host: str = Field("127.0.0.1", description="Interface the app listens on.")
    port: int = Field(8701, ge=0, le=65535, description="Port the app listens on.")
    language: Literal["en", "zh"] = Field("en", description="Starting UI language.")
    concurrency: int = Field(32, ge=1, description="Gradio queue concurrency for chat events.")
    max_tokens: int = Field(0, ge=0, description="Answer length asked of the backend; 0: its default.")
    timeout_s: float = Field(180.0, gt=0, description="Seconds to wait for the backend per request.")
    history_limit: int = Field(50, ge=1, description="Conversations listed in the history panel.")

    @classmethod
    def from_settings(cls, settings: Settings, *, backend_url: str | None = None, host: str | None = None,
                      port: int | None = None) -> ChatConfig:
        apps = settings.apps
        return cls(backend_url=(backend_url or settings.backend_url).rstrip("/"),
                   host=host or apps.chat_host, port=apps.chat_port if port is None else port,
                   language=apps.chat_language, concurrency=apps.chat_concurrency, max_tokens=apps.chat_max_tokens,
                   timeout_s=apps.chat_timeout_s, history_limit=apps.chat_history_limit)
