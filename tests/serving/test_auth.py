"""Every route but /healthz needs a token, on the real app (TestClient) over a real work folder, SQLite
accounts and the steward service: 401 without or with a bad token, 403 for the wrong role, 429 with
Retry-After over the rate limit, 413 for a large body, and the audit's "who" from the account."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from serving.accounts import AccountStore, Role
from serving.auth import LEGACY_ACCOUNT, RateLimiter, adopt_steward_token
from serving.main import create_app
from serving.rag import ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.steward_service import StewardService
from tests.serving.steward_workdir import make_work_dir

LEGACY = "legacy-steward-token-0123456789"
NOW = 1_790_000_000.0  # 2026-09-21: a pinned clock, never the machine's


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path, embedder):
    settings, _, _ = make_work_dir(tmp_path, embedder)
    retriever = SafeRetriever(settings.work_dir, embedder, top_k=3, min_similarity=0.35)
    llm = make_llm(  # nothing listens on port 9: these tests never reach the model
        base_url="http://127.0.0.1:9/v1", model="none", max_tokens=8, temperature=0.0, context_window=2048
    )
    clock = Clock()
    accounts = AccountStore(settings.layout.steward_db, clock=clock)
    tokens = {}
    for name, role in (("sam", Role.STAFF), ("dana", Role.STEWARD), ("ada", Role.ADMIN)):
        accounts.add_user(name, role)
        tokens[name] = accounts.issue(name, expires_days=30).token
    app = create_app(
        ChatService(retriever, llm), steward_service=StewardService(settings, embedder), steward_token=LEGACY,
        accounts=accounts, max_request_bytes=4096,
    )  # fmt: skip
    return TestClient(app), accounts, tokens, clock


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ROUTES = [  # (method, path, role it needs); a body the route accepts where it needs one
    ("get", "/metrics", Role.STEWARD),
    ("get", "/steward/api/summary", Role.STEWARD),
    ("get", "/steward/api/documents", Role.STEWARD),
    ("get", "/steward/api/audit", Role.STEWARD),
    ("get", "/steward/api/overrides.csv", Role.STEWARD),
]


@pytest.mark.parametrize(("method", "path", "role"), ROUTES)
def test_each_route_wants_a_good_token_of_a_high_enough_role(setup, method, path, role):
    client, _, tokens, _ = setup
    call = getattr(client, method)
    assert call(path).status_code == 401
    assert call(path).headers["www-authenticate"] == "Bearer"
    assert call(path, headers=bearer("vt_000000000000_" + "x" * 43)).status_code == 401
    assert call(path, headers=bearer("not-a-token")).status_code == 401
    for name, who in (("sam", Role.STAFF), ("dana", Role.STEWARD), ("ada", Role.ADMIN)):
        expected = 200 if who.allows(role) else 403
        assert call(path, headers=bearer(tokens[name])).status_code == expected, (name, path)
    assert call(path, headers=bearer(LEGACY)).status_code == 200  # the legacy token is an admin


def test_chat_needs_a_token_and_staff_may_ask(setup):
    client, _, tokens, _ = setup
    assert client.post("/v1/chat", json={"question": "VACUUM?"}).status_code == 401
    assert client.post("/v1/chat", json={"question": ""}).status_code == 401  # no token: not even validation
    reply = client.post("/v1/chat", json={"question": ""}, headers=bearer(tokens["sam"]))
    assert reply.status_code == 422  # a staff token reaches validation
    assert client.get("/healthz").status_code == 200  # the one open route
    assert client.get("/steward").status_code == 200  # the page itself holds no data


def test_expired_and_revoked_tokens_are_refused_with_the_reason(setup):
    client, accounts, tokens, clock = setup
    assert client.get("/steward/api/summary", headers=bearer(tokens["dana"])).status_code == 200
    clock.now = NOW + 30 * 86400
    reply = client.get("/steward/api/summary", headers=bearer(tokens["dana"]))
    assert reply.status_code == 401 and reply.json()["detail"] == "token rejected: expired"
    clock.now = NOW
    accounts.revoke(tokens["ada"].split("_")[1])
    reply = client.get("/steward/api/summary", headers=bearer(tokens["ada"]))
    assert reply.status_code == 401 and reply.json()["detail"] == "token rejected: revoked"


def test_the_audit_names_the_account_not_the_header(setup):
    client, _, tokens, _ = setup
    body = {"doc_id": "pg", "tier": "unsafe", "why": "superseded by the 2026 runbook"}
    headers = bearer(tokens["dana"]) | {"X-Steward-Name": "Mallory"}
    assert client.post("/steward/api/overrides", json=body, headers=headers).status_code == 200
    audit = client.get("/steward/api/audit", headers=bearer(tokens["ada"])).json()
    assert audit[0]["who"] == "dana"
    legacy = bearer(LEGACY) | {"X-Steward-Name": "Dana Shared"}  # the shared token: the name given, as before
    body["tier"] = "safe"
    assert client.post("/steward/api/overrides", json=body, headers=legacy).status_code == 200
    assert client.get("/steward/api/audit", headers=legacy).json()[0]["who"] == "Dana Shared"


def test_a_large_or_lengthless_body_is_refused_before_parsing(setup):
    client, _, tokens, _ = setup
    big = {"question": "x" * 1_000_000}  # a 1 MB prompt
    reply = client.post("/v1/chat", json=big, headers=bearer(tokens["sam"]))
    assert reply.status_code == 413 and "max_request_bytes" in reply.json()["detail"]
    chunked = client.post(
        "/v1/chat", content=iter([b'{"question": "hi"}']), headers=bearer(tokens["sam"])
    )  # a generator body goes out chunked, without a Content-Length
    assert chunked.status_code == 411
    bad = client.post("/v1/chat", content=b"{not json", headers=bearer(tokens["sam"]) | {
        "Content-Type": "application/json"})  # fmt: skip
    assert bad.status_code == 422


def test_over_the_rate_limit_a_token_gets_429_with_retry_after(tmp_path):
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    assert limiter.hit("a") == pytest.approx(60.0) and limiter.hit("b") is None  # per token
    clock.now += 59.5
    assert limiter.hit("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.hit("a") is None  # the first hit left the window
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(0)


def test_the_app_answers_429_and_says_when_to_retry(setup, tmp_path):
    client, accounts, tokens, _ = setup
    client.app.state.rate_limiter = RateLimiter(2)  # type: ignore[attr-defined]
    codes = [client.get("/metrics", headers=bearer(tokens["dana"])).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    reply = client.get("/metrics", headers=bearer(tokens["dana"]))
    assert int(reply.headers["retry-after"]) >= 1
    assert client.get("/metrics", headers=bearer(tokens["ada"])).status_code == 200  # another token


def test_without_accounts_or_a_token_the_routes_are_unavailable(setup):
    client, _, tokens, _ = setup
    bare = TestClient(create_app(client.app.state.service))  # type: ignore[attr-defined]
    assert bare.post("/v1/chat", json={"question": "x"}, headers=bearer(tokens["sam"])).status_code == 503


def test_the_steward_token_becomes_the_admin_account_once(tmp_path, caplog):
    accounts = AccountStore(tmp_path / "steward.db", clock=Clock())
    with caplog.at_level(logging.WARNING, logger="serving.auth"):
        adopt_steward_token(accounts, "/work/steward.token")
        adopt_steward_token(accounts, "/work/steward.token")
    assert [(u.name, u.role) for u in accounts.users()] == [(LEGACY_ACCOUNT, Role.ADMIN)]
    said = [r.getMessage() for r in caplog.records if "is now the admin account" in r.getMessage()]
    assert len(said) == 1 and "/work/steward.token" in said[0]


def test_the_demo_asks_with_a_staff_token_of_its_own(tmp_path):
    from pipelines.cli.demo import DEMO_USER, demo_staff_token
    from pipelines.core.settings import load_settings

    settings = load_settings(None, {"paths.work_dir": str(tmp_path)})
    first, second = demo_staff_token(settings), demo_staff_token(settings)  # a second demo reuses the account
    accounts = AccountStore(settings.layout.steward_db)
    assert accounts.authenticate(first).name == DEMO_USER == accounts.authenticate(second).name
    assert [(u.name, u.role) for u in accounts.users()] == [(DEMO_USER, Role.STAFF)]
    assert all(t.expires is not None for t in accounts.tokens())
