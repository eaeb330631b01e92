"""Build the folder corpus: pick the documents, write them, then the manifest, canaries and `.complete`.

The build writes into a temporary sibling folder and renames it into place, so a crash or Ctrl-C never
leaves a half corpus that looks finished; the marker, written last, is what says "finished". Nothing is
fsynced: the corpus is rebuilt from installed packages in seconds, so surviving a power cut is not worth
2,500 syncs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pipelines.corpus import broken, confidential, docs, foldoc, tickets
from pipelines.corpus.model import CorpusFile, source_rng
from pipelines.corpus.templates import default_cache_dir, load_template_book

CorpusSize = Literal["demo", "test"]
# Bump when what a seed selects or how files are laid out changes, so an old corpus is rebuilt, not reused.
CORPUS_FORMAT = 3  # 2: PostgreSQL core pages always in; smaller demo plan. 3: weekdays from a fixed window
MARKER = ".complete"
MANIFEST = "manifest.jsonl"
CANARIES = "canaries.jsonl"
SOURCES = (
    "product-docs-python",
    "product-docs-postgres",
    "kb-foldoc",
    "tickets-changelogs",
    "confidential",
    "broken",
)


@dataclass(slots=True, frozen=True)
class SizePlan:
    """How many documents each source gives; the release notes are part of the PostgreSQL pages."""

    python_pages: int
    postgres_pages: int
    postgres_release_notes: int
    foldoc_entries: int
    changelog_entries: int
    changelog_entries_per_package: int  # more per package = more old tickets, fewer packages
    confidential_docs: int


PLANS: Mapping[str, SizePlan] = MappingProxyType({
    # ~2,250 documents: enough for retrieval to be worth measuring; text kept to ~4 MB so a CPU embeds it
    # in minutes (the library pages are the long ones).
    "demo": SizePlan(150, 250, 21, 900, 900, 3, 40),
    # ~260 documents: every source and every failure kind, small enough for the test suite.
    "test": SizePlan(40, 40, 6, 80, 80, 2, 15),
})  # fmt: skip


@dataclass(slots=True)
class CorpusSummary:
    out_dir: Path
    size: str
    seed: int
    counts: dict[str, int]
    total: int
    n_confidential: int
    n_broken: int
    reused: bool = False  # True when an existing corpus with the same size and seed was returned as is

    def to_dict(self) -> dict[str, object]:
        return {
            "out_dir": str(self.out_dir),
            "size": self.size,
            "seed": self.seed,
            "counts": dict(self.counts),
            "total": self.total,
            "n_confidential": self.n_confidential,
            "n_broken": self.n_broken,
            "reused": self.reused,
        }

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any], out_dir: Path, *, reused: bool) -> CorpusSummary:
        return cls(
            out_dir=out_dir,
            size=str(saved["size"]),
            seed=int(saved["seed"]),
            counts={str(k): int(v) for k, v in saved["counts"].items()},
            total=int(saved["total"]),
            n_confidential=int(saved["n_confidential"]),
            n_broken=int(saved["n_broken"]),
            reused=reused,
        )


class CorpusDirNotEmpty(FileExistsError):
    """The output folder holds something that is not a corpus this module built; it is never deleted."""


def build_corpus(
    out_dir: Path, size: CorpusSize, seed: int = 7, *, cache_dir: Path | None = None
) -> CorpusSummary:
    """Build the corpus of `size` into `out_dir`, or return the one already there for the same size and seed.

    Args:
        out_dir: the corpus root; replaced only if it is empty or an earlier corpus (it has `.complete`).
        size: "demo" (~2,250 documents) or "test" (~260).
        seed: picks the sampled pages, entries and packages, and seeds Faker for the confidential files.
        cache_dir: where the presidio-evaluator wheel is kept (default ~/.cache/vetted).
    """
    if size not in PLANS:
        raise ValueError(f"size must be one of {sorted(PLANS)}, got {size!r}")
    out_dir = Path(out_dir)
    existing = _read_marker(out_dir)
    if existing and _same_build(existing, size, seed):
        return CorpusSummary.from_dict(existing["summary"], out_dir, reused=True)
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it owner-only; the corpus is read by other users' services too
    try:
        summary = _write_corpus(staging, out_dir, PLANS[size], size, seed, cache_dir or default_cache_dir())
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _write_corpus(
    root: Path, out_dir: Path, plan: SizePlan, size: str, seed: int, cache_dir: Path
) -> CorpusSummary:
    """Write everything into `root` (the staging folder); the summary already names `out_dir`."""
    counts = dict.fromkeys(SOURCES, 0)
    rows = [_write(root, file, counts) for file in _debian_files(plan, seed)]
    # The confidential set comes last: a missing Debian package fails before any download is tried.
    book = load_template_book(cache_dir)
    planted = confidential.confidential_docs(
        plan.confidential_docs, book, seed, source_rng(seed, confidential.SOURCE)
    )
    rows += [_write(root, doc.file, counts) for doc in planted]
    rows += [_write(root, file, counts) for file in broken.broken_files(source_rng(seed, broken.SOURCE))]
    _write_jsonl(root / MANIFEST, sorted(rows, key=lambda row: str(row["path"])))
    _write_jsonl(root / CANARIES, [doc.canary_row() for doc in planted])
    summary = CorpusSummary(
        out_dir=out_dir,
        size=size,
        seed=seed,
        counts=counts,
        total=sum(counts.values()),
        n_confidential=counts[confidential.SOURCE],
        n_broken=counts[broken.SOURCE],
    )
    # Without out_dir: the same seed gives the same bytes wherever the corpus is built or moved to.
    saved = {k: v for k, v in summary.to_dict().items() if k not in ("out_dir", "reused")}
    marker = {"format": CORPUS_FORMAT, "size": size, "seed": seed, "summary": saved}
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return summary


def _debian_files(plan: SizePlan, seed: int) -> Iterator[CorpusFile]:
    yield from docs.python_pages(plan.python_pages, source_rng(seed, "product-docs-python"))
    yield from docs.postgres_pages(
        plan.postgres_pages, plan.postgres_release_notes, source_rng(seed, "product-docs-postgres")
    )
    yield from foldoc.foldoc_files(plan.foldoc_entries, source_rng(seed, foldoc.SOURCE))
    yield from tickets.ticket_files(
        plan.changelog_entries, plan.changelog_entries_per_package, source_rng(seed, tickets.SOURCE)
    )


def _write(root: Path, file: CorpusFile, counts: dict[str, int]) -> dict[str, object]:
    target = root / file.path
    target.parent.mkdir(parents=True, exist_ok=True)
    # "x" mode: two sources choosing the same name is a bug to see, not a document to lose silently.
    with open(target, "xb") as out:
        out.write(file.data)
    counts[file.source] += 1
    return {**file.manifest_row(), "bytes": len(file.data)}


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, object]]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_marker(out_dir: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _same_build(marker: Mapping[str, Any], size: str, seed: int) -> bool:
    built_as = (marker.get("format"), marker.get("size"), marker.get("seed"))
    return built_as == (CORPUS_FORMAT, size, seed) and isinstance(marker.get("summary"), dict)


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.is_file():
        raise CorpusDirNotEmpty(f"{out_dir} is a file; give a folder for the corpus")
    if out_dir.is_dir() and not (out_dir / MARKER).exists() and any(out_dir.iterdir()):
        raise CorpusDirNotEmpty(
            f"{out_dir} is not empty and holds no corpus ({MARKER} is missing): "
            "choose another --out or empty it"
        )


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    # rename(2) is atomic but cannot replace a non-empty folder: move the old corpus aside, then drop it.
    retired = None
    if out_dir.exists():
        retired = out_dir.with_name(f".{out_dir.name}.retired-{os.getpid()}")
        out_dir.rename(retired)
    staging.rename(out_dir)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
