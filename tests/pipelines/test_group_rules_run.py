"""A steward's group rule on the next real ingestion run: short knowledge-base entries wait in review; an
approve rule on (kb-foldoc, quality_too_short) lets them in on the next run, into the index, with the rule
named in their reasons and one `rule_applied` line in the audit; the rest of the corpus is untouched."""

from __future__ import annotations

import pyarrow.parquet as pq

from curation.steward import StewardDB
from pipelines import ingest
from pipelines.core.index_files import current_build, read_chunks
from tests.conftest import settings_for
from tests.pipelines.test_incremental import _write, corpus  # noqa: F401 (the fixture)

SHORT = {
    "ping.txt": "ping: send ICMP ECHO_REQUEST packets to network hosts to check that they answer.",
    "grep.txt": "grep: print the lines of files that match a regular expression pattern.",
}


def _tiers(settings) -> dict[str, tuple[str, list[str]]]:
    table = pq.read_table(settings.layout.documents, columns=["path", "tier", "reasons"]).to_pylist()
    return {r["path"]: (r["tier"], r["reasons"]) for r in table}


def test_an_approve_rule_lets_a_group_in_on_the_next_run_and_is_audited(tmp_path, corpus, embedder):  # noqa: F811
    kb = corpus / "kb-foldoc"
    kb.mkdir()
    for name, text in SHORT.items():
        _write(kb, name, text)
    settings = settings_for(tmp_path / "work", corpus)
    ingest.run(settings, corpus, settings.layout, embedder=embedder)
    first = _tiers(settings)
    short = sorted(p for p in first if p.startswith("kb-foldoc/"))
    assert len(short) == 2 and all(
        first[p][0] == "review" and "quality_too_short" in first[p][1] for p in short
    )

    db = StewardDB(settings.layout.steward_db)
    rule = db.add_rule(
        source="kb-foldoc", reason="quality_too_short", decision="approve", who="ana", why="terse but right"
    )
    done = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    second = _tiers(settings)
    for path in short:
        tier, reasons = second[path]
        assert tier == "safe" and f"steward_rule_{rule.id}" in reasons and "quality_too_short" in reasons
    assert {p: t for p, (t, _) in second.items() if p not in short} == {
        p: t for p, (t, _) in first.items() if p not in short
    }
    build = current_build(settings.work_dir)
    assert build is not None
    indexed = set(read_chunks(build, ["doc_id"])["doc_id"].to_pylist())
    assert {d.doc_id for d in done.documents if d.path in short} <= indexed
    applied = [a for a in db.audit() if a["action"] == "rule_applied"]
    assert len(applied) == 1 and applied[0]["detail"].startswith(f"rule #{rule.id} decided 2 document(s)")
    report = done.report
    assert report is not None and "By source and reason" in report[1].read_text(encoding="utf-8")
