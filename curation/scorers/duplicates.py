"""Duplicates: exact (content hash) and near (MinHash LSH, Broder 1997, via datasketch).

Within each group the best version is kept: the most trusted source, then the newest, then the first path.
The others get `duplicate_exact` or `duplicate_near` and `duplicate_of` in details.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date

from datasketch import MinHash, MinHashLSH

from curation.models import Document, ScoreResult

_TOKEN = re.compile(r"\w+")


def _shingles(text: str, n: int = 5) -> set[bytes]:
    words = _TOKEN.findall(text.lower()[:200_000])
    return {" ".join(words[i : i + n]).encode() for i in range(max(1, len(words) - n + 1))}


class DuplicateScorer:
    name = "duplicate"

    def __init__(
        self,
        trust_of: Callable[[Document], float],
        *,
        near_threshold: float = 0.9,  # Jaccard over 5-word shingles; lower catches more, risks false merges
        num_perm: int = 128,  # more permutations = steadier estimate, slower
    ) -> None:
        self.trust_of = trust_of
        self.near_threshold = near_threshold
        self.num_perm = num_perm

    def _rank(self, doc: Document) -> tuple[float, date, str]:
        return (-self.trust_of(doc), -(doc.updated or date.min).toordinal(), doc.path)  # type: ignore[return-value]

    def score_many(self, docs: Sequence[Document]) -> list[ScoreResult]:
        parent = list(range(len(docs)))
        kind: dict[int, str] = {}

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(i: int, j: int, how: str) -> None:
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[rj] = ri
                kind.setdefault(j, how)

        by_hash: dict[str, int] = {}
        for i, doc in enumerate(docs):
            first = by_hash.setdefault(doc.content_hash, i)
            if first != i:
                union(first, i, "exact")
        lsh = MinHashLSH(threshold=self.near_threshold, num_perm=self.num_perm)
        for i, doc in enumerate(docs):
            if by_hash[doc.content_hash] != i:
                continue
            mh = MinHash(num_perm=self.num_perm)
            mh.update_batch(list(_shingles(doc.text)))
            for j in lsh.query(mh):
                union(int(j), i, "near")
            lsh.insert(str(i), mh)

        groups: dict[int, list[int]] = {}
        for i in range(len(docs)):
            groups.setdefault(find(i), []).append(i)
        results = [ScoreResult(self.name, 1.0) for _ in docs]
        for members in groups.values():
            if len(members) == 1:
                continue
            keep = min(members, key=lambda i: self._rank(docs[i]))
            for i in members:
                results[i].details["group_size"] = len(members)
                if i == keep:
                    continue
                exact = docs[i].content_hash == docs[keep].content_hash
                results[i] = ScoreResult(
                    self.name,
                    0.0,
                    ["duplicate_exact" if exact else "duplicate_near"],
                    {"duplicate_of": docs[keep].doc_id, "group_size": len(members)},
                )
        return results
