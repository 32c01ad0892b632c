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
  python -m backend db upgrade                              # migrate the app database (serve does it too)
  echo "$PW" | python -m backend users add lee --role agent --password-stdin
  echo "$PW" | python -m backend users reset-password admin --password-stdin
  python -m backend backup --out /backups/visiondesk-$(date +%F).tar.gz   # safe while the backend runs
  python -m backend restore /backups/visiondesk-2026-11-22.tar.gz --dry-run   # check it, change nothing
  python -m backend restore /backups/visiondesk-2026-11-22.tar.gz --force     # backend stopped; replaces data
  python -m backend reindex                                 # rebuild Chroma's vectors from the knowledge records
  python -m backend purge --older-than-days 90 --dry-run    # what the retention period would delete
  python -m backend purge                                   # delete chat records older than database.retention_days
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
    db = sub.add_parser("db", help="app database: upgrade the schema or show its revision")
    db.add_argument("action", choices=["upgrade", "current"])
    users = sub.add_parser("users", help="create an account or reset a password without the API (recovery)")
    users.add_argument("action", choices=["add", "reset-password", "list"])
    users.add_argument("username", nargs="?")
    users.add_argument("--role", choices=["agent", "admin"], default="agent")
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    backup = sub.add_parser("backup", help="archive the app database and knowledge records (consistent, online)",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    backup.add_argument("--out", help="archive path (default: visiondesk-backup-<UTC time>.tar.gz here)")
    restore = sub.add_parser("restore", help="check an archive, put it in place and rebuild the vectors",
                             epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    restore.add_argument("archive", help="a .tar.gz made by `python -m backend backup`")
    restore.add_argument("--force", action="store_true", help="replace a data dir that already holds data")
    restore.add_argument("--dry-run", action="store_true", help="check the archive and the target only")
    sub.add_parser("reindex", help="rebuild every domain's vectors from the knowledge records (backend stopped)",
                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    purge = sub.add_parser("purge", help="delete conversations, messages, images, feedback and request-log rows "
                                         "older than the retention period", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    purge.add_argument("--older-than-days", type=float,
                       help="retention period in days (default: database.retention_days)")
    purge.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
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
    if args.command == "db":
        return database_command(settings, args.action)
    if args.command == "users":
        return users_command(settings, args)
    if args.command in ("backup", "restore", "reindex"):
        return backup_command(settings, args)
    if args.command == "purge":
        return purge_command(settings, args)
    return serve_forever(settings)


def database_command(settings, action: str) -> int:
    from backend.db import Database

    db = Database(settings.database_url)
    if action == "upgrade":
        db.upgrade()
    print(f"{settings.masked()['database']['url'] or settings.database_url}: revision {db.current_revision()}")
    return 0


def users_command(settings, args) -> int:
    from backend.accounts import AccountError, Accounts
    from backend.db import Database

    db = Database(settings.database_url)
    db.upgrade()
    accounts = Accounts(db)
    if args.action == "list":
        for user in accounts.list_users():
            print(f"{user.username}\t{user.role}\t{'disabled' if user.disabled else 'active'}")
        return 0
    if not args.username:
        print("error: give a username", file=sys.stderr)
        return 2
    if not args.password_stdin:
        print("error: pass the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n")
    try:
        if args.action == "add":
            accounts.create_user(args.username, password, args.role)
            print(f"created {args.role} {args.username}")
        else:
            accounts.update_user(args.username, password=password, disabled=False)
            print(f"password reset for {args.username}; their open logins ended")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def backup_command(settings, args) -> int:
    from backend.backup import BackupError, backup, describe, reindex, restore

    try:
        if args.command == "reindex":
            for domain, chunks in reindex(settings).items():
                print(f"re-indexed {domain}: {chunks} chunks")
            return 0
        if args.command == "backup":
            path, manifest = backup(settings, args.out)
            print(f"wrote {path}\n{describe(manifest)}")
            return 0
        result = restore(settings, args.archive, force=args.force, dry_run=args.dry_run)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(("archive and target check out (nothing changed)" if args.dry_run else f"restored {args.archive}")
          + "\n" + describe(result.manifest))
    for domain, chunks in result.reindexed.items():
        print(f"  re-indexed {domain}: {chunks} chunks")
    return 0


def purge_command(settings, args) -> int:
    from datetime import timedelta

    from backend.db import Database
    from backend.retention import purge

    days = args.older_than_days if args.older_than_days is not None else settings.database.retention_days
    if not days or days <= 0:
        print("error: no retention period: pass --older-than-days N or set database.retention_days", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        db.upgrade()
        print(purge(db, timedelta(days=days), dry_run=args.dry_run).describe())
    finally:
        db.close()
    return 0


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
