"""The account store on a real SQLite file and the `vetted users|tokens` commands through the real entry."""

from __future__ import annotations

import pytest

from pipelines.cli.main import main
from serving.accounts import AccountError, AccountStore, Role, TokenRejected

T0 = 1_780_000_000.0  # a pinned clock: 2026-05-28


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_stored_as_hashes_and_expire_and_revoke_by_the_clock(tmp_path):
    clock = Clock()
    store = AccountStore(tmp_path / "steward.db", clock=clock)
    store.add_user("dana", Role.STEWARD)
    issued = store.issue("dana", expires_days=1)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert issued.token.split("_", 2)[2].encode() not in raw and issued.token.encode() not in raw
    clock.now = T0 + 3600
    user = store.authenticate(issued.token)
    assert (user.name, user.role) == ("dana", Role.STEWARD)
    assert store.token(issued.id).last_used == T0 + 3600
    with pytest.raises(TokenRejected, match="unknown"):
        store.authenticate(issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"))
    with pytest.raises(TokenRejected, match="malformed"):
        store.authenticate("not-a-token")
    clock.now = T0 + 86400
    with pytest.raises(TokenRejected, match="expired"):
        store.authenticate(issued.token)
    other = store.issue("dana")
    store.revoke(other.id)
    with pytest.raises(TokenRejected, match="revoked"):
        store.authenticate(other.token)
    with pytest.raises(AccountError, match="revoked already"):
        store.revoke(other.id)


def test_roles_rank_and_bad_input_is_refused(tmp_path):
    store = AccountStore(tmp_path / "steward.db")
    assert Role.ADMIN.allows(Role.STEWARD) and not Role.STAFF.allows(Role.STEWARD)
    store.add_user("ann", Role.STAFF)
    for call, message in [
        (lambda: store.add_user("ann", Role.ADMIN), "exists already"),
        (lambda: store.add_user("bad name!", Role.STAFF), "user name"),
        (lambda: store.issue("nobody"), "no user"),
        (lambda: store.issue("ann", expires_days=0), "above 0"),
        (lambda: store.revoke("ffffffffffff"), "no token"),
    ]:
        with pytest.raises(AccountError, match=message):
            call()


def test_the_commands_add_list_issue_and_revoke(tmp_path, capsys):
    work = ["--work-dir", str(tmp_path)]
    assert main([*work, "users", "add", "dana", "--role", "steward"]) == 0
    assert main([*work, "users", "list"]) == 0
    assert "dana\tsteward" in capsys.readouterr().out
    assert main([*work, "tokens", "issue", "dana", "--expires-days", "30"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    store = AccountStore(tmp_path / "steward.db")
    assert store.authenticate(token).name == "dana"
    token_id = store.tokens()[0].id
    assert main([*work, "tokens", "revoke", token_id]) == 0
    with pytest.raises(TokenRejected):
        store.authenticate(token)
    with pytest.raises(SystemExit, match="no user 'nobody'"):
        main([*work, "tokens", "issue", "nobody"])
    with pytest.raises(SystemExit) as exit_info:
        main([*work, "users", "add", "eve", "--role", "root"])
    assert exit_info.value.code == 2
