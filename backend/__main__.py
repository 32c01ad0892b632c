"""`python -m backend`: run the backend service or inspect its configuration."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from backend.settings import SettingsError, load_settings

EXAMPLES = """examples:
  python -m backend serve                                   # embedded default model on 127.0.0.1:8700
  python -m backend serve --config config/visiondesk.yaml --port 9000
  VISIONDESK_MODEL__ENGINE=openai VISIONDESK_OPENAI__BASE_URL=http://gpu-box:8000/v1 python -m backend serve
  python -m backend config                                  # effective settings, secrets masked
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="VisionDesk backend: OpenAI-compatible multimodal chat service.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML settings file (default: $VISIONDESK_CONFIG_FILE, else none)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the HTTP service", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    config = sub.add_parser("config", help="print the effective settings as JSON, secrets masked")
    config.add_argument("--markdown", action="store_true", help="print the reference of every setting instead")
    args = parser.parse_args(argv)

    overrides: dict = {}
    if args.command == "serve":
        server = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        if server:
            overrides["server"] = server
    try:
        settings = load_settings(args.config, **overrides)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.command == "config" and args.markdown:
        from backend.settings import markdown_reference

        print(markdown_reference())
        return 0
    if args.command == "config":
        print(json.dumps(settings.masked(), indent=2, ensure_ascii=False))
        return 0
    return serve_forever(settings)


def serve_forever(settings) -> int:
    import uvicorn

    from backend.api.app import create_app
    from backend.engines import PLACEHOLDER_NOTICE, is_placeholder, make_engine

    logging.basicConfig(level=settings.server.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if is_placeholder(settings):
        logging.getLogger("backend").warning(PLACEHOLDER_NOTICE)
    app = create_app(settings, make_engine(settings))
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level=settings.server.log_level,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
