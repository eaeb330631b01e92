"""Duplicates: exact (content hash) and near (MinHash LSH, Broder 1997, banded as datasketch's MinHashLSH).

Within each group the best version is kept: the most trusted source, then the newest, then the first path.
The others get `duplicate_exact` or `duplicate_near` and `duplicate_of` in details.

Signatures are computed here with numpy rather than datasketch's `MinHash.update_batch`, which hashes every
shingle with SHA-1 in a Python loop (~0.6 ms for a 2 KB document). Shingles are 5 consecutive whitespace
tokens of the lower-cased text; each token is hashed once (CRC-32) and a shingle's hash combines its tokens'
(a polynomial over uint64, mixed once more). The signature is one-permutation hashing (Li, Owen and Zhang,
NIPS 2012): each shingle hash falls in one of `num_perm` bins and each bin keeps its minimum, one pass instead
of `num_perm`; empty bins borrow their right-hand neighbour's value plus the distance ("rotation",
Shrivastava and Li, ICML 2014), so the share of equal bins still estimates the Jaccard similarity and
it is banded as any MinHash (datasketch's MinHashLSH picks the bands; `_Bands` holds them). An LSH candidate
counts as a near duplicate only when that estimate reaches the threshold: banding alone lets some lower pairs
through.

`signatures` (content hash -> signature) is the scorer's memory of the texts it has shingled: an incremental
run (pipelines.incremental) hands in the signatures it kept, so only new or changed text is shingled; the
banding is done again over every document, so groups across changed and unchanged documents stay exact.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import date

import numpy as np

from curation.models import Document, ScoreResult
from curation.scorers.base import Scorer

SHINGLE_CHARS = 200_000  # near-duplicate evidence saturates long before 50 MB: hash the first 200 KB
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier: spreads each token's hash over 64 bits
_LOW32 = np.uint64(0xFFFFFFFF)
_EMPTY = np.uint64(1 << 32)  # above every 32-bit value: marks an empty bin, then spaces borrowed values


class DuplicateScorer(Scorer):
    name = "duplicate"
    reason_prefixes = ("duplicate_",)

    def __init__(
        self,
        trust_of: Callable[[Document], float],
        *,
        near_threshold: float = 0.9,  # Jaccard over 5-word shingles; lower catches more, risks false merges
        num_perm: int = 128,  # more permutations = steadier estimate, slower
        shingle_words: int = 5,  # longer shingles = stricter about word order
    ) -> None:
        self.trust_of = trust_of
        self.near_threshold = near_threshold
        self.num_perm = num_perm
        self.shingle_words = shingle_words
        self._bins = np.arange(num_perm)
        self.signatures: dict[str, np.ndarray] = {}  # content hash -> signature, kept by the caller
        # datasketch pulls in scipy (~0.7 s): imported by a scorer that will run, not by every reader of the
        # scorer registry (curation.table, the steward pages)
        from datasketch import MinHashLSH

        # datasketch picks bands x rows by numerical integration (~30 ms): once here, not on every call
        probe = MinHashLSH(threshold=near_threshold, num_perm=num_perm)
        self._lsh_params = (probe.b, probe.r)

    def signature(self, text: str) -> np.ndarray:
        """The one-permutation MinHash signature (num_perm uint64 values) of the text's word shingles."""
        tokens = text[:SHINGLE_CHARS].lower().encode("utf-8", "surrogatepass").split()
        hashes = np.fromiter(map(zlib.crc32, tokens), dtype=np.uint64, count=len(tokens))
        n = self.shingle_words
        if len(hashes) > n:
            shingles = hashes[: len(hashes) - n + 1].copy()
            for j in range(1, n):
                shingles = shingles * _MIX + hashes[j : len(hashes) - n + 1 + j]
            hashes = shingles
        if len(hashes) == 0:
            hashes = np.zeros(1, dtype=np.uint64)  # no tokens: every empty text is one shingle, ""
        hashes = hashes * _MIX  # wraps mod 2^64; the high half picks the bin, the low half is the value
        signature = np.full(self.num_perm, _EMPTY, dtype=np.uint64)
        np.minimum.at(signature, (hashes >> np.uint64(32)) % np.uint64(self.num_perm), hashes & _LOW32)
        empty = signature == _EMPTY
        if empty.any():  # rotation: the next non-empty bin to the right, plus how far it is
            full = np.flatnonzero(~empty)
            right = full[np.searchsorted(full, self._bins) % len(full)]
            distance = (right - self._bins) % self.num_perm
            signature = signature[right] + distance.astype(np.uint64) * _EMPTY
        return signature

    def _rank(self, doc: Document) -> tuple[float, int, str]:
        return (-self.trust_of(doc), -(doc.updated or date.min).toordinal(), doc.path)

    def score_batch(self, docs: Sequence[Document]) -> list[ScoreResult]:
        parent = list(range(len(docs)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(i: int, j: int) -> None:
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[rj] = ri

        hashes = [d.content_hash for d in docs]
        first_of: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first = first_of.setdefault(h, i)
            if first != i:
                union(first, i)
        bands = _Bands(*self._lsh_params)
        signatures: dict[int, np.ndarray] = {}
        for i, doc in enumerate(docs):
            if first_of[hashes[i]] != i:
                continue
            sig = self.signatures.get(hashes[i])
            if sig is None or len(sig) != self.num_perm:
                sig = self.signatures[hashes[i]] = self.signature(doc.text)
            signatures[i] = sig
            for j in bands.query_and_insert(sig, i):
                if float(np.mean(signatures[j] == sig)) >= self.near_threshold:
                    union(j, i)
        return self._results(docs, hashes, find)

    def _results(
        self, docs: Sequence[Document], hashes: list[str], find: Callable[[int], int]
    ) -> list[ScoreResult]:
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
                results[i] = ScoreResult(
                    self.name,
                    0.0,
                    ["duplicate_exact" if hashes[i] == hashes[keep] else "duplicate_near"],
                    {"duplicate_of": docs[keep].doc_id, "group_size": len(members)},
                )
        return results


class _Bands:
    """MinHashLSH's banding (`b` bands of `r` rows; a candidate shares one band's values exactly) in dicts.

    It replaces datasketch's `MinHashLSH.query` and `insert`, which byte-swap and copy every band of every
    document and keep a key table beside the band tables (~30 us a 2 KB document, a third of this scorer);
    here a band's key is the slice of the signature's bytes, equal exactly when MinHashLSH's keys are (the
    same values, unswapped), so the candidates are the same set. Only the set matters: a near duplicate is
    a candidate whose estimate reaches the threshold, and the groups are the connected components of those
    pairs, whatever order they are joined in. `MinHashLSH` still chooses b and r (`_lsh_params`).
    tests/curation/test_duplicate.py checks the candidates against MinHashLSH's own.
    """

    __slots__ = ("_ranges", "_tables")

    def __init__(self, b: int, r: int) -> None:
        self._ranges = [(i * r, (i + 1) * r) for i in range(b)]  # each band's rows
        self._tables: list[dict[bytes, list[int]]] = [{} for _ in range(b)]

    def query_and_insert(self, signature: np.ndarray, key: int) -> set[int]:
        """The keys inserted before that share a band with `signature`; then `key` is inserted."""
        raw, size = signature.tobytes(), signature.itemsize  # rows -> byte offsets, whatever the dtype
        found: set[int] = set()
        for (lo, hi), table in zip(self._ranges, self._tables, strict=True):
            keys = table.setdefault(raw[lo * size : hi * size], [])
            found.update(keys)
            keys.append(key)
        return found
