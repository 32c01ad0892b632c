"""`python -m apps.admin`: start the admin console (wraps `streamlit run apps/admin/app.py`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from backend.settings import CONFIG_ENV, SettingsError, load_settings

APP = Path(__file__).with_name("app.py")
ROOT = Path(__file__).resolve().parents[2]


def command(port: int, address: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address",
            address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer"]  # no "Deploy" button: this is an operator's own service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.admin",
        description="Start the VisionDesk admin console (Streamlit). Log in with an admin account.",
        epilog="examples:\n  python -m apps.admin\n  python -m apps.admin --config config/visiondesk.yaml --port 8702\n"
               "  VISIONDESK_APPS__BACKEND_URL=http://10.0.0.5:8700 python -m apps.admin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML settings file (default: $VISIONDESK_CONFIG_FILE, else none)")
    parser.add_argument("--port", type=int, help="port to listen on (default: apps.admin_port)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    if args.config:
        env[CONFIG_ENV] = str(Path(args.config).resolve())  # the app reads the same settings
    port = args.port if args.port is not None else settings.apps.admin_port
    print(f"[visiondesk] admin console on http://{args.address}:{port} (backend {settings.backend_url})", flush=True)
    # Become the Streamlit server (exec, not a child): the launcher's SIGTERM and Ctrl-C reach it directly.
    os.chdir(ROOT)
    os.execve(sys.executable, command(port, args.address), env)


if __name__ == "__main__":
    sys.exit(main())
