"""`vetted users add|list` and `vetted tokens issue|list|revoke`: accounts in the work folder's steward.db.

vetted users add dana --role steward
vetted tokens issue dana --expires-days 90   # the new token alone on the last line of stdout, once
vetted tokens revoke 0a1b2c3d4e5f
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from serving.accounts import AccountStore

T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="staff, steward and admin accounts").add_subparsers(
        dest="users_command", required=True
    )
    p = users.add_parser("add", help="add an account")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["staff", "steward", "admin"])
    p.set_defaults(func=cmd_users_add)
    users.add_parser("list", help="every account and its role").set_defaults(func=cmd_users_list)

    tokens = sub.add_parser("tokens", help="API tokens (stored as salted hashes)").add_subparsers(
        dest="tokens_command", required=True
    )
    p = tokens.add_parser("issue", help="a new token for an account, printed once")
    p.add_argument("name")
    p.add_argument("--expires-days", type=float, help="days until it expires (default: never)")
    p.set_defaults(func=cmd_tokens_issue)
    tokens.add_parser("list", help="every token's id, user, dates; never the token").set_defaults(
        func=cmd_tokens_list
    )
    p = tokens.add_parser("revoke", help="revoke a token by its id")
    p.add_argument("id")
    p.set_defaults(func=cmd_tokens_revoke)


def _store(args: argparse.Namespace) -> AccountStore:
    from pipelines.cli.main import settings_from_args
    from serving.accounts import AccountStore

    return AccountStore(settings_from_args(args).layout.steward_db)


def _run(action: Callable[[], T]) -> T:
    """An AccountError becomes a message and exit status 1."""
    from serving.accounts import AccountError

    try:
        return action()
    except AccountError as exc:
        raise SystemExit(f"vetted: {exc}") from None


def cmd_users_add(args: argparse.Namespace) -> int:
    from serving.accounts import Role

    user = _run(lambda: _store(args).add_user(args.name, Role(args.role)))
    print(f"added {user.name} ({user.role.value})")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    for user in _store(args).users():
        print(f"{user.name}\t{user.role.value}")
    return 0


def cmd_tokens_issue(args: argparse.Namespace) -> int:
    issued = _run(lambda: _store(args).issue(args.name, expires_days=args.expires_days))
    print(f"token {issued.id} for {args.name}; shown once, stored as a salted hash:")
    print(issued.token)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    for t in _store(args).tokens():
        state = "revoked" if t.revoked else "active"
        print(f"{t.id}\t{t.user}\t{state}\tcreated {t.created:.0f}\tlast used {t.last_used or '-'}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    info = _run(lambda: _store(args).revoke(args.id))
    print(f"revoked token {info.id} of {info.user}")
    return 0
