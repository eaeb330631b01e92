"""The steward's group decisions over HTTP: groups by source and reason with what each decision would do,
rules stored with who and why, a reject rule that applies to the tier now at once, approve that waits for
the next run, retiring, and every bad input refused with a status that says why."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from curation.policy import load_policy
from curation.tiers import read_rules
from pipelines.stages import tier_documents
from serving.main import create_app
from serving.steward_rule_schemas import GroupsPage, RuleOut, RuleRow
from serving.steward_service import StewardService
from tests.serving.steward_workdir import documents, retier, scores_for
from tests.serving.test_steward_api import AUTH, TOKEN, work  # noqa: F401 (the fixture)

RULES = "/steward/api/rules"


@pytest.fixture
def client(work):  # noqa: F811
    settings, chat, embedder = work
    app = create_app(chat, steward_service=StewardService(settings, embedder), steward_token=TOKEN)
    return TestClient(app)


def _groups(client) -> dict[tuple[str, str], dict]:
    page = GroupsPage.model_validate(client.get("/steward/api/groups", headers=AUTH).json())
    return {(g.source, g.reason): g.model_dump() for g in page.groups}


def _doc(client, doc_id):
    return client.get(f"/steward/api/documents/{doc_id}", headers=AUTH).json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/steward/api/groups"), ("get", RULES), ("post", RULES), ("post", f"{RULES}/1/retire")],
)
def test_group_endpoints_need_the_steward_token(client, method, path):
    body = {"json": {"source": "kb-foldoc", "reason": "age_unknown", "decision": "reject", "why": "x"}}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        reply = getattr(client, method)(path, headers=headers, **(body if method == "post" else {}))
        assert reply.status_code == 401
    assert client.get(RULES, headers=AUTH).json() == []


def test_groups_say_what_a_decision_would_change(client):
    groups = _groups(client)
    stale = groups[("tickets-changelogs", "age_stale_for_domain")]
    assert stale["documents"] == 1 and stale["examples"][0]["doc_id"] == "old"
    # approving the reason alone lets nothing in: the same document is below the policy's age floor too
    assert stale["outcomes"]["approve"] == {"safe": 0, "review": 1, "unsafe": 0}
    assert stale["outcomes"]["reject"]["unsafe"] == 1
    assert "redact" not in stale["outcomes"]  # an age has no spans to mask
    assert groups[("tickets-changelogs", "policy_age_below_min")]["documents"] == 1
    assert groups[("kb-foldoc", "age_unknown")]["documents"] == 1
    assert all(g["documents"] > 0 for g in groups.values())


def test_a_reject_rule_applies_now_and_an_approve_rule_on_the_next_run(client, work):  # noqa: F811
    settings, _, _ = work
    body = {"source": "kb-foldoc", "reason": "age_unknown", "decision": "reject", "why": "no date, no trust"}
    reply = client.post(RULES, json=body, headers=AUTH)
    assert reply.status_code == 201, reply.text
    made = RuleOut.model_validate(reply.json())
    assert made.applies == "now" and made.documents == 1 and made.rule.who.startswith("Dana")
    assert _doc(client, "net")["tier"] == "unsafe" and _doc(client, "net")["rule"] == made.rule.id
    assert ("kb-foldoc", "age_unknown") not in _groups(client)  # decided: it left the list
    for reason in ("age_stale_for_domain", "policy_age_below_min"):
        approve = {
            "source": "tickets-changelogs",
            "reason": reason,
            "decision": "approve",
            "why": "still true",
        }
        later = RuleOut.model_validate(client.post(RULES, json=approve, headers=AUTH).json())
        assert later.applies == "next run" and _doc(client, "old")["tier"] == "review"  # not yet
    # the next run's tier stage, with the stored rules
    docs = documents()
    scores = {d.doc_id: scores_for(d) for d in docs}
    policy = load_policy(settings.resolve(settings.paths.policy_file)).with_rules(read_rules(settings.layout))
    decided = retier(docs, scores, {}).decisions  # the fixture's policy without rules: unchanged
    assert decided["old"].tier.value == "review"
    ruled = tier_documents(docs, scores, policy, {}).decisions
    assert ruled["old"].tier.value == "safe" and ruled["net"].tier.value == "unsafe"
    audit = [a["action"] for a in client.get("/steward/api/audit", headers=AUTH).json()]
    assert audit[:3] == ["rule_approve", "rule_approve", "rule_reject"]


def test_retire_a_rule_and_the_document_comes_back(client):
    body = {"source": "kb-foldoc", "reason": "age_unknown", "decision": "reject", "why": "no date"}
    rule_id = client.post(RULES, json=body, headers=AUTH).json()["rule"]["id"]
    reply = client.post(f"{RULES}/{rule_id}/retire", json={"why": "too broad"}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    row = RuleRow.model_validate(reply.json())
    assert not row.active and row.retired_why == "too broad" and row.retired_by is not None
    assert _doc(client, "net")["tier"] == "review" and _doc(client, "net")["rule"] is None
    assert client.post(f"{RULES}/{rule_id}/retire", json={"why": "again"}, headers=AUTH).status_code == 404
    again = client.post(RULES, json=body, headers=AUTH)
    assert again.status_code == 201  # a retired rule no longer blocks a new one on the same pair


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"source": "nowhere", "reason": "age_unknown", "decision": "reject", "why": "x"}, 422, "comes from"),
        ({"source": "kb-foldoc", "reason": "pii_iban", "decision": "reject", "why": "x"}, 422, "carries"),
        ({"source": "kb-foldoc", "reason": "age_unknown", "decision": "redact", "why": "x"}, 422, "no spans"),
        ({"source": "kb-foldoc", "reason": "age_unknown", "decision": "delete", "why": "x"}, 422, "decision"),
        ({"source": "kb-foldoc", "reason": "age_unknown", "decision": "reject", "why": "  "}, 422, "why"),
        ({"source": "kb-foldoc", "reason": "Age Unknown", "decision": "reject", "why": "x"}, 422, "reason"),
        ({"source": "kb-foldoc", "reason": "steward_override_safe", "decision": "approve", "why": "x"}, 422,
         "not a reason"),
        ({"source": "kb-foldoc", "decision": "reject", "why": "x"}, 422, "reason"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_with_what_is_wrong(client, body, status, says):
    reply = client.post(RULES, json=body, headers=AUTH)
    assert reply.status_code == status
    assert says in reply.text
    assert client.get(RULES, headers=AUTH).json() == []


def test_a_second_rule_on_the_same_group_conflicts_and_retire_needs_a_reason(client):
    body = {"source": "kb-foldoc", "reason": "age_unknown", "decision": "reject", "why": "x"}
    rule_id = client.post(RULES, json=body, headers=AUTH).json()["rule"]["id"]
    conflict = client.post(RULES, json={**body, "decision": "approve"}, headers=AUTH)
    assert conflict.status_code == 409 and "retire it first" in conflict.text
    assert client.post(f"{RULES}/{rule_id}/retire", json={"why": ""}, headers=AUTH).status_code == 422
    assert client.post(f"{RULES}/abc/retire", json={"why": "x"}, headers=AUTH).status_code == 422
    assert client.post(f"{RULES}/999/retire", json={"why": "x"}, headers=AUTH).status_code == 404
