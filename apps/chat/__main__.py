"""`python -m apps.chat`: start the agents' chat app against a running backend."""

from __future__ import annotations

import argparse
import os
import sys

from backend.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.chat",
        description="Start the VisionDesk chat app (Gradio) for customer-service agents. Settings come from the "
                    "same configuration as the backend (apps.* in docs/configuration.md); options here override it.",
        epilog="examples:\n"
               "  python -m apps.chat --backend-url http://127.0.0.1:8700\n"
               "  python -m apps.chat --config config/visiondesk.yaml --port 8701 --host 0.0.0.0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML settings file (default: $VISIONDESK_CONFIG_FILE, else none)")
    parser.add_argument("--backend-url", help="backend base URL (default: apps.backend_url, else from server.*)")
    parser.add_argument("--host", help="interface to listen on (default: apps.chat_host)")
    parser.add_argument("--port", type=int, help="port to listen on (default: apps.chat_port)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.backend_url and not args.backend_url.startswith(("http://", "https://")):
        print(f"error: --backend-url must start with http:// or https:// (got {args.backend_url!r})",
              file=sys.stderr)
        return 2
    if args.port is not None and not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535 (got {args.port})", file=sys.stderr)
        return 2

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from apps.chat.config import ChatConfig
    from apps.chat.ui import build_app

    config = ChatConfig.from_settings(settings, backend_url=args.backend_url, host=args.host, port=args.port)
    app = build_app(config)
    print(f"[chat] backend {config.backend_url}; serving on http://{config.host}:{config.port}", flush=True)
    # Worker threads: one per concurrent stream, plus headroom for uploads and quick calls.
    app.launch(server_name=config.host, server_port=config.port, max_threads=config.concurrency + 16,
               show_error=False, quiet=True, footer_links=[])
    return 0


if __name__ == "__main__":
    sys.exit(main())
