from serving.rag import build_messages, group_by_document, make_llm
from serving.retriever import Hit


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
