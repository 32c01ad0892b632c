"""Constants and small helpers shared by the chat app tests (imported as `chat_testing`)."""

from __future__ import annotations

from support import ROOT

LABEL = ROOT / "knowledge" / "seeds" / "ecommerce" / "images" / "label_nw-kt-101.png"
ARTIFACTS = ROOT / "test-artifacts" / "chat"
AGENT = ("agent", "agent-password")
# Short answers keep the suite fast; the tiny model's text is gibberish whatever its length.
APP_ENV = {"VISIONDESK_APPS__CHAT_MAX_TOKENS": "8", "VISIONDESK_APPS__CHAT_TIMEOUT_S": "120"}
