"""Who is asking: every endpoint but /healthz (and the static pages) needs a bearer token.

Two kinds of token prove a principal (a name and a role):
- account tokens (`vetted tokens issue NAME`, serving.accounts: salted hashes in steward.db), whose name is
  the account's: the audit log's "who" comes from it, not from a header;
- the one steward token of the time before accounts (settings, VETTED_STEWARD_TOKEN, or the generated
  `<work_dir>/steward.token`), adopted as the admin account "steward" on first start. With it, the name a
  steward gives (header X-Steward-Name) is still what the audit log records, as before.

`Authenticator` is the seam: a bearer-token one now; an OIDC one (a verified ID token's subject and groups
mapped to a role) plugs in behind the same `require(role)` dependency. Each principal's requests are also
rate limited (sliding window per token, 429 with Retry-After).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import unquote

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipelines.core.settings import Settings
from serving.accounts import AccountStore, Role, TokenRejected

log = logging.getLogger(__name__)

TOKEN_ENV = "VETTED_STEWARD_TOKEN"
MIN_TOKEN_CHARS = 16  # a short shared secret is guessable; token_urlsafe(32) gives 43
_NAME_JUNK = re.compile(r"[^\w .@'-]+")

_bearer = HTTPBearer(auto_error=False)


def steward_token(settings: Settings) -> tuple[str, str]:
    """The steward token and where it came from (settings, the environment, or the token file's path)."""
    configured = settings.serving.steward_token
    token, origin = "", ""
    if configured is not None:
        token, origin = configured.get_secret_value().strip(), "serving.steward_token"
    elif os.environ.get(TOKEN_ENV, "").strip():
        token, origin = os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        path = settings.layout.steward_token
        token, origin = _token_file(path), str(path)
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"the steward token from {origin} has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            f"(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token, origin


def _token_file(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not briefly
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


LEGACY_ACCOUNT = "steward"  # the admin account the pre-accounts steward token becomes
LEGACY_TOKEN_ID = "steward-token"


@dataclass(slots=True, frozen=True)
class Principal:
    """Who a request comes from: `name` for the audit log, `role` for what it may do, `token_id` to rate
    limit and to revoke (the legacy steward token has the fixed id LEGACY_TOKEN_ID)."""

    name: str
    role: Role
    token_id: str

    @property
    def legacy(self) -> bool:
        return self.token_id == LEGACY_TOKEN_ID


class Authenticator(Protocol):
    def authenticate(self, credential: str) -> Principal:
        """The principal a credential proves; raises TokenRejected(reason) when it proves none."""
        ...


class TokenAuthenticator:
    """Account tokens from the store, and the legacy steward token as the admin account "steward"."""

    def __init__(self, accounts: AccountStore | None, steward_token: str | None = None) -> None:
        self.accounts = accounts
        self.steward_token = steward_token

    def authenticate(self, credential: str) -> Principal:
        if self.steward_token is not None and hmac.compare_digest(  # constant time: no timing oracle
            credential.encode(), self.steward_token.encode()
        ):
            return Principal(LEGACY_ACCOUNT, Role.ADMIN, LEGACY_TOKEN_ID)
        if self.accounts is None:
            raise TokenRejected("unknown")
        user = self.accounts.authenticate(credential)
        return Principal(user.name, user.role, self.accounts.token_id(credential))


def adopt_steward_token(accounts: AccountStore, origin: str) -> None:
    """On first start with accounts, the steward token becomes the admin account "steward" (said once in the
    log); the token itself keeps working, checked against its source, never stored in the database."""
    if not accounts.ensure_user(LEGACY_ACCOUNT, Role.ADMIN):
        return
    log.warning(
        "the steward token (%s) is now the admin account %r; issue personal tokens with "
        "`vetted users add NAME --role staff|steward|admin` and `vetted tokens issue NAME`",
        origin, LEGACY_ACCOUNT,
    )  # fmt: skip


class RateLimiter:
    """At most `per_minute` requests per token in any 60 s window (a sliding log: exact, and small at this
    scale: one deque of timestamps per active token). `clock` is monotonic seconds; tests pass their own."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError(f"rate_limit_per_minute must be at least 1, got {per_minute}")
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count a request; None when it may go on, else the seconds until it would be allowed."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return hits[0] + 60.0 - now
            hits.append(now)
            return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def require(role: Role) -> Callable[..., Principal]:
    """A FastAPI dependency: 401 without a good token, 403 below `role`, 429 over the rate limit."""

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        auth: Authenticator | None = getattr(request.app.state, "authenticator", None)
        if auth is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no accounts or token are set up here")
        if credentials is None or not credentials.credentials:
            raise _unauthorized("a token is required (Authorization: Bearer <token>; vetted tokens issue)")
        try:
            principal = auth.authenticate(credentials.credentials)
        except TokenRejected as exc:
            raise _unauthorized(f"token rejected: {exc.reason}") from None
        if not principal.role.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{principal.name} is {principal.role.value}; this needs {role.value}",
            )
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        wait = limiter.hit(principal.token_id) if limiter else None
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"more than {limiter.per_minute if limiter else 0} requests a minute with this token",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        request.state.principal = principal
        return principal

    return dependency


StaffUser = Annotated[Principal, Depends(require(Role.STAFF))]
StewardUser = Annotated[Principal, Depends(require(Role.STEWARD))]
AdminUser = Annotated[Principal, Depends(require(Role.ADMIN))]


def require_steward(
    principal: StewardUser, x_steward_name: Annotated[str | None, Header(max_length=200)] = None
) -> str:
    """The steward's name for the audit log: the account's; with the shared legacy token, the name given
    (X-Steward-Name, as before accounts), else "steward"."""
    if not principal.legacy:
        return principal.name
    name = _NAME_JUNK.sub("", unquote(x_steward_name or "")).strip()[:64]  # the page percent-encodes it
    return name or LEGACY_ACCOUNT


Steward = Annotated[str, Depends(require_steward)]


def body_limit(app: Any, max_bytes: int) -> Any:
    """ASGI middleware: 413 for a body over `max_bytes` (Content-Length), 411 for a body without one, before
    the app reads a byte of it. A 1 MB prompt never reaches JSON parsing."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in {"POST", "PUT", "PATCH"}:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            code, detail = 0, ""
            if length is None and b"transfer-encoding" in headers:
                code, detail = 411, "send a Content-Length (chunked request bodies are not accepted)"
            elif length is not None and (not length.isdigit() or int(length) > max_bytes):
                code, detail = 413, f"request body over {max_bytes} bytes (serving.max_request_bytes)"
            if code:
                await _reply(send, code, detail)
                return
        await app(scope, receive, send)

    return guarded


async def _reply(send: Any, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
