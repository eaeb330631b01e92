"""Accounts and API tokens in steward.db (SQLite): users with a role, tokens stored as salted hashes only.

A token reads `vt_<id>_<secret>`: the short public id finds its row, the secret (secrets.token_urlsafe(32),
256 random bits) is checked against a per-token salted PBKDF2-SHA256 hash with hmac.compare_digest. The raw
token is shown once, when issued, and never stored. Expiry and last use are measured by an injectable clock,
so tests pin time.

    vetted users add dana --role steward
    vetted tokens issue dana --expires-days 90     # the token alone on the last line, once
    vetted tokens revoke <id>
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from curation.steward import connect

TOKEN_PREFIX = "vt"
# The secret has 256 random bits, so stretching buys nothing against guessing; the iterations only make a
# stolen database slower to test against. Each request pays them once: ~1 ms here keeps that cheap.
HASH_ITERATIONS = 1_000
_NAME = re.compile(r"^[\w][\w.@-]{0,63}$")
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_([\w-]{{20,}})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('staff', 'steward', 'admin')),
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    created REAL NOT NULL,
    last_used REAL,
    expires REAL,
    revoked REAL
);
"""


class Role(StrEnum):
    """Each role can do what the ones before it can: staff chat, stewards also decide, admins also manage."""

    STAFF = "staff"
    STEWARD = "steward"
    ADMIN = "admin"

    def allows(self, required: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(required)


class AccountError(ValueError):
    """A bad name, an unknown user or token, a duplicate: the message says which."""


class TokenRejected(PermissionError):
    """The token is malformed, unknown, revoked or expired; `reason` says which (never the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"token {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    created: float


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    user: str
    created: float
    last_used: float | None
    expires: float | None
    revoked: float | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: str
    token: str  # the raw token: print it once, store it nowhere
    expires: float | None


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, HASH_ITERATIONS)


class AccountStore:
    """Users and tokens in `path` (the work folder's steward.db); `clock` gives epoch seconds."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)  # the same connection rules as the steward's tables in this file

    # --- users ------------------------------------------------------------------------------------------

    def add_user(self, name: str, role: Role) -> User:
        if not _NAME.fullmatch(name):
            raise AccountError(
                f"user name {name!r}: 1-64 letters, digits or . @ - _, starting with a letter or digit"
            )
        user = User(name, Role(role), self.clock())
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO users (name, role, created) VALUES (?, ?, ?)",
                    (user.name, user.role.value, user.created),
                )
        except sqlite3.IntegrityError:
            raise AccountError(f"user {name!r} exists already (vetted users list)") from None
        return user

    def ensure_user(self, name: str, role: Role) -> bool:
        """Add the user unless it exists (with whatever role it has); True when this call added it."""
        try:
            self.user(name)
            return False
        except AccountError:
            pass
        try:
            self.add_user(name, role)
        except AccountError:  # another process added it between the look and the insert
            return False
        return True

    def users(self) -> list[User]:
        with self._connect() as db:
            rows = db.execute("SELECT name, role, created FROM users ORDER BY name").fetchall()
        return [User(name, Role(role), created) for name, role, created in rows]

    def user(self, name: str) -> User:
        with self._connect() as db:
            row = db.execute("SELECT name, role, created FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise AccountError(f"no user {name!r} (vetted users add {name} --role staff|steward|admin)")
        return User(row[0], Role(row[1]), row[2])

    # --- tokens -----------------------------------------------------------------------------------------

    def issue(self, name: str, *, expires_days: float | None = None) -> IssuedToken:
        if expires_days is not None and expires_days <= 0:
            raise AccountError(f"--expires-days must be above 0, got {expires_days}")
        self.user(name)  # a clear error for an unknown user
        token_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        now = self.clock()
        expires = now + expires_days * 86400 if expires_days is not None else None
        with self._connect() as db:
            db.execute(
                "INSERT INTO tokens (id, user_id, salt, hash, created, expires) "
                "SELECT ?, id, ?, ?, ?, ? FROM users WHERE name = ?",
                (token_id, salt, _hash(secret, salt), now, expires, name),
            )
        return IssuedToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", expires)

    def revoke(self, token_id: str) -> TokenInfo:
        with self._connect() as db:
            changed = db.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (self.clock(), token_id)
            ).rowcount
        info = self.token(token_id)
        if not changed:
            raise AccountError(f"token {token_id} was revoked already")
        return info

    def token(self, token_id: str) -> TokenInfo:
        found = [t for t in self.tokens() if t.id == token_id]
        if not found:
            raise AccountError(f"no token {token_id!r} (vetted tokens list)")
        return found[0]

    def tokens(self) -> list[TokenInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT t.id, u.name, t.created, t.last_used, t.expires, t.revoked "
                "FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created, t.id"
            ).fetchall()
        return [TokenInfo(*row) for row in rows]

    @staticmethod
    def token_id(token: str) -> str:
        """The public id of a well-formed token (its prefix); TokenRejected("malformed") otherwise."""
        match = _TOKEN.fullmatch(token.strip())
        if match is None:
            raise TokenRejected("malformed")
        return match.group(1)

    def authenticate(self, token: str) -> User:
        """The token's user, its last use stamped; TokenRejected when it is not good now."""
        match = _TOKEN.fullmatch(token.strip())
        if match is None:
            raise TokenRejected("malformed")
        token_id, secret = match.groups()
        with self._connect() as db:
            row = db.execute(
                "SELECT t.salt, t.hash, t.expires, t.revoked, u.name, u.role, u.created "
                "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
                (token_id,),
            ).fetchone()
            salt, digest, expires, revoked = row[:4] if row else (b"", b"", None, None)
            if not hmac.compare_digest(_hash(secret, salt), digest) or row is None:  # hash even when unknown
                raise TokenRejected("unknown")
            now = self.clock()
            if revoked is not None:
                raise TokenRejected("revoked")
            if expires is not None and now >= expires:
                raise TokenRejected("expired")
            db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, token_id))
        return User(row[4], Role(row[5]), row[6])
