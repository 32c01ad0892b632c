"""`python -m backend db …` and `users …`: the operator's recovery commands, run as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys

from backend.accounts import Accounts
from backend.db import Database
from support import ROOT


def run(tmp_path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    env["VISIONDESK_DATA_DIR"] = str(tmp_path)
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_db_upgrade_and_current(tmp_path):
    assert "revision None" in run(tmp_path, "db", "current").stdout
    assert "revision 0004" in run(tmp_path, "db", "upgrade").stdout


def test_users_add_reset_and_list(tmp_path):
    assert run(tmp_path, "users", "add", "lee", "--role", "admin", "--password-stdin", stdin="first-password\n")\
        .returncode == 0
    accounts = Accounts(Database(f"sqlite:///{tmp_path / 'visiondesk.db'}"))
    session, user = accounts.login("lee", "first-password")
    assert user.role == "admin"
    reset = run(tmp_path, "users", "reset-password", "lee", "--password-stdin", stdin="second-password\n")
    assert reset.returncode == 0 and "logins ended" in reset.stdout
    assert accounts.resolve(session.secret) is None
    assert accounts.login("lee", "second-password")
    assert "lee\tadmin\tactive" in run(tmp_path, "users", "list").stdout


def test_users_errors_are_clear(tmp_path):
    short = run(tmp_path, "users", "add", "bob", "--password-stdin", stdin="x\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    missing = run(tmp_path, "users", "reset-password", "ghost", "--password-stdin", stdin="long-enough\n")
    assert missing.returncode == 1 and "no user 'ghost'" in missing.stderr
    no_stdin = run(tmp_path, "users", "add", "bob")
    assert no_stdin.returncode == 2 and "--password-stdin" in no_stdin.stderr
