"""The question file format and the two builders, run on the real Debian packages and test corpus."""

import json

import pytest

from eval.build_qa import foldoc_pairs, python_faq_pairs
from eval.qa import QAFormatError, QAPair, check_docs_exist, read_qa, write_qa


def _write(path, *lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_round_trip(tmp_path):
    pairs = [QAPair("q1", "What is ARP?", "A protocol.", "kb-foldoc/arp.txt")]
    assert write_qa(tmp_path / "set.jsonl", pairs) == 1
    assert read_qa(tmp_path / "set.jsonl") == pairs


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"id": "q", "question": "Q?", "answer": "A"}', "missing doc"),
        ('{"id": "q", "question": " ", "answer": "A", "doc": "d.txt"}', "'question' must be a non-empty"),
        ('{"id": "q", "question": "Q?", "answer": "A", "doc": "/etc/passwd"}', "relative to the corpus"),
        ('{"id": "q", "question": "Q?", "answer": "A", "doc": "../up.txt"}', "relative to the corpus"),
    ],
)
def test_bad_lines_name_the_file_line_and_fix(tmp_path, line, message):
    path = _write(
        tmp_path / "bad.jsonl", '{"id": "ok", "question": "Q?", "answer": "A", "doc": "d.txt"}', line
    )
    with pytest.raises(QAFormatError, match=message) as err:
        read_qa(path)
    assert f"{path}:2" in str(err.value)


def test_duplicate_ids_empty_and_missing_files(tmp_path):
    row = json.dumps({"id": "q", "question": "Q?", "answer": "A", "doc": "d.txt"})
    with pytest.raises(QAFormatError, match="already used on line 1"):
        read_qa(_write(tmp_path / "dup.jsonl", row, row))
    with pytest.raises(QAFormatError, match="holds no questions"):
        read_qa(_write(tmp_path / "empty.jsonl", ""))
    with pytest.raises(QAFormatError, match="no such question file"):
        read_qa(tmp_path / "absent.jsonl")


def test_python_faq_set_comes_from_the_package_and_matches_the_corpus_layout(test_corpus):
    pairs = python_faq_pairs(test_corpus)
    assert 160 <= len(pairs) <= 200  # 179 in python3.11-doc 3.11.2
    assert len({p.id for p in pairs}) == len(pairs)
    check_docs_exist(pairs, test_corpus)
    by_id = {p.id: p for p in pairs}
    venv = by_id["python-faq/programming#how-do-i-share-global-variables-across-modules"]
    assert venv.question == "How do I share global variables across modules?"
    assert venv.doc == "product-docs-python/faq/programming.html"
    assert venv.answer.startswith("The canonical way to share information across modules")
    assert not any(p.doc.endswith("/index.html") for p in pairs)  # the contents page asks nothing


def test_foldoc_set_holds_only_the_corpus_entries(test_corpus):
    pairs = foldoc_pairs(test_corpus)
    in_corpus = {p.relative_to(test_corpus).as_posix() for p in (test_corpus / "kb-foldoc").glob("*.txt")}
    assert {p.doc for p in pairs} == in_corpus
    arp = next(p for p in pairs if p.doc == "kb-foldoc/address-resolution-protocol.txt")
    assert arp.question == "What is Address Resolution Protocol?"
    assert arp.answer.startswith("(ARP) A method for finding a host's Ethernet address")
    assert "{" not in arp.answer and "1995-03-20" not in arp.answer


def test_missing_gold_documents_are_named(tmp_path):
    pairs = [QAPair("q", "Q?", "A", "kb-foldoc/nowhere.txt")]
    with pytest.raises(QAFormatError, match="kb-foldoc/nowhere.txt"):
        check_docs_exist(pairs, tmp_path)
