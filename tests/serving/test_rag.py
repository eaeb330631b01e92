"""serving.rag: the prompt, the answer modes and the output guard over a small real index and an LLM stub."""

from __future__ import annotations

from dataclasses import asdict

import pydantic
import pytest

from pipelines.core.prompt import SYSTEM_PROMPT
from pipelines.core.settings import AnswerSettings, load_settings
from serving.rag import NO_SAFE_CONTEXT, ChatService, build_messages, group_by_document, make_llm
from serving.retriever import Hit, SafeRetriever
from serving.schemas import ChatResponse
from tests.serving.openai_stub import openai_stub
from tests.serving.small_index import CANARY, LIST_QUESTION, PRINTER_QUESTION, TEXTS, build_small_index


def hit(doc: str, n: int, score: float) -> Hit:
    return Hit(
        doc_id=doc,
        node_id=f"{doc}:{n}",
        title=f"T{doc}",
        source="s",
        path=f"{doc}.html",
        score=score,
        text=f"text of {doc} chunk {n}",
    )


def test_chunks_of_one_document_become_one_numbered_source_in_rank_order():
    groups = group_by_document([hit("a", 0, 0.9), hit("b", 0, 0.8), hit("a", 3, 0.7)])
    assert [[h.node_id for h in g] for g in groups] == [["a:0", "a:3"], ["b:0"]]
    user = build_messages("q?", groups)[1].content
    assert "[1] Ta (s)\ntext of a chunk 0\n...\ntext of a chunk 3" in user and "[2] Tb" in user
    assert "[3]" not in user and user.endswith("Question: q?")


def test_a_citation_says_where_its_best_chunk_is_in_the_file():
    from dataclasses import replace

    from serving.rag import _citations

    groups = group_by_document([
        replace(hit("a", 4, 0.9), location="page 12"), replace(hit("a", 0, 0.5), location="page 1"),
        hit("b", 0, 0.8),
    ])  # fmt: skip
    cites = _citations(groups, ["x", "y"], "As the manual says [1].", None)
    assert [(c.n, c.location, c.cited_in_answer) for c in cites] == [(1, "page 12", True), (2, None, False)]
    from serving.rag import Answer

    response = ChatResponse.model_validate(asdict(Answer("As the manual says [1].", cites)))
    assert response.citations[0].location == "page 12"


def test_repetition_penalty_goes_to_the_engine_in_the_request_body():
    llm = make_llm(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        max_tokens=5,
        temperature=0.0,
        context_window=2048,
        repetition_penalty=1.1,
    )
    assert llm.additional_kwargs == {"extra_body": {"repetition_penalty": 1.1}}
    plain = make_llm(
        base_url="http://127.0.0.1:9/v1", model="m", max_tokens=5, temperature=0.0, context_window=2048
    )
    assert plain.additional_kwargs == {}


# --- answer modes and the output guard, over a small real safe index and a loopback LLM stub ------------




@pytest.fixture(scope="module")
def work_dir(tmp_path_factory, embedder):
    return build_small_index(tmp_path_factory.mktemp("answers-work"), embedder)


@pytest.fixture(scope="module")
def stub():
    with openai_stub() as server:
        yield server


def service(work_dir, embedder, stub, reply: str | None, **answers) -> ChatService:
    stub.reply, stub.calls = reply, 0
    llm = make_llm(base_url=f"http://127.0.0.1:{stub.server_port}/v1", model="m", max_tokens=50,
                   temperature=0.0, context_window=2048)  # fmt: skip
    retriever = SafeRetriever(work_dir, embedder, top_k=3, min_similarity=0.35)
    return ChatService(retriever, llm, AnswerSettings(**answers))


def test_verified_drops_the_contradiction_and_flags_its_citation(work_dir, embedder, stub):
    reply = "Lists are mutable sequences [1]. Lists are not mutable [1]. Lists are vacuuled nightly [2]."
    answer = service(work_dir, embedder, stub, reply).answer(LIST_QUESTION)
    assert stub.calls == 1 and answer.mode == "verified" and not answer.quoted_fallback
    assert answer.answer == "Lists are mutable sequences [1]."
    assert [s.supported for s in answer.sentences] == [True, False, False]
    assert answer.unsupported_citations == [1, 2]  # [1] on the negated claim, [2] on the made-up one
    assert answer.citations[0].path == "docs/py.txt" and answer.citations[0].supported is True
    marked = service(work_dir, embedder, stub, reply, unsupported="mark").answer(LIST_QUESTION)
    assert marked.answer.count("[unsupported]") == 2
    ChatResponse.model_validate(asdict(answer))  # the API body holds every new field


def test_verified_quotes_the_top_source_when_nothing_is_supported(work_dir, embedder, stub):
    answer = service(work_dir, embedder, stub, "Lists are immutable arrays of bytes forever.").answer(
        LIST_QUESTION
    )
    assert answer.quoted_fallback and answer.answer.endswith("[1]") and answer.answer.startswith('"')
    assert "mutable sequences" in answer.answer and answer.citations[0].cited_in_answer
    assert answer.citations[0].supported is True


def test_extractive_quotes_without_a_model_call_and_generative_returns_the_text(work_dir, embedder, stub):
    extractive = service(work_dir, embedder, stub, "never used", mode="extractive").answer(LIST_QUESTION)
    assert stub.calls == 0 and extractive.mode == "extractive" and extractive.answer.endswith("[1]")
    quoted = extractive.answer[1:-5].split(". ")  # two sentences, each verbatim from the top source
    assert len(quoted) == 2 and all(q.rstrip(".") in TEXTS["py"] for q in quoted)
    generative = service(work_dir, embedder, stub, "Lists are not mutable [1].", mode="generative")
    answer = generative.answer(LIST_QUESTION)
    assert stub.calls == 1 and answer.answer == "Lists are not mutable [1]." and answer.sentences == []
    assert answer.citations[0].cited_in_answer and answer.citations[0].supported is None


@pytest.mark.parametrize("mode", ["generative", "verified", "extractive"])
def test_a_document_that_carries_instructions_leaks_neither_prompt_nor_canary(work_dir, embedder, stub, mode):
    # the stub does what the planted document asks: it repeats everything it was given, system prompt first
    answer = service(work_dir, embedder, stub, None, mode=mode).answer(PRINTER_QUESTION)
    assert answer.citations[0].path == "docs/inject.txt"  # the planted source was in the prompt
    assert CANARY not in answer.answer and "numbered sources below" not in answer.answer
    assert SYSTEM_PROMPT not in answer.answer
    if mode == "generative":  # the echo held both: the guard masked the key and withheld the prompt
        assert answer.masked_outputs >= 2 and "<AWS_KEY_1>" in answer.answer


def test_no_safe_source_refuses_without_a_model_call(work_dir, embedder, stub):
    answer = service(work_dir, embedder, stub, "never used").answer("zxqv blorp frobnicate wibble quux?")
    assert answer.answer == NO_SAFE_CONTEXT and not answer.has_safe_context and stub.calls == 0


@pytest.mark.parametrize(
    "dotted", [{"answers.mode": "creative"}, {"answers.unsupported": "hide"}, {"answers.min_cosine": 1.5}]
)
def test_bad_answer_settings_fail_with_the_field_named(dotted):
    with pytest.raises(pydantic.ValidationError, match=next(iter(dotted)).split(".")[1]):
        load_settings(None, dotted)
