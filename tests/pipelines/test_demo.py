"""`vetted demo` launches vLLM beside the ingestion: when the ingestion fails, that engine is stopped, and the
ingestion's error (not the engine's) is what the command raises. The whole demo is `make demo` itself."""

from __future__ import annotations

import threading

import pytest

from pipelines.cli import demo


class LaunchedEngine:
    """Stands in for a launched VLLMEngine: records stop(); launching it takes a moment, as vLLM's does."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()


def test_a_failed_ingestion_stops_the_engine_launched_beside_it(monkeypatch, tmp_path) -> None:
    engine = LaunchedEngine()
    launching = threading.Event()

    def launch(settings):
        launching.set()
        threading.Event().wait(0.2)  # the ingestion fails before the launch is done: stop must still come
        return engine

    def failing_ingest(settings, config):
        assert launching.wait(5), "the engine is launched before the ingestion runs"
        raise RuntimeError("the corpus folder is unreadable")

    monkeypatch.setattr(demo, "launched_engine", launch)
    monkeypatch.setattr(demo, "_build_and_ingest", failing_ingest)
    with pytest.raises(RuntimeError, match="the corpus folder is unreadable"):
        demo.run_demo(object(), None)  # type: ignore[arg-type]
    assert engine.stopped.is_set()


def test_a_failed_launch_leaves_the_ingestion_error_to_report(monkeypatch) -> None:
    def broken_launch(settings):
        raise OSError("no model in the cache")

    def failing_ingest(settings, config):
        raise ValueError("policy.toml: unknown tier")

    monkeypatch.setattr(demo, "launched_engine", broken_launch)
    monkeypatch.setattr(demo, "_build_and_ingest", failing_ingest)
    with pytest.raises(ValueError, match="unknown tier"):
        demo.run_demo(object(), None)  # type: ignore[arg-type]
