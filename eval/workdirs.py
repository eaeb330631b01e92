"""Isolated work folders for evaluation: a corpus curated and indexed by the real stages, or indexed whole.

    curated    load -> score -> tier -> chunk -> embed -> index (safe tier only), as `vetted ingest` does
    uncurated  load -> chunk -> embed -> index of EVERY readable document (unsafe, stale, duplicated
               included), each marked safe in its documents table so the same service retriever serves it:
               the baseline a team without curation would ship

Each lives in `<cache_root>/<variant>-<key>/`, where the key hashes the corpus bytes, the settings and policy
files that shape the build, and the source of the code that builds it. The same corpus under the same code is
built once and reused; any change to one of them gives a new folder, never a stale one. A folder is built
under a temporary name and renamed into place after `build.json` is written, so a crash leaves nothing that
looks finished.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from curation.layout import RunFolder, WorkLayout
from pipelines import ingest
from pipelines.core.embedding import Embedder
from pipelines.core.settings import Settings

Variant = Literal["curated", "uncurated"]
VARIANTS: tuple[Variant, ...] = ("curated", "uncurated")
MARKER = "build.json"
KEEP_PER_VARIANT = 4  # finished folders kept per variant (7 MB each for the test corpus, ~10x for the demo)
# The packages a build may import: by the layer rule (an import never runs up, checked by import-linter in
# `make lint`) the ingestion run in pipelines imports only pipelines and curation. Every source file of both
# is in the key, so a new module can never reuse a folder built by older code.
BUILD_PACKAGES = ("curation", "pipelines")
_REPO = Path(__file__).resolve().parents[1]


@dataclass(slots=True, frozen=True)
class WorkDir:
    """A built evaluation folder: what `SafeRetriever(path, ...)` opens, and how it was built."""

    path: Path
    variant: Variant
    key: str
    reused: bool
    build: dict[str, Any]


def corpus_fingerprint(corpus_dir: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in sorted order (manifest and canaries included)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(corpus_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_key(corpus_dir: Path, settings: Settings, variant: Variant, embedder: Embedder) -> str:
    """What the build depends on, hashed: corpus, settings, policy and sources, embedding model, code."""
    s = settings
    parts: dict[str, Any] = {
        "variant": variant,
        "corpus": corpus_fingerprint(corpus_dir),
        "settings": s.model_dump(
            mode="json", include={"domain", "curation", "chunking"}, exclude={"curation": {"today"}}
        ),
        "today": s.curation.as_of().isoformat(),  # ages are measured on it, set or not: tomorrow differs
        "model": str(embedder.model_dir),
        "files": {name: _file_hash(s.resolve(p)) for name, p in _config_files(s).items()},
        "code": _code_hash(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def prepare(
    corpus_dir: Path, settings: Settings, variant: Variant, embedder: Embedder, cache_root: Path
) -> WorkDir:
    """The work folder for this corpus and variant: reused when one with the same key exists, else built."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    corpus_dir = corpus_dir.resolve()
    if not corpus_dir.is_dir():
        raise FileNotFoundError(
            f"corpus folder {corpus_dir} not found (build one: vetted corpus test --out DIR)"
        )
    key = build_key(corpus_dir, settings, variant, embedder)
    final = cache_root / f"{variant}-{key}"
    if (final / MARKER).is_file():
        return WorkDir(final, variant, key, True, json.loads((final / MARKER).read_text(encoding="utf-8")))
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=cache_root))
    staging.chmod(0o755)  # mkdtemp makes it owner-only; a service under another user may read it
    try:
        build = build_into(staging, corpus_dir, settings, variant, embedder)
        build.update(variant=variant, key=key, corpus=str(corpus_dir))
        (staging / MARKER).write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")
        _publish(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after the rename; a failed build's leftovers
    _prune(cache_root, variant, keep=KEEP_PER_VARIANT)
    return WorkDir(final, variant, key, False, build)


def build_into(
    work: Path, corpus: Path, settings: Settings, variant: Variant, embedder: Embedder
) -> dict[str, Any]:
    """The ingestion run into `work` (curated, or the uncurated baseline); returns the build summary."""
    done = ingest.run(
        settings,
        corpus,
        WorkLayout(work),
        curate=variant == "curated",
        steward_overrides=False,  # a fresh folder: no steward has decided anything here
        report=False,
        embedder=embedder,
        run_id=f"eval-{variant}-{time.strftime('%Y%m%dT%H%M%S')}",
    )
    done.profile.write(work / RunFolder.IO_PROFILE)  # the folder is its own run
    assert done.loaded is not None and done.build is not None
    return {
        "documents": len(done.documents),
        "quarantined": len(done.loaded.quarantined),
        "tiers": done.tiered.counts if done.tiered else {},
        "indexed_documents": len(done.safe_documents),
        "chunks": done.build.n_chunks,
        "stage_seconds": {r.stage: round(r.wall_s, 3) for r in done.profile.stages},
    }


def _publish(staging: Path, final: Path) -> None:
    try:
        staging.rename(final)  # atomic; fails when another process published the same key first
    except OSError:
        if not (final / MARKER).is_file():
            raise


def _prune(cache_root: Path, variant: Variant, *, keep: int) -> None:
    """Drop the oldest finished folders of a variant beyond `keep` (each code or corpus change adds one)."""
    done = [p for p in cache_root.glob(f"{variant}-*") if (p / MARKER).is_file()]
    for old in sorted(done, key=lambda p: (p / MARKER).stat().st_mtime)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _config_files(settings: Settings) -> dict[str, Path]:
    return {"sources": settings.paths.sources_file, "policy": settings.paths.policy_file}


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


@cache
def _code_hash() -> str:
    """Hashed once per process: the code this process imported builds, whatever changes on disk later."""
    digest = hashlib.sha256()
    for package in BUILD_PACKAGES:
        for path in sorted((_REPO / package).rglob("*.py")):
            digest.update(path.relative_to(_REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
