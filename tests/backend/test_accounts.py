"""Accounts on a real SQLite file: hashing, logins, API keys, revocation, expiry, disabling, first admin."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from backend.accounts import AccountError, Accounts
from backend.db import Database
from backend.db.models import User
from support import ADMIN_PASSWORD


@pytest.fixture
def accounts(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    db.upgrade()
    yield Accounts(db, session_ttl=timedelta(hours=1))
    db.close()


def test_passwords_are_hashed_with_argon2(accounts):
    accounts.create_user("mia", "correct horse", "agent")
    with accounts.db.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "mia"))
    assert stored.startswith("$argon2") and "correct horse" not in stored


def test_login_issues_a_token_that_resolves_to_the_user(accounts):
    accounts.create_user("mia", "correct horse", "agent")
    issued, user = accounts.login("mia", "correct horse")
    principal = accounts.resolve(issued.secret)
    assert principal.username == "mia" and principal.role == "agent" and principal.token_kind == "session"
    assert not principal.has("admin")
    with pytest.raises(AccountError, match="wrong username or password") as err:
        accounts.login("mia", "wrong")
    assert err.value.status == 401
    with pytest.raises(AccountError, match="wrong username or password"):
        accounts.login("nobody", "whatever1")


def test_only_token_hashes_are_stored(accounts):
    accounts.create_user("mia", "correct horse", "agent")
    issued = accounts.create_api_key("mia", "ci")
    with accounts.db.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM tokens"))
    assert issued.secret not in dump
    assert issued.secret[:10] in dump  # the display prefix only


def test_revoked_expired_and_disabled_tokens_stop_working(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    db.upgrade()
    short = Accounts(db, session_ttl=timedelta(seconds=1))
    short.create_user("mia", "correct horse", "agent")
    session, _ = short.login("mia", "correct horse")
    key = short.create_api_key("mia", "ci")
    assert short.resolve(session.secret) and short.resolve(key.secret)
    time.sleep(1.2)
    assert short.resolve(session.secret) is None, "session should have expired"
    assert short.resolve(key.secret) is not None, "API keys do not expire"
    short.revoke(key.token_id, "api_key")
    assert short.resolve(key.secret) is None
    session2, _ = short.login("mia", "correct horse")
    short.update_user("mia", disabled=True)
    assert short.resolve(session2.secret) is None
    with pytest.raises(AccountError, match="disabled") as err:
        short.login("mia", "correct horse")
    assert err.value.status == 403


def test_password_reset_ends_open_logins(accounts):
    accounts.create_user("mia", "correct horse", "agent")
    session, _ = accounts.login("mia", "correct horse")
    accounts.update_user("mia", password="battery staple")
    assert accounts.resolve(session.secret) is None
    assert accounts.login("mia", "battery staple")


@pytest.mark.parametrize("args, message", [
    (("", "longenough", "agent"), "username must not be empty"),
    (("mia", "short", "agent"), "at least 8 characters"),
    (("mia", "longenough", "boss"), "role must be one of"),
])
def test_bad_accounts_are_refused(accounts, args, message):
    with pytest.raises(AccountError, match=message):
        accounts.create_user(*args)


def test_duplicate_user_is_a_conflict(accounts):
    accounts.create_user("mia", "correct horse", "agent")
    with pytest.raises(AccountError, match="already exists") as err:
        accounts.create_user("mia", "another one", "admin")
    assert err.value.status == 409


def test_first_admin_is_created_once(accounts):
    generated = accounts.ensure_admin("root", "")
    assert generated and len(generated) >= 12
    assert accounts.login("root", generated)[1].role == "admin"
    assert accounts.ensure_admin("root", "other-password") is None  # not an empty database any more


def test_admin_manages_users_and_keys_over_http(backend):
    admin = backend.admin_headers
    created = httpx.post(f"{backend.url}/v1/users", headers=admin, timeout=30,
                         json={"username": "lee", "password": "lee-password", "role": "agent"})
    assert created.status_code == 201 and created.json()["role"] == "agent"
    dup = httpx.post(f"{backend.url}/v1/users", headers=admin, timeout=30,
                     json={"username": "lee", "password": "lee-password", "role": "agent"})
    assert dup.status_code == 409
    login = httpx.post(f"{backend.url}/v1/auth/login", json={"username": "lee", "password": "lee-password"}, timeout=30)
    lee = {"Authorization": f"Bearer {login.json()['token']}"}
    assert httpx.get(f"{backend.url}/v1/auth/me", headers=lee, timeout=30).json()["username"] == "lee"

    key = httpx.post(f"{backend.url}/v1/api-keys", headers=admin, json={"name": "etl", "username": "lee"}, timeout=30)
    assert key.status_code == 201
    secret, key_id = key.json()["key"], key.json()["id"]
    listed = httpx.get(f"{backend.url}/v1/api-keys", headers=admin, timeout=30).json()
    assert any(k["id"] == key_id and "key" not in k for k in listed)
    service = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{backend.url}/v1/models", headers=service, timeout=30).status_code == 200
    assert httpx.post(f"{backend.url}/v1/auth/logout", headers=service, timeout=30).status_code == 400
    assert httpx.delete(f"{backend.url}/v1/api-keys/{key_id}", headers=admin, timeout=30).status_code == 204
    assert httpx.get(f"{backend.url}/v1/models", headers=service, timeout=30).status_code == 401

    assert httpx.post(f"{backend.url}/v1/auth/logout", headers=lee, timeout=30).status_code == 204
    assert httpx.get(f"{backend.url}/v1/auth/me", headers=lee, timeout=30).status_code == 401
    disabled = httpx.patch(f"{backend.url}/v1/users/lee", headers=admin, json={"disabled": True}, timeout=30)
    assert disabled.json()["disabled"] is True
    refused = httpx.post(f"{backend.url}/v1/auth/login", json={"username": "lee", "password": "lee-password"},
                         timeout=30)
    assert refused.status_code == 403


def test_wrong_password_over_http(backend):
    resp = httpx.post(f"{backend.url}/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD + "x"},
                      timeout=30)
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "wrong username or password"


def test_api_key_rotation_with_and_without_grace(accounts):
    accounts.create_user("svc", "correct horse", "agent")
    first = accounts.create_api_key("svc", "eval-runner")
    second = accounts.rotate_api_key(first.token_id)  # no grace: the old key stops now
    assert accounts.resolve(first.secret) is None
    assert accounts.resolve(second.secret).username == "svc"
    third = accounts.rotate_api_key(second.token_id, grace=timedelta(seconds=1))
    assert accounts.resolve(second.secret) is not None  # still works during the grace period
    assert accounts.resolve(third.secret).username == "svc"
    time.sleep(1.1)
    assert accounts.resolve(second.secret) is None
    names = {t.id: t.name for t, _ in accounts.list_api_keys()}
    assert names[third.token_id] == "eval-runner"  # same purpose, new secret
    with pytest.raises(AccountError, match="already revoked or expired") as gone:
        accounts.rotate_api_key(first.token_id)
    assert gone.value.status == 409
    with pytest.raises(AccountError, match="no api_key"):
        accounts.rotate_api_key(9999)


def test_api_key_rotation_over_http(backend):
    created = httpx.post(f"{backend.url}/v1/api-keys", headers=backend.admin_headers, timeout=30,
                         json={"name": "rotate-me", "username": "agent"}).json()
    rotated = httpx.post(f"{backend.url}/v1/api-keys/{created['id']}/rotate", headers=backend.admin_headers,
                         json={"grace_minutes": 0}, timeout=30)
    assert rotated.status_code == 201 and rotated.json()["name"] == "rotate-me"
    new_key = rotated.json()["key"]
    assert httpx.get(f"{backend.url}/v1/auth/me", headers={"Authorization": f"Bearer {created['key']}"},
                     timeout=30).status_code == 401
    assert httpx.get(f"{backend.url}/v1/auth/me", headers={"Authorization": f"Bearer {new_key}"},
                     timeout=30).json()["username"] == "agent"
    agents = httpx.post(f"{backend.url}/v1/api-keys/{rotated.json()['id']}/rotate", headers=backend.headers,
                        timeout=30)
    assert agents.status_code == 403
