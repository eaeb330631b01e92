"""Steward decisions teach relevance: approving two forklift tickets lifts the other warehouse tickets that
nobody decided, rejecting an off-topic page sinks its siblings, a rejection for another reason teaches
nothing about the topic, and the next real run re-scores relevance alone when the decisions change."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.feedback import Exemplar, StewardExemplars, steward_exemplars
from curation.layout import WorkLayout
from curation.models import Document, Tier
from curation.steward import StewardDB
from pipelines import ingest
from pipelines.core.settings import CurationSettings, DomainSettings
from pipelines.scoring import relevance_scorer
from tests.conftest import settings_for
from tests.pipelines.test_incremental import _write, corpus  # noqa: F401 (the fixture)

# Written for this test: a company whose knowledge base also holds its warehouse's maintenance tickets.
WAREHOUSE = [
    ("Forklift FL-3 hydraulic check", "Weekly check of forklift FL-3: hydraulic fluid topped up, mast chains "
     "lubricated, battery charged to 80%, horn and lights tested. Next service in 250 operating hours."),
    ("Forklift FL-7 battery swap", "Forklift FL-7 would not lift full pallets. Swapped the traction battery, "
     "checked the charger and the mast cylinders; lifting capacity back to 2.5 tonnes."),
    ("Forklift FL-2 brake repair", "Forklift FL-2 pulled to the left when braking. Replaced the brake shoes "
     "and adjusted the parking brake; tested on the loading ramp."),
    ("Loading dock door 3 stuck", "The roller door at dock 3 stopped half way. Reset the door's motor "
     "controller and greased the guide rails; the door runs fully again."),
]  # fmt: skip
LEAGUE = [
    ("Office football league, week 6", "Accounts beat Sales three goals to one on Thursday; Warehouse and IT "
     "drew two all. Accounts lead the table with 15 points."),
    ("Office football league, week 7", "Sales won the derby against Marketing 4-2; the IT team lost to "
     "Warehouse after a late penalty. Next week: the semi-finals."),
]  # fmt: skip


def _docs(rows) -> list[Document]:
    return [Document(t.lower().replace(" ", "-"), "ops", "support_ticket", f"{t}.txt", t, x) for t, x in rows]


def _exemplars(rows, verb) -> tuple[Exemplar, ...]:
    return tuple(Exemplar(f"steward {verb}: {t}", f"{t}\n{x}") for t, x in rows)


@pytest.fixture(scope="module")
def scorers(embedder):
    taught = StewardExemplars(_exemplars(WAREHOUSE[:2], "approved"), _exemplars(LEAGUE[:1], "rejected"))
    return (
        relevance_scorer(embedder.embed, DomainSettings(), CurationSettings()),
        relevance_scorer(embedder.embed, DomainSettings(), CurationSettings(), taught),
    )


def test_two_approvals_lift_the_undecided_warehouse_tickets(scorers):
    base, taught = scorers
    undecided = _docs(WAREHOUSE[2:])
    before, after = base.score_many(undecided), taught.score_many(undecided)
    for b, a in zip(before, after, strict=True):
        assert a.score >= b.score + 0.2 and not a.reasons, (b.score, a.score)
        assert a.details["nearest"].startswith("steward approved: Forklift")  # the page says why


def test_a_rejection_as_off_topic_sinks_the_sibling_and_leaves_it_flagged(scorers):
    base, taught = scorers
    [before], [after] = base.score_many(_docs(LEAGUE[1:])), taught.score_many(_docs(LEAGUE[1:]))
    assert after.score < before.score and after.reasons == ["relevance_off_domain"]
    assert after.details["nearest_off_domain"].startswith("steward rejected: Office football")


def test_the_exemplars_come_from_decisions_and_a_rejection_for_a_secret_teaches_nothing(tmp_path):
    layout = WorkLayout(tmp_path)
    layout.root.mkdir(parents=True, exist_ok=True)
    rows = {
        "fork": ("Forklift FL-3", ["relevance_off_domain"], 0.2),
        "league": ("Football league", ["relevance_off_domain"], 0.0),
        "keys": ("Deploy notes", ["secret_aws_key"], 0.9),
        "other": ("Python lists", [], 0.9),
    }
    pq.write_table(
        pa.table({
            "doc_id": list(rows), "source": ["ops"] * 4, "title": [r[0] for r in rows.values()],
            "text": [f"text of {d}" for d in rows], "reasons": [r[1] for r in rows.values()],
            "score_relevance": [r[2] for r in rows.values()],
        }),
        layout.documents,
    )  # fmt: skip
    assert steward_exemplars(layout, chars=100) == StewardExemplars()  # no steward.db yet: nothing
    db = StewardDB(layout.steward_db)
    db.set_override(doc_id="fork", tier=Tier.SAFE, who="ana", why="ours")
    db.set_override(doc_id="league", tier=Tier.UNSAFE, who="ana", why="off topic")
    db.set_override(doc_id="keys", tier=Tier.UNSAFE, who="ana", why="a live key")
    found = steward_exemplars(layout, chars=100)
    assert [e.label for e in found.on_domain] == ["steward approved: Forklift FL-3"]
    assert [e.label for e in found.off_domain] == ["steward rejected: Football league"]
    assert found.on_domain[0].text == "Forklift FL-3\ntext of fork"
    before = found.key
    db.set_override(doc_id="other", tier=Tier.SAFE, who="bo", why="fine")
    assert steward_exemplars(layout, chars=100).key != before


def test_the_next_run_rescores_relevance_alone_after_a_decision(tmp_path, corpus, embedder):  # noqa: F811
    ops = corpus / "ops"
    ops.mkdir()
    for title, text in WAREHOUSE:
        _write(ops, f"{title.lower().replace(' ', '-')}.txt", text)
    settings = settings_for(tmp_path / "work", corpus)
    first = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    scores = {d.path: first.scores[d.doc_id]["relevance"].score for d in first.documents}
    fork = next(d for d in first.documents if "fl-3" in d.path)
    StewardDB(settings.layout.steward_db).set_override(
        doc_id=fork.doc_id, tier=Tier.SAFE, who="ana", why="ours"
    )

    second = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    score_stage = next(s for s in second.profile.stages if s.stage == "score")
    assert score_stage.extra["rescored"] == 0 and score_stage.extra["relevance_relearned"] == len(scores)
    after = {d.path: second.scores[d.doc_id]["relevance"].score for d in second.documents}
    brake = next(p for p in after if "fl-2" in p)
    assert after[brake] > scores[brake] + 0.1
    third = ingest.run(settings, corpus, settings.layout, embedder=embedder)  # no new decision: all kept
    notes = next(s for s in third.profile.stages if s.stage == "score").extra
    assert notes["relevance_relearned"] == 0
