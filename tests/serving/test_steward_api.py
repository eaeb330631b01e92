"""The steward API: the steward token is required on every call, bodies are checked at the edge, every JSON
route answers with a declared model that holds what the page reads, and the token comes from settings, the
environment or a generated 0600 file."""

from __future__ import annotations

import json
import re
import stat

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr, TypeAdapter

from pipelines.core.index_files import current_build
from pipelines.core.settings import load_settings
from serving.auth import TOKEN_ENV, steward_token
from serving.main import create_app
from serving.rag import ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.routes.steward import PAGES
from serving.schemas import Health
from serving.steward_schemas import (
    AuditEntry,
    DocumentOut,
    DocumentsPage,
    OverrideOut,
    OverrideRow,
    SummaryOut,
)
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
    assert client.get("/healthz").json()["index_build"] == reply.json()["build_id"]  # the build in use now


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


# --- response models: every JSON route declares one, and the page's fields are in each ----------------

JS = (PAGES / "steward.js").read_text(encoding="utf-8")


def page_reads(function: str, var: str) -> set[tuple[str, ...]]:
    """The property chains `var.a.b` that steward.js reads inside the top-level `function`."""
    found = re.search(
        rf"^(?:async )?function {function}\(.*?(?=^(?:async )?function |^// ---|\Z)", JS, re.M | re.S
    )
    assert found, f"steward.js has no function {function}"
    chains = {tuple(m.split(".")[1:]) for m in re.findall(rf"(?<![\w.$]){var}(?:\.\w+)+", found.group(0))}
    assert chains, f"steward.js's {function} reads nothing from {var}: the test's map is stale"
    return chains


def resolves(value: object, chain: tuple[str, ...]) -> bool:
    """Whether `chain` reads a key that is there; past a dict it is the value's own (.slice, .length)."""
    for key in chain:
        if value is None:
            return False
        if not isinstance(value, dict):
            return True
        if key not in value:
            return False
        value = value[key]
    return True


def write_run(work_dir, run_id: str, summary: dict) -> None:
    run = work_dir / "runs" / run_id
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"run_id": run_id, **summary}))


