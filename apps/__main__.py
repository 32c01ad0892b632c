"""`python -m apps`: start the whole platform locally (what `make run` calls)."""

from __future__ import annotations

import argparse
import sys

from apps.launcher import run
from backend.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps",
        description="Start the VisionDesk backend and apps, print their URLs, stop everything on Ctrl-C.",
        epilog="examples:\n  python -m apps\n  python -m apps --config config/visiondesk.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML settings file (default: $VISIONDESK_CONFIG_FILE, else none)")
    parser.add_argument("--ready-timeout", type=float, default=600, help="seconds to wait for the backend")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run(settings, args.config, ready_timeout=args.ready_timeout)


if __name__ == "__main__":
    sys.exit(main())
