"""Users, roles and bearer tokens (app logins and API keys), stored in the app database.

Roles are ordered: an admin may do everything an agent may. Tokens are random secrets shown once;
only their SHA-256 is stored, so a leaked database does not leak credentials.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from backend.db import Database
from backend.db.models import Token, User

ROLES = ("agent", "admin")
_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; `status` is the HTTP status to use."""

    def __init__(self, message: str, status: int = 400, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who is calling, resolved from a bearer token."""

    user_id: int
    username: str
    role: str
    token_id: int
    token_kind: str

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class IssuedToken:
    secret: str
    token_id: int
    expires_at: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class Accounts:
    def __init__(self, db: Database, session_ttl: timedelta = timedelta(hours=12), *, max_failed_logins: int = 5,
                 lockout: timedelta = timedelta(minutes=15)):
        self.db = db
        self.session_ttl = session_ttl
        self.max_failed_logins = max_failed_logins
        self.lockout = lockout

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str) -> User:
        username = username.strip()
        if not username:
            raise AccountError("username must not be empty")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if len(password) < 8:
            raise AccountError("password must have at least 8 characters")
        with self.db.session() as s:
            if s.scalar(select(User).where(User.username == username)):
                raise AccountError(f"user {username!r} already exists", status=409)
            user = User(username=username, password_hash=_hasher.hash(password), role=role)
            s.add(user)
            s.flush()
            return user

    def update_user(self, username: str, *, role: str | None = None, disabled: bool | None = None,
                    password: str | None = None) -> User:
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise AccountError(f"no user {username!r}", status=404)
            if role is not None:
                if role not in ROLES:
                    raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
                user.role = role
            if password is not None:
                if len(password) < 8:
                    raise AccountError("password must have at least 8 characters")
                user.password_hash = _hasher.hash(password)
            if disabled is not None:
                user.disabled = disabled
            if password is not None or disabled is False:
                user.failed_logins, user.locked_until = 0, None  # an admin's reset also unlocks
            if disabled or password is not None:
                # A disabled account or a reset password ends every open login.
                for token in s.scalars(select(Token).where(Token.user_id == user.id, Token.kind == "session")):
                    token.revoked = True
            return user

    def list_users(self) -> list[User]:
        with self.db.session() as s:
            return list(s.scalars(select(User).order_by(User.username)))

    def ensure_admin(self, username: str, password: str) -> str | None:
        """On an empty database create the first admin; returns a generated one-time password if none was given."""
        with self.db.session() as s:
            if s.scalar(select(User.id).limit(1)) is not None:
                return None
        generated = None if password else secrets.token_urlsafe(12)
        self.create_user(username, password or generated, "admin")
        return generated

    # -- tokens ------------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> tuple[IssuedToken, User]:
        now = datetime.now(UTC)
        refusal: AccountError | None = None
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            locked = _aware(user.locked_until) if user is not None else None
            if locked is not None and locked > now:
                # While locked the password is not even checked: guessing on cannot help.
                wait = (locked - now).total_seconds()
                raise AccountError(f"account {username!r} is locked after repeated wrong passwords; try again in "
                                   f"{math.ceil(wait / 60)} min or ask an admin to reset the password",
                                   status=429, retry_after=wait)
            ok = False
            if user is not None:
                try:
                    ok = _hasher.verify(user.password_hash, password)
                except (VerificationError, InvalidHashError):
                    ok = False
            if not ok:
                refusal = AccountError("wrong username or password", status=401)
                if user is not None and self.max_failed_logins:
                    user.failed_logins += 1
                    if user.failed_logins >= self.max_failed_logins:
                        user.failed_logins, user.locked_until = 0, now + self.lockout
            elif user.disabled:
                refusal = AccountError(f"account {username!r} is disabled; ask an admin", status=403)
            else:
                user.failed_logins, user.locked_until = 0, None
        if refusal is not None:  # raised after the session committed the failure count
            raise refusal
        return self.issue(user.id, "session", name="login"), user

    def issue(self, user_id: int, kind: str, name: str = "") -> IssuedToken:
        secret = ("vdk_" if kind == "api_key" else "vds_") + secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self.session_ttl if kind == "session" else None
        with self.db.session() as s:
            token = Token(user_id=user_id, kind=kind, name=name, token_hash=_digest(secret), prefix=secret[:10],
                          expires_at=expires)
            s.add(token)
            s.flush()
            return IssuedToken(secret, token.id, expires)

    def create_api_key(self, username: str, name: str) -> IssuedToken:
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise AccountError(f"no user {username!r}", status=404)
        return self.issue(user.id, "api_key", name=name)

    def rotate_api_key(self, token_id: int, grace: timedelta = timedelta(0)) -> IssuedToken:
        """A new key for the same account and purpose; the old one stops working after `grace` (at once if 0),
        so services can switch over without an outage."""
        if grace < timedelta(0):
            raise AccountError("the grace period cannot be negative")
        with self.db.session() as s:
            old = s.get(Token, token_id)
            if old is None or old.kind != "api_key":
                raise AccountError(f"no api_key with id {token_id}", status=404)
            expires = _aware(old.expires_at)
            if old.revoked or (expires is not None and expires <= datetime.now(UTC)):
                raise AccountError(f"api_key {token_id} is already revoked or expired; create a new key instead",
                                   status=409)
            if grace:
                old.expires_at = datetime.now(UTC) + grace
            else:
                old.revoked = True
            user_id, name = old.user_id, old.name
        return self.issue(user_id, "api_key", name=name)

    def list_api_keys(self) -> list[tuple[Token, str]]:
        with self.db.session() as s:
            rows = s.execute(select(Token, User.username).join(User, Token.user_id == User.id)
                             .where(Token.kind == "api_key").order_by(Token.id))
            return [(token, username) for token, username in rows]

    def revoke(self, token_id: int, kind: str | None = None) -> None:
        with self.db.session() as s:
            token = s.get(Token, token_id)
            if token is None or (kind is not None and token.kind != kind):
                raise AccountError(f"no {kind or 'token'} with id {token_id}", status=404)
            token.revoked = True

    def resolve(self, secret: str) -> Principal | None:
        """The principal behind a bearer secret, or None if unknown, revoked, expired or disabled."""
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.execute(select(Token, User).join(User, Token.user_id == User.id)
                            .where(Token.token_hash == _digest(secret))).first()
            if row is None:
                return None
            token, user = row
            expires = _aware(token.expires_at)
            if token.revoked or user.disabled or (expires is not None and expires <= now):
                return None
            last = _aware(token.last_used_at)
            if last is None or now - last > timedelta(minutes=1):  # bounded write rate under load
                token.last_used_at = now
            return Principal(user.id, user.username, user.role, token.id, token.kind)
