"""Login lockout per account and failed-login throttling per client address, on SQLite and over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

from backend.accounts import AccountError, Accounts
from backend.db import Database
from support import start_backend, stop_backend


@pytest.fixture
def accounts(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    db.upgrade()
    yield Accounts(db, max_failed_logins=3, lockout=timedelta(seconds=2))
    db.close()


def test_wrong_passwords_in_a_row_lock_the_account_until_the_lockout_ends(accounts):
    accounts.create_user("mia", "correct horse", "agent")
    for _ in range(2):
        with pytest.raises(AccountError, match="wrong username or password"):
            accounts.login("mia", "guess")
    accounts.login("mia", "correct horse")  # a good login resets the count
    for _ in range(3):
        with pytest.raises(AccountError, match="wrong username or password"):
            accounts.login("mia", "guess")
    with pytest.raises(AccountError, match="locked") as locked:
        accounts.login("mia", "correct horse")  # even the right password waits
    assert locked.value.status == 429 and 0 < locked.value.retry_after <= 2
    time.sleep(2.1)
    issued, _ = accounts.login("mia", "correct horse")
    assert accounts.resolve(issued.secret).username == "mia"


def test_an_admin_password_reset_unlocks_and_unknown_users_lock_nothing(accounts):
    accounts.create_user("leo", "correct horse", "agent")
    for _ in range(3):
        with pytest.raises(AccountError):
            accounts.login("leo", "guess")
    with pytest.raises(AccountError, match="locked"):
        accounts.login("leo", "correct horse")
    accounts.update_user("leo", password="new correct horse")
    accounts.login("leo", "new correct horse")
    for _ in range(5):
        with pytest.raises(AccountError, match="wrong username or password"):
            accounts.login("nobody", "guess")


def test_lockout_can_be_turned_off(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    db.upgrade()
    accounts = Accounts(db, max_failed_logins=0)
    accounts.create_user("ann", "correct horse", "agent")
    for _ in range(10):
        with pytest.raises(AccountError, match="wrong username"):
            accounts.login("ann", "guess")
    accounts.login("ann", "correct horse")
    db.close()


@pytest.fixture(scope="module")
def strict(tmp_path_factory, tiny_llava):
    tmp = tmp_path_factory.mktemp("login-limits")
    server = start_backend(tmp, {"VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_AUTH__MAX_FAILED_LOGINS": "2",
                                 "VISIONDESK_AUTH__LOCKOUT_MINUTES": "5", "VISIONDESK_AUTH__LOGIN_FAILURES_PER_IP": "6"})
    yield server
    stop_backend(server)


def login(server, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/auth/login", json={"username": username, "password": password}, timeout=30)


def test_over_http_a_locked_account_gets_429_with_retry_after_and_the_address_is_throttled(strict):
    httpx.post(f"{strict.url}/v1/users", headers=strict.admin_headers, timeout=30,
               json={"username": "zoe", "password": "zoe-password", "role": "agent"}).raise_for_status()
    assert login(strict, "zoe", "guess").status_code == 401
    assert login(strict, "zoe", "guess").status_code == 401
    locked = login(strict, "zoe", "zoe-password")
    assert locked.status_code == 429
    assert locked.json()["error"]["type"] == "rate_limit_error"
    assert "locked" in locked.json()["error"]["message"]
    assert 1 <= int(locked.headers["retry-after"]) <= 300
    # an admin resets the password: unlocked at once
    httpx.patch(f"{strict.url}/v1/users/zoe", headers=strict.admin_headers, timeout=30,
                json={"password": "zoe-password-2"}).raise_for_status()
    assert login(strict, "zoe", "zoe-password-2").status_code == 200

    # Spraying wrong passwords over many (unknown) accounts from one address: 6 failures, then the address waits.
    statuses = [login(strict, f"user{i}", "guess").status_code for i in range(4)]
    assert statuses == [401] * 4  # 2 earlier failures + 4 = 6
    throttled = login(strict, "zoe", "zoe-password-2")
    assert throttled.status_code == 429 and "too many failed logins" in throttled.json()["error"]["message"]
    assert int(throttled.headers["retry-after"]) >= 1