def test_openapi_names_a_response_model_for_every_json_route(client):
    spec = client.app.openapi()
    schemas = spec["components"]["schemas"]
    json_routes = set()
    for route in iter_route_contexts(client.app.routes):  # app.routes nests each included router
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            responses = spec["paths"][route.path_format][method.lower()]["responses"]
            if route.status_code == 204:  # no body: feedback, resolving a feedback item
                assert "200" not in responses and "204" in responses, route.path
                continue
            content = responses[str(route.status_code or 200)]["content"]  # 201: a rule was made
            if "application/json" not in content:  # CSV, Prometheus text: a declared media type, no JSON
                assert content and all(not t.startswith("application/json") for t in content), route.path
                continue
            schema = content["application/json"]["schema"]
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            assert ref, f"{method} {route.path} answers an untyped {schema}"
            assert schemas[ref.rsplit("/", 1)[1]]["properties"], ref
            assert route.response_model is not None, route.path
            json_routes.add((method, route.path_format))
    assert json_routes == {
        ("POST", "/v1/chat"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/healthz"),
        ("GET", "/steward/api/feedback"),
        ("GET", "/steward/api/summary"),
        ("GET", "/steward/api/documents"),
        ("GET", "/steward/api/documents/{doc_id}"),
        ("POST", "/steward/api/overrides"),
        ("GET", "/steward/api/overrides"),
        ("GET", "/steward/api/audit"),
        ("GET", "/steward/api/groups"),
        ("GET", "/steward/api/rules"),
        ("POST", "/steward/api/rules"),
        ("POST", "/steward/api/rules/{rule_id}/retire"),
    }


def test_real_responses_fit_the_models_keep_the_services_json_and_hold_what_the_page_reads(client, work):
    settings, _, _ = work
    steward = client.app.state.steward
    write_run(settings.work_dir, "20260101T000000-aaaaaa", {"tiers": {"safe": 3}, "quarantined": 0})
    latest = {
        "inputs": 6,
        "documents": 5,
        "quarantined": 1,
        "accounted": True,
        "tiers": {"safe": 2, "review": 2, "unsafe": 1},
        "index": {"build_id": "b1", "path": "/x/index/b1", "chunks": 4},
        "steward_report": "r.html",
        "io_profile": "p.json",
        "incremental": {"new": 5},  # a field this server does not know passes through
    }
    write_run(settings.work_dir, "20260102T000000-bbbbbb", latest)
    decided = client.post(
        "/steward/api/overrides", headers=AUTH, json={"doc_id": "hr", "tier": "safe", "why": "ok"}
    )
    assert decided.status_code == 200, decided.text

    def get(path: str, model, want) -> object:
        reply = client.get(f"/steward/api/{path}", headers=AUTH)
        assert reply.status_code == 200, reply.text
        model.validate_python(reply.json())
        assert reply.json() == jsonable_encoder(want), path  # no field renamed, dropped or added on the way
        return reply.json()

    summary = get("summary", TypeAdapter(SummaryOut), steward.summary())
    page = get("documents", TypeAdapter(DocumentsPage), steward.documents())
    hr = get("documents/hr", TypeAdapter(DocumentOut), steward.document("hr"))
    get("documents/net", TypeAdapter(DocumentOut), steward.document("net"))  # no date, no override, no spans
    overrides = get("overrides", TypeAdapter(list[OverrideRow]), steward.overrides())
    audit = get("audit", TypeAdapter(list[AuditEntry]), steward.audit())
    OverrideOut.model_validate(decided.json())

    assert summary["latest_run"]["incremental"] == {"new": 5}
    assert any(r["override"] for r in page["rows"]) and hr["override"] and hr["spans"]
    pieces = hr["excerpt"] + [p for c in hr["span_contexts"] for p in c]
    assert {"text"} in [set(p) for p in pieces]  # a plain piece carries no "kind" key
    reads = {
        ("loadSummary", "s"): [summary],
        ("loadSummary", "run"): [summary["latest_run"]],
        ("loadSummary", "r"): summary["tiers_over_runs"],
        ("loadDocuments", "data"): [page],
        ("loadDocuments", "r"): page["rows"],
        ("openDocument", "d"): [hr],
        ("openDocument", "s"): hr["spans"],
        ("segments", "p"): pieces,
        ("decisionForm", "d"): [hr],
        ("decisionForm", "r"): [decided.json()],
        ("loadOverrides", "o"): overrides,
        ("loadAudit", "a"): audit,
    }
    for (function, var), samples in reads.items():
        for chain in page_reads(function, var):
            assert any(resolves(s, chain) for s in samples), (
                f"steward.js {function} reads {var}.{'.'.join(chain)}"
            )


def test_an_old_run_summary_goes_out_as_written_without_nulls(client, work):
    settings, _, _ = work
    write_run(settings.work_dir, "20250101T000000-cccccc", {"tiers": {"safe": 1}})
    summary = client.get("/steward/api/summary", headers=AUTH).json()
    assert summary["latest_run"] == {"run_id": "20250101T000000-cccccc", "tiers": {"safe": 1}}
    assert summary["tiers_over_runs"] == [
        {"run_id": "20250101T000000-cccccc", "safe": 1, "review": 0, "unsafe": 0}
    ]
    assert summary["index"]["n_chunks"] > 0 and summary["index"]["derived_from"] is None


@pytest.mark.parametrize(
    "query",
    [
        "documents?limit=0",
        "documents?limit=501",
        "documents?offset=-1",
        "documents?tier=quarantined",
        "documents?q=" + "x" * 201,
        "audit?limit=0",
        "audit?limit=5001",
    ],
)
def test_bad_query_parameters_are_refused(client, query):
    reply = client.get(f"/steward/api/{query}", headers=AUTH)
    assert reply.status_code == 422 and reply.json()["detail"][0]["loc"][0] == "query"


@pytest.mark.parametrize("body", [{}, {"question": ""}, {"question": "x" * 4001}])
def test_bad_chat_questions_are_refused_before_any_model_call(client, body):
    reply = client.post("/v1/chat", json=body, headers=AUTH)
    assert reply.status_code == 422  # the model URL is dead: a call would fail


def test_health_names_the_index_build_and_the_engine(client, work):
    settings, _, _ = work
    health = Health.model_validate(client.get("/healthz").json())
    assert health.index_build == current_build(settings.work_dir).name
    assert health.engine == "http://127.0.0.1:9/v1"
