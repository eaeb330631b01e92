"""serving.grounding with the real packaged MiniLM: the issue's wrong answers are caught, right ones pass."""

from __future__ import annotations

import pytest

from pipelines.core.settings import AnswerSettings
from serving.grounding import check_answer, compose, content_words, quote, split_sentences

LISTS = (
    "Python lists are mutable sequences; tuples are immutable. Use a list when items change and a tuple for "
    "fixed records such as coordinates. List comprehensions build lists from iterables."
)
VACUUM = (
    "VACUUM reclaims storage occupied by dead tuples in PostgreSQL. Routine vacuuming keeps tables from "
    "bloating and updates the visibility map. VACUUM FULL rewrites the whole table."
)
SETTINGS = AnswerSettings()


def by_text(checked):
    return {s.text: s for s in checked.sentences}


def test_restatement_passes_and_hallucinated_term_and_negation_fail(embedder):
    answer = (
        "VACUUM reclaims storage occupied by dead tuples [2]. "
        "VACUUM returns a boolean value indicating whether a table was recently vacuuled [2]. "
        "Lists are mutable sequences [1]. Lists are not mutable [1]."
    )
    checked = by_text(check_answer(answer, [LISTS, VACUUM], embedder.embed, SETTINGS))
    assert checked["VACUUM reclaims storage occupied by dead tuples [2]."].supported
    assert checked["Lists are mutable sequences [1]."].supported
    vacuuled = checked["VACUUM returns a boolean value indicating whether a table was recently vacuuled [2]."]
    assert not vacuuled.supported and vacuuled.word_overlap < SETTINGS.min_word_overlap
    negated = checked["Lists are not mutable [1]."]
    assert not negated.supported and negated.cosine >= SETTINGS.min_cosine  # near in meaning, opposite claim


def test_a_citation_is_checked_against_the_source_it_names(embedder):
    answer = (
        "VACUUM FULL rewrites the whole table [1]. Lists are mutable sequences [1]. Tuples are fixed [7]."
    )
    checked = check_answer(answer, [LISTS, VACUUM], embedder.embed, SETTINGS)
    sentences = by_text(checked)
    assert not sentences["VACUUM FULL rewrites the whole table [1]."].supported  # true, but of source 2
    assert sentences["Lists are mutable sequences [1]."].supported
    assert checked.unsupported_citations == [1, 7] and checked.backed_citations == {1}
    assert checked.groundedness == pytest.approx(1 / 3)


def test_unsupported_sentences_are_dropped_or_marked(embedder):
    text = "Lists are mutable sequences. Lists are not mutable. Yes."
    checked = check_answer(text, [LISTS], embedder.embed, SETTINGS)
    assert [s.is_claim for s in checked.sentences] == [True, True, False]
    assert compose(checked, "drop") == "Lists are mutable sequences. Yes."
    assert (
        compose(checked, "mark") == "Lists are mutable sequences. Lists are not mutable. [unsupported] Yes."
    )


def test_quote_takes_the_source_sentences_nearest_the_question_and_cites_them(embedder):
    text = quote("What does VACUUM FULL do to a table?", [VACUUM, LISTS], embedder.embed, n_sentences=1)
    assert text == '"VACUUM FULL rewrites the whole table." [1]'
    two = quote("What does VACUUM reclaim?", [VACUUM], embedder.embed, n_sentences=2)
    assert two.startswith('"VACUUM reclaims storage') and two.endswith('" [1]')  # in reading order


def test_quote_skips_an_faq_heading_and_keeps_a_wrapped_sentence_whole(embedder):
    faq = ("Why are Python strings immutable?\n\nOne is performance: knowing that a string is immutable\n"
           "means we can allocate space for it at creation time.")  # fmt: skip
    text = quote("Why are Python strings immutable?", [faq], embedder.embed, n_sentences=1)
    whole = "One is performance: knowing that a string is immutable means we can allocate space for it at"
    assert text == f'"{whole} creation time." [1]'


def test_no_claim_and_no_source_edge_cases(embedder):
    assert check_answer("Yes. [1]", [LISTS], embedder.embed, SETTINGS).groundedness is None
    checked = check_answer("Lists are mutable sequences.", [], embedder.embed, SETTINGS)
    assert checked.groundedness == 0.0
    assert split_sentences("One two three [1].\n[2]\nFour five six.") == [
        "One two three [1].",
        "Four five six.",
    ]
    assert content_words("The tables are vacuumed [3]") == {"table", "vacuumed"}
