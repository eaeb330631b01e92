"""The steward role: a bearer token from settings until the serving issue brings staff accounts.

Where the token comes from, first found wins: `serving.steward_token` in vetted.toml, the VETTED_STEWARD_TOKEN
environment variable, else `<work_dir>/steward.token`, generated once (32 random bytes, mode 0600) and reused
across restarts. The token proves the role; the name a steward gives (header X-Steward-Name) is what the audit
log records as who, and is only as true as the person typing it until accounts arrive.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipelines.core.settings import Settings

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


def require_steward(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_steward_name: Annotated[str | None, Header(max_length=200)] = None,
) -> str:
    """401 unless the bearer token is the steward token; returns the steward's name for the audit log."""
    expected: str | None = getattr(request.app.state, "steward_token", None)
    if expected is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the steward workflow is not set up here")
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):  # constant time: no timing oracle
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "steward token required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = _NAME_JUNK.sub("", unquote(x_steward_name or "")).strip()[:64]  # the page percent-encodes it
    return name or "steward"


Steward = Annotated[str, Depends(require_steward)]
