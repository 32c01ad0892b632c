"""What one browser session remembers: its login token, language, domain and the conversation in progress."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Session:
    """Lives in a `gr.State`, so every agent's tab has its own; the token is never shared or global."""

    lang: str = "en"
    token: str | None = None
    username: str | None = None
    domains: list[dict] = field(default_factory=list)  # DomainCard dumps, for the quick actions
    domain: str | None = None
    conversation_id: str | None = None
    # Earlier turns as plain-text API messages: images go only with the turn that brought them, so the
    # per-request image limit holds however long the conversation gets (their OCR text is in the answers).
    turns: list[dict] = field(default_factory=list)
    last_question: str = ""
    last_images: list[str] = field(default_factory=list)
    last_request_id: str | None = None
    answered: bool = False  # whether last_question got a whole answer (regenerate then replaces it)
    pending_index: int = -1  # chatbot index of last_question's message
    request_ids: dict[int, str] = field(default_factory=dict)  # chatbot message index -> answer's request id

    def quick_actions(self) -> list[dict]:
        card = next((d for d in self.domains if d["domain"] == self.domain), None)
        return card["quick_actions"] if card else []

    def new_conversation(self) -> None:
        self.conversation_id = None
        self.turns = []
        self.last_question, self.last_images, self.last_request_id = "", [], None
        self.answered, self.pending_index = False, -1
        self.request_ids = {}

    def logged_out(self) -> Session:
        return Session(lang=self.lang)
