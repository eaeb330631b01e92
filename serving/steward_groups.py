"""Group decisions for the steward: what needs a decision by source and reason (curation.groups), and the
rules that decide a whole group at once (curation.policy.GroupRule, stored in steward.db with who, when, why).

When a rule takes effect:
- reject: at once. steward.db holds it, so the tier now (curation.tiers) makes every matching document of
  the last run unsafe for the retriever and the pages, and the index gets a build without their chunks
  (taking something out is always safe to do early);
- approve and redact: on the next run, which weighs each document's other reasons, masks the spans and
  indexes what comes out safe (only the run reads the text and can redact it);
- retiring a rule: the next run decides without it (a rejected document comes back to the index then).
Every run writes `rule_applied` lines into the audit log: how many documents each rule decided.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from curation.groups import needs_a_steward
from curation.policy import GroupRule, TierPolicy, check_rule, load_policy
from curation.tiers import rejected_by_rules
from pipelines.core import index_files, index_store
from serving import steward_views as views
from serving.steward_service import IndexUpdateFailed, StewardService


class UnknownSource(ValueError):
    """The rule names a source, or a reason within it, that the last run did not see."""


class StewardGroups:
    def __init__(self, service: StewardService) -> None:
        self.service = service
        self.db = service.db

    def _policy(self) -> TierPolicy:
        settings = self.service.settings
        return load_policy(settings.resolve(settings.paths.policy_file)).with_rules(self.db.rules())

    def groups(self, *, source: str | None = None, limit: int = 200) -> dict[str, Any]:
        """The groups of documents held out of safe (largest first), each with what approve, reject and
        redact would change; groups an active rule already decides are left out."""
        rows = self.service.listing()
        if source:
            rows = [r for r in rows if r["source"] == source]
        found = needs_a_steward(rows, self._policy(), overridden=self.db.overrides())
        return {"total": len(found), "groups": [g.to_dict() for g in found[:limit]]}

    def rules(self, rule_id: int | None = None) -> list[dict[str, Any]]:
        """Every rule (or only `rule_id`), newest first, with the documents of the last run it matches."""
        matched = Counter(
            (row["source"], reason) for row in self.service.listing() for reason in row["reasons"] or []
        )
        return [
            {
                **r,
                "at": views.iso_time(r["at"]),
                "retired_at": views.iso_time(r["retired_at"]) if r["retired_at"] else None,
                "documents": matched[(r["source"], r["reason"])],
            }
            for r in self.db.rule_rows()
            if rule_id is None or r["id"] == rule_id
        ]

    def add_rule(self, *, source: str, reason: str, decision: str, who: str, why: str) -> dict[str, Any]:
        """Store a rule (and, for reject, take its documents out of the index now).

        Raises:
            UnknownSource: no document of the last run from `source` carries `reason` (a typo decides none).
            ValueError: a decision the reason cannot take, or an empty why (curation.policy.check_rule).
            curation.steward.RuleConflict: an active rule already decides this source and reason.
            IndexUpdateFailed: stored, but the index could not follow (the tier check still applies).
        """
        check_rule(reason, decision)  # what cannot apply anywhere is said before what this corpus lacks
        rows = self.service.listing()
        if not any(r["source"] == source for r in rows):
            raise UnknownSource(f"no document of the last run comes from source {source!r}")
        matching = [r["doc_id"] for r in rows if r["source"] == source and reason in (r["reasons"] or [])]
        if not matching:
            raise UnknownSource(f"no document of {source!r} carries {reason!r} in the last run")
        with self.service.write_lock:
            rule = self.db.add_rule(source=source, reason=reason, decision=decision, who=who, why=why.strip())
            change, chunks = "none", 0
            if decision == "reject":
                change, chunks = self._take_out(rule, rows, who)
        build = index_files.current_build(self.service.work_dir)
        return {
            "rule": self.rules(rule.id)[0],
            "documents": len(matching),
            "applies": "now" if decision == "reject" else "next run",
            "index_change": change,
            "chunks": chunks,
            "build_id": build.name if build else None,
        }

    def _take_out(self, rule: GroupRule, rows: list[views.Row], who: str) -> tuple[str, int]:
        """Remove from the index the documents a reject rule makes unsafe now (those it holds)."""
        rejected = rejected_by_rules(((r["doc_id"], r["source"], r["reasons"] or []) for r in rows), [rule])
        indexed = self.service.indexed_hashes()
        out = sorted(d for d in rejected if d in indexed)
        if not out:
            return "none", 0
        build = index_files.current_build(self.service.work_dir)
        assert build is not None
        leaving = set(out)
        n = sum(1 for d in index_files.read_chunks(build, ["doc_id"])["doc_id"].to_pylist() if d in leaving)
        try:
            index_store.remove_documents(self.service.work_dir, out)
        except Exception as exc:
            self.db.log(who=who, action="index_update_failed", detail=f"rule #{rule.id}: {exc!r}"[:500])
            raise IndexUpdateFailed(f"rule stored; the index update failed: {exc}") from exc
        detail = f"rule #{rule.id}: {n} chunk(s) of {len(out)} document(s) removed"
        self.db.log(who=who, action="index_removed", detail=detail)
        return "removed", n

    def retire_rule(self, rule_id: int, *, who: str, why: str) -> dict[str, Any]:
        """Retire a rule (curation.steward.UnknownRule when none is active under this id)."""
        retired = self.db.retire_rule(rule_id, who=who, why=why.strip())
        return self.rules(retired.id)[0]
