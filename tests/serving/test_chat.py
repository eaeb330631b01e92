"""The chat API against the real vLLM server, over the index the real flow built from the test corpus."""

from __future__ import annotations

import json

import httpx
import pytest

from serving.engine import VLLMEngine, find_engine_python
from serving.rag import NO_SAFE_CONTEXT, ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.runtime import chat_service, running_app
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def engine(base_model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("engine") / "vllm.log"
    with VLLMEngine(
        model_dir=base_model_dir,
        served_name="vetted-smollm2",
        python=find_engine_python(REPO_ROOT),
        log_path=log,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def api(ingested, engine, embedder):
    settings, _ = ingested
    service = chat_service(settings, engine.base_url, embedder)
    with running_app(service, host="127.0.0.1", port=_free_port(), steward_token=TOKEN) as url:
        yield url


TOKEN = "chat-test-token-0123456789"  # the legacy steward token: the admin account, which may chat


def _free_port() -> int:
    from serving.engine import free_port

    return free_port()


def ask(api: str, question: str) -> dict:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    reply = httpx.post(f"{api}/v1/chat", json={"question": question}, headers=auth, timeout=300)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_faq_question_cites_the_faq_page(api):
    reply = ask(api, "Why are there separate tuple and list data types in Python?")
    assert reply["has_safe_context"] is True and reply["answer"].strip()
    assert "product-docs-python/faq/design.html" in [c["path"] for c in reply["citations"]]
    assert all(c["score"] >= 0.35 for c in reply["citations"])


def test_question_about_confidential_document_cites_no_unsafe_document(api, ingested, test_corpus):
    settings, _ = ingested
    import pyarrow.parquet as pq

    tiers = dict(
        zip(
            *pq.read_table(settings.work_dir / "documents.parquet", columns=["doc_id", "tier"])
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    canaries = [json.loads(x) for x in (test_corpus / "canaries.jsonl").read_text().splitlines()]
    hr = next(c for c in canaries if "hr" in c["path"])
    reply = ask(api, f"What is the salary and home address of the employee in the HR export {hr['canary']}?")
    assert all(tiers[c["doc_id"]] == "safe" for c in reply["citations"])
    assert not any(c["path"].startswith("confidential/") for c in reply["citations"])
    assert hr["canary"] not in reply["answer"]


def test_no_safe_context_answers_so_without_calling_the_model(ingested, embedder):
    settings, _ = ingested
    retriever = SafeRetriever(settings.work_dir, embedder, top_k=3, min_similarity=0.35)
    # a model URL where nothing listens: any model call would raise, so a clean answer proves none was made
    dead = make_llm(
        base_url="http://127.0.0.1:9/v1", model="none", max_tokens=8, temperature=0.0, context_window=2048
    )
    answer = ChatService(retriever, dead).answer("zxqv blorp frobnicate wibble quux?")
    assert answer.has_safe_context is False and answer.citations == []
    assert answer.answer == NO_SAFE_CONTEXT


def test_healthz_names_the_index_build(api, ingested):
    settings, summary = ingested
    health = httpx.get(f"{api}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["index_build"] == summary["index"]["build_id"]
