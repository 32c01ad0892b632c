"""Progress lines on the terminal and the JSON files the drills leave behind."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class Progress:
    """`[drill  12s] message` lines on stderr, flushed at once (drills run for minutes)."""

    def __init__(self, name: str, stream=None):
        self.name, self.stream, self.started = name, stream or sys.stderr, time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{self.name} {time.monotonic() - self.started:5.0f}s] {message}", file=self.stream, flush=True)


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    return path
