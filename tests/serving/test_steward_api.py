"""The steward API: the steward token is required on every call, bodies are checked at the edge, and the
token comes from settings, the environment or a generated 0600 file."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pipelines.settings import load_settings
from serving.auth import TOKEN_ENV, steward_token
from serving.main import create_app
from serving.rag import ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.steward_service import StewardService
from tests.serving.steward_workdir import EMAIL, make_work_dir

TOKEN = "t0ken-for-the-steward-tests-only"
ENDPOINTS = [
    ("get", "/steward/api/summary"),
    ("get", "/steward/api/documents"),
    ("get", "/steward/api/documents/pg"),
    ("get", "/steward/api/overrides"),
    ("get", "/steward/api/overrides.csv"),
    ("get", "/steward/api/audit"),
    ("post", "/steward/api/overrides"),
]


@pytest.fixture
def work(tmp_path, embedder):
    settings, _, _ = make_work_dir(tmp_path, embedder)
    retriever = SafeRetriever(settings.work_dir, embedder, top_k=3, min_similarity=0.35)
    # nothing listens on port 9: the steward API never calls the model
    llm = make_llm(
        base_url="http://127.0.0.1:9/v1", model="none", max_tokens=8, temperature=0.0, context_window=2048
    )
    return settings, ChatService(retriever, llm), embedder


@pytest.fixture
def client(work):
    settings, chat, embedder = work
    app = create_app(chat, steward_service=StewardService(settings, embedder), steward_token=TOKEN)
    return TestClient(app)


AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Steward-Name": "Dana <script>"}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_api_call_needs_the_steward_token(client, method, path):
    body = {"json": {"doc_id": "pg", "tier": "unsafe", "why": "x"}} if method == "post" else {}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
        reply = getattr(client, method)(path, headers=headers, **body)
        assert reply.status_code == 401, (path, headers)
        assert reply.headers["www-authenticate"] == "Bearer"
    assert client.get("/steward/api/overrides", headers=AUTH).json() == []  # nothing was stored


def test_the_page_loads_without_a_token_and_holds_no_data(client):
    page = client.get("/steward")
    assert page.status_code == 200 and "steward token" in page.text.lower()
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "pg page" not in page.text and "http://" not in page.text.replace('"http://www.w3.org', "")
    script = client.get("/steward/steward.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "sessionStorage" in script.text and "innerHTML" not in script.text


def test_override_through_the_api_records_the_stewards_name(client):
    reply = client.post(
        "/steward/api/overrides", headers=AUTH, json={"doc_id": "pg", "tier": "unsafe", "why": "old"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["who"] == "Dana script" and reply.json()["index_change"] == "removed"
    rows = client.get("/steward/api/documents", headers=AUTH, params={"tier": "unsafe"}).json()["rows"]
    assert {r["doc_id"] for r in rows} == {"pg", "hr"}
    csv_reply = client.get("/steward/api/overrides.csv", headers=AUTH)
    assert csv_reply.headers["content-type"].startswith("text/csv") and "pg" in csv_reply.text
    assert client.get("/steward/api/audit", headers=AUTH).json()[0]["action"] == "index_removed"


@pytest.mark.parametrize(
    "body",
    [
        {"doc_id": "pg", "tier": "unsafe", "why": "  "},
        {"doc_id": "pg", "tier": "unsafe"},
        {"doc_id": "pg", "tier": "review", "why": "unsure"},
    ],
)
def test_bad_override_bodies_are_refused(client, body):
    assert client.post("/steward/api/overrides", headers=AUTH, json=body).status_code == 422
    assert client.get("/steward/api/overrides", headers=AUTH).json() == []


def test_unknown_documents_are_404_and_details_never_carry_raw_values(client):
    assert client.get("/steward/api/documents/nope", headers=AUTH).status_code == 404
    post = client.post(
        "/steward/api/overrides", headers=AUTH, json={"doc_id": "nope", "tier": "safe", "why": "x"}
    )
    assert post.status_code == 404
    detail = client.get("/steward/api/documents/hr", headers=AUTH)
    assert detail.status_code == 200 and EMAIL not in detail.text


def test_without_a_steward_service_the_api_is_unavailable(work):
    _, chat, _ = work
    client = TestClient(create_app(chat))
    assert client.get("/steward/api/summary", headers=AUTH).status_code == 503
    assert client.get("/steward").status_code == 200


def test_token_comes_from_settings_then_environment_then_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    settings = load_settings(None, {"paths.work_dir": str(tmp_path)})
    token, origin = steward_token(settings)
    path = tmp_path / "steward.token"
    assert origin == str(path) and path.read_text().strip() == token and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert steward_token(settings) == (token, origin)  # generated once, reused after a restart

    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-123")
    assert steward_token(settings) == ("from-the-environment-123", f"${TOKEN_ENV}")

    settings.serving.steward_token = SecretStr("from-vetted-toml-456789")
    assert steward_token(settings) == ("from-vetted-toml-456789", "serving.steward_token")

    settings.serving.steward_token = SecretStr("short")
    with pytest.raises(ValueError, match="at least 16"):
        steward_token(settings)
