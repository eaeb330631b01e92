"""`make demo`: build the demo corpus, run the ingestion flow, bring the chatbot up, ask three real questions
from the corpus, print the answers with citations and the report and profile paths, then keep serving."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from pipelines.core.settings import Settings
from pipelines.fixtures.build import build_corpus
from pipelines.flows import ingest_flow
from serving.engine import VLLMEngine
from serving.runtime import launched_engine, running_stack, serving_app

# Each is answered by a page the demo corpus always holds (the corpus keeps every FAQ and tutorial page).
# (tutorial/venv.html would be the natural first question, but it carries a real author's e-mail address, so
# the policy holds it unsafe until a steward approves it: the demo's report shows it.)
DEMO_QUESTIONS = (
    "How do I read and write files in Python?",  # python3.11-doc tutorial/inputoutput.html
    "Why are there separate tuple and list data types in Python?",  # python3.11-doc faq/design.html
    "What does the VACUUM command do in PostgreSQL?",  # postgresql-doc-15 sql-vacuum.html, routine-vacuuming
)


DEMO_USER = "demo-staff"


def demo_staff_token(settings: Settings) -> str:
    """A one-day token of the staff account "demo-staff" (made on first use): the demo's questions go
    through the same token check as everyone's."""
    from serving.accounts import AccountStore, Role

    accounts = AccountStore(settings.layout.steward_db)
    accounts.ensure_user(DEMO_USER, Role.STAFF)
    return accounts.issue(DEMO_USER, expires_days=1).token


def run_demo(settings: Settings, config: Path | None) -> int:
    # vLLM loads (the base model converted first on a fresh machine) while the corpus is built and ingested:
    # its start was ~2.5 of the first `make demo`'s minutes, spent after the ingestion, waiting
    with ThreadPoolExecutor(1, thread_name_prefix="engine-launch") as launch:
        launching = launch.submit(launched_engine, settings)
        try:
            run = _build_and_ingest(settings, config)
        except BaseException:
            _stop_when_launched(launching)
            raise
    answered = 0
    with (
        running_stack(settings, launching.result()) as (engine, service),
        serving_app(settings, service) as url,
    ):
        print(f"engine: {engine.base_url} ; chat API: {url}/v1/chat")
        auth = {"Authorization": f"Bearer {demo_staff_token(settings)}"}  # asks as staff would

        def ask(question: str) -> dict[str, Any]:
            reply = httpx.post(f"{url}/v1/chat", json={"question": question}, headers=auth, timeout=600)
            return dict(reply.raise_for_status().json())

        # asked together, as staff would: vLLM batches them (one decode step serves all three)
        with ThreadPoolExecutor(len(DEMO_QUESTIONS), thread_name_prefix="demo-question") as asking:
            replies = list(asking.map(ask, DEMO_QUESTIONS))
        for question, reply in zip(DEMO_QUESTIONS, replies, strict=True):
            answered += bool(reply["citations"])
            print(f"\nQ: {question}\nA: {reply['answer']}")
            for c in reply["citations"]:
                print(f"   [{c['n']}] {c['title']} ({c['source']}: {c['path']}) score {c['score']:.2f}")
        print(f"\nsteward report: {run['steward_report']}\nI/O profile:    {run['io_profile']}")
        if os.environ.get("VETTED_DEMO_ONESHOT") == "1":
            return 0 if answered == len(DEMO_QUESTIONS) else 1
        print(f"\nserving on {url} (POST /v1/chat); Ctrl-C to stop")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
    return 0


def _build_and_ingest(settings: Settings, config: Path | None) -> dict[str, Any]:
    corpus = settings.resolve(settings.paths.corpus_dir)
    summary = build_corpus(corpus, "demo")
    print(f"corpus: {summary.total} files in {corpus} ({'reused' if summary.reused else 'built'})")
    run = dict(ingest_flow(str(config) if config else None, resolved_paths(settings)))
    print(
        f"ingest: {run['inputs']} inputs = {run['documents']} documents + {run['quarantined']} quarantined; "
        f"tiers {run['tiers']}; {run['index']['chunks']} safe chunks indexed"
    )
    return run


def _stop_when_launched(launching: Future[VLLMEngine]) -> None:
    """The ingestion failed or was interrupted: stop the engine launched beside it (once its launch is
    done), so that no vLLM process outlives the demo."""
    try:
        engine = launching.result()
    except Exception:  # noqa: BLE001 - the launch's own error is not the one to report; the ingest's is
        return
    engine.stop()


def resolved_paths(settings: Settings) -> dict[str, object]:
    """Pass the resolved paths on, so the flow sees what the command line chose."""
    return {
        "paths.work_dir": str(settings.work_dir),
        "paths.corpus_dir": str(settings.resolve(settings.paths.corpus_dir)),
        "paths.sources_file": str(settings.resolve(settings.paths.sources_file)),
        "paths.policy_file": str(settings.resolve(settings.paths.policy_file)),
    }
