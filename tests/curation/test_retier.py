"""`vetted retier`: a policy change re-tiers documents.parquet from its stored scores; no scorer runs."""

from pathlib import Path

import pytest

from curation.models import ScoreResult, Tier
from curation.policy import load_policy
from curation.retier import retier_table, stored_scores
from curation.steward import StewardDB
from curation.table import documents_table, read_documents, write_documents
from pipelines.cli import main as cli
from tests.curation.helpers import doc

REPO = Path(__file__).resolve().parents[2]
SCORERS = ("age", "relevance", "trust", "sensitive", "duplicate", "quality")


def _scores(**changes: tuple[float, list[str]]) -> dict[str, ScoreResult]:
    base = {name: ScoreResult(name, 0.9) for name in SCORERS}
    for name, (value, reasons) in changes.items():
        base[name] = ScoreResult(name, value, reasons)
    return base


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A work folder whose documents.parquet was tiered by the repo's policy.toml."""
    docs = [doc(path=p) for p in ("clean.md", "old-notes.md", "iban.md", "thin.md")]
    scores = {
        "clean.md": _scores(),
        "old-notes.md": _scores(age=(0.3, ["age_superseded"])),
        "iban.md": _scores(sensitive=(0.0, ["pii_iban"])),
        "thin.md": _scores(quality=(0.6, ["quality_boilerplate"])),
    }
    policy = load_policy(REPO / "policy.toml")
    decisions = {d.doc_id: policy.decide(d.doc_id, scores[d.doc_id]) for d in docs}
    write_documents(tmp_path / "documents.parquet", documents_table(docs, scores, decisions))
    return tmp_path


def _tiers(path: Path) -> dict[str, str]:
    table = read_documents(path, ["doc_id", "tier"])
    return dict(zip(table.column("doc_id").to_pylist(), table.column("tier").to_pylist(), strict=True))


@pytest.fixture
def no_scorer_runs(monkeypatch):
    """Every scorer fails if anything calls it: re-tiering must not."""
    from curation.scorers import SCORER_CLASSES

    for cls in SCORER_CLASSES:
        for method in ("score", "score_batch", "score_many"):
            monkeypatch.setattr(cls, method, lambda *a, **k: pytest.fail("a scorer ran during retier"))


def test_stored_reasons_go_back_to_their_scorers():
    reasons = ["age_superseded", "pii_email", "policy_age_below_min", "redacted_pii_email"]
    reasons.append("steward_override_safe")
    row = {"score_age": 0.3, "score_sensitive": 0.0, "score_relevance": None, "reasons": reasons}
    scores = stored_scores(row)
    assert scores["age"].reasons == ["age_superseded"] and scores["sensitive"].reasons == ["pii_email"]
    assert "relevance" not in scores and all("policy_" not in r for s in scores.values() for r in s.reasons)
    assert not any(r.startswith("redacted_") for s in scores.values() for r in s.reasons)


def test_a_policy_change_retiers_without_rescoring(work, tmp_path, no_scorer_runs):
    path = work / "documents.parquet"
    before = _tiers(path)
    assert before == {"clean.md": "safe", "old-notes.md": "review", "iban.md": "unsafe", "thin.md": "review"}
    # a steward who keeps superseded notes and boilerplate-heavy pages, and wants quality >= 0.7
    text = (REPO / "policy.toml").read_text()
    text = text.replace('  "age_superseded",', "").replace('  "quality_boilerplate",', "")
    text = text.replace("min_quality = 0.5", "min_quality = 0.7")
    (tmp_path / "policy.toml").write_text(text)
    result = retier_table(read_documents(path), load_policy(tmp_path / "policy.toml"), {})
    assert sorted(result.changed) == [("old-notes.md", "review", "safe")]
    assert result.decisions["thin.md"].reasons == ["quality_boilerplate", "policy_quality_below_min"]
    assert result.table.num_rows == 4 and result.counts == {"safe": 2, "review": 1, "unsafe": 1}
    assert (
        result.table.column("text").to_pylist() == read_documents(path, ["text"]).column("text").to_pylist()
    )


def test_vetted_retier_applies_policy_and_overrides_and_keeps_every_row(
    work, tmp_path, no_scorer_runs, capsys
):
    StewardDB(work / "steward.db").set_override(
        doc_id="iban.md", tier=Tier.SAFE, who="ana", why="the bank's published test IBAN"
    )
    policy = tmp_path / "policy.toml"
    policy.write_text((REPO / "policy.toml").read_text().replace('  "age_superseded",', ""))
    config = tmp_path / "vetted.toml"
    config.write_text(f'[paths]\nwork_dir = "{work}"\npolicy_file = "{policy}"\n')
    assert cli.main(["--config", str(config), "retier", "--dry-run"]) == 0
    assert _tiers(work / "documents.parquet")["iban.md"] == "unsafe"  # a dry run writes nothing
    assert cli.main(["--config", str(config), "retier"]) == 0
    out = capsys.readouterr()
    assert "unsafe -> safe   iban.md" in out.out and "changed 2" in out.err
    table = read_documents(work / "documents.parquet")
    rows = {r["doc_id"]: r for r in table.select(["doc_id", "tier", "reasons", "overridden_by"]).to_pylist()}
    assert rows["iban.md"]["tier"] == "safe" and rows["iban.md"]["overridden_by"] == "ana"
    assert rows["iban.md"]["reasons"] == ["pii_iban", "steward_override_safe"]
    assert rows["old-notes.md"]["tier"] == "safe" and table.num_rows == 4


def test_retier_keeps_a_redacted_document_safe_and_holds_back_a_redaction_it_cannot_do(tmp_path):
    from curation.scorers import SensitiveDataScorer
    from pipelines.stages import redact_documents

    texts = {"mail.md": "Ask Ana at ana.lopez@fastmail.fm. " + "word " * 40}
    texts["iban.md"] = "Refund to DE89 3704 0044 0532 0130 00."
    docs = [doc(text, path=path) for path, text in texts.items()]
    scorer = SensitiveDataScorer()
    scores = {d.doc_id: {**_scores(), "sensitive": scorer.score(d)} for d in docs}
    policy = load_policy(REPO / "policy.toml")
    decisions = {d.doc_id: policy.decide(d.doc_id, scores[d.doc_id]) for d in docs}
    assert redact_documents(docs, scores, decisions) == {"pii_email": 1}
    path = tmp_path / "documents.parquet"
    write_documents(path, documents_table(docs, scores, decisions))
    same = retier_table(read_documents(path), policy, {})
    assert same.changed == [] and same.decisions["mail.md"].reasons == ["pii_email", "redacted_pii_email"]
    # IBANs redacted from now on: the stored text still holds this one, so it waits for the next ingest
    text = (REPO / "policy.toml").read_text().replace("[actions]\n", '[actions]\npii_iban = "redact"\n')
    (tmp_path / "policy.toml").write_text(text)
    changed = retier_table(read_documents(path), load_policy(tmp_path / "policy.toml"), {})
    assert changed.changed == [("iban.md", "unsafe", "review")]
    assert "policy_redaction_needs_ingest" in changed.decisions["iban.md"].reasons
    assert changed.decisions["mail.md"].tier is Tier.SAFE
