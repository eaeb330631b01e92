"""Is each answer sentence backed by the sources it was given? And the extractive answer: quotes, no model.

    checked = check_answer(text, sources, embedder.embed, settings.answers)
    checked.sentences           # [SentenceCheck("Lists are mutable.", cites=[1], source=1, cosine=0.83, ...)]
    checked.unsupported_citations   # [2]: a claim cites [2] and source 2 does not back it
    quote(question, sources, embedder.embed, n_sentences=2)   # '"VACUUM reclaims storage ..." [1]'

The rule (an embedding proxy for entailment, made stricter by words). A sentence is split into source
"units": every sentence of a source and the source whole. A claim (three words or more) is supported by
source n when both hold against that source:
  1. meaning: its best cosine (all-MiniLM, the embedder the retriever already holds) with one of the source's
     units reaches `min_cosine`. Alone this passes a sentence that talks about the source's topic and gets a
     fact wrong: "VACUUM returns a boolean ..." sits near a VACUUM page;
  2. words: at least `min_word_overlap` of its content words (stopwords removed, lower case, a plural's
     trailing s ignored) occur in the source. A hallucinated term ("vacuuled") or an invented detail
     ("boolean") is a content word the source lacks, so it lowers the share;
  3. polarity: the sentence and its best-matching unit agree on negation (both or neither say not/no/never).
     "Lists are not mutable" against "Lists are mutable" fails here, though cosine and words both pass.
A sentence that cites [n] is held to source n only; one that cites nothing, to its best source. What this
does not catch: a swap of two words that both occur in the source ("lists are immutable" next to "tuples
are immutable"), and a claim that follows from a source without repeating its words (a true paraphrase is
dropped).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipelines.core.settings import AnswerSettings

Embed = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised vectors (Embedder.embed)

MIN_CLAIM_WORDS = 3  # "Yes." or a bare "[1]" asserts nothing to check
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CITE = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[a-z0-9_]+(?:'[a-z]+)?")
_NEGATIONS = frozenset({"not", "no", "never", "none", "nor", "cannot", "neither", "nothing"})
# Function words: they carry no fact, so neither their presence nor their absence says anything.
_STOPWORDS = frozenset(
    "a an the and or but if then else of to in on at by for with from as into onto over under about is "
    "are was were be been being am do does did doing has have had having can could will would shall should "
    "may might must it its this that these those there here which who whom whose what when where why how "
    "you your we our they their them he she his her i me my so such than too very also just only any some "
    "each every all both more most other another same own use used using one two way ways make makes made "
    "get gets".split()
)


@dataclass(slots=True)
class SentenceCheck:
    text: str  # the sentence as the answer wrote it, [n] marks included
    cites: list[int]  # the [n] it carries
    is_claim: bool  # three words or more; shorter text is neither checked nor counted
    supported: bool = False
    source: int | None = None  # the source (1-based) that backs it best
    cosine: float = 0.0  # best cosine to a unit of that source
    word_overlap: float = 0.0  # share of its content words found in that source


@dataclass(slots=True)
class CheckedAnswer:
    sentences: list[SentenceCheck] = field(default_factory=list)
    unsupported_citations: list[int] = field(default_factory=list)  # [n] on a claim source n does not back

    @property
    def claims(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.is_claim]

    @property
    def backed_citations(self) -> set[int]:
        """The sources that back a supported claim citing them."""
        return {s.source for s in self.claims if s.supported and s.source is not None and s.source in s.cites}

    @property
    def groundedness(self) -> float | None:
        """Share of the claims that are supported; None when the answer makes none."""
        claims = self.claims
        return sum(s.supported for s in claims) / len(claims) if claims else None


def split_sentences(text: str) -> list[str]:
    """Sentences at . ! ? followed by space, and at line breaks; [n] marks stay on their sentence."""
    parts = (" ".join(p.split()) for p in _SENTENCE_END.split(text))
    return [p for p in parts if p and not _CITE.fullmatch(p)] or ([text.strip()] if text.strip() else [])


def content_words(text: str) -> set[str]:
    """Lower-case words minus stopwords and [n] marks, a trailing plural s dropped ("tables" == "table")."""
    words = _WORD.findall(_CITE.sub(" ", text).lower())
    return {_stem(w) for w in words if w not in _STOPWORDS}  # numbers stay: a wrong one is a wrong fact


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _n_words(text: str) -> int:
    return len(_CITE.sub(" ", text).split())


def _negated(text: str) -> bool:
    words = _WORD.findall(text.lower())
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


@dataclass(slots=True)
class _Source:
    units: list[str]
    vectors: np.ndarray
    words: set[str]


def _sources(sources: Sequence[str], embed: Embed) -> list[_Source]:
    unit_lists = [[*split_sentences(s), s] if s.strip() else [] for s in sources]
    flat = [u for units in unit_lists for u in units]
    vectors = embed(flat) if flat else np.zeros((0, 1), dtype="float32")
    out, at = [], 0
    for text, units in zip(sources, unit_lists, strict=True):
        out.append(_Source(units, vectors[at : at + len(units)], content_words(text)))
        at += len(units)
    return out


class Checker:
    """The sources embedded once, then any number of answers or single sentences checked against them: the
    streaming path checks each sentence as the model finishes it."""

    def __init__(self, sources: Sequence[str], embed: Embed, settings: AnswerSettings) -> None:
        self._embed, self._settings = embed, settings
        self._sources = _sources(sources, embed)

    def check(self, answer: str) -> CheckedAnswer:
        """Every sentence of `answer` against the sources (source n is sources[n - 1])."""
        sentences = [
            SentenceCheck(s, [int(n) for n in _CITE.findall(s)], _n_words(s) >= MIN_CLAIM_WORDS)
            for s in split_sentences(answer)
        ]
        claims = [s for s in sentences if s.is_claim]
        if claims and self._sources:
            vectors = self._embed([_CITE.sub(" ", s.text) for s in claims])
            for sentence, vector in zip(claims, vectors, strict=True):
                _judge(sentence, vector, self._sources, self._settings)
        # [n] on a claim that source n does not back (or that names no source at all) is a wrong citation
        wrong = {n for s in claims for n in s.cites if not (s.supported and s.source == n)}
        return CheckedAnswer(sentences, sorted(wrong))


def check_answer(
    answer: str, sources: Sequence[str], embed: Embed, settings: AnswerSettings
) -> CheckedAnswer:
    """Every sentence of `answer` against the sources (source n is sources[n - 1]), by the module's rule."""
    return Checker(sources, embed, settings).check(answer)


def merge(parts: Sequence[CheckedAnswer]) -> CheckedAnswer:
    """The answer checked sentence by sentence, as one CheckedAnswer."""
    wrong = sorted({n for p in parts for n in p.unsupported_citations})
    return CheckedAnswer([s for p in parts for s in p.sentences], wrong)


def _judge(
    sentence: SentenceCheck, vector: np.ndarray, sources: list[_Source], settings: AnswerSettings
) -> None:
    """Set the sentence's best source and whether it is supported (meaning, words, polarity)."""
    words = content_words(sentence.text)
    valid = [n for n in sentence.cites if 1 <= n <= len(sources)]
    candidates = valid or ([] if sentence.cites else list(range(1, len(sources) + 1)))
    best: tuple[bool, float, float, int] | None = None
    for n in candidates:
        source = sources[n - 1]
        if not source.units:
            continue
        cosines = source.vectors @ vector
        top = int(np.argmax(cosines))
        overlap = len(words & source.words) / len(words) if words else 1.0
        same_polarity = _negated(sentence.text) == _negated(source.units[top])
        ok = (
            float(cosines[top]) >= settings.min_cosine
            and overlap >= settings.min_word_overlap
            and same_polarity
        )
        candidate = (ok, float(cosines[top]), overlap, n)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is not None:
        sentence.supported, sentence.cosine, sentence.word_overlap, sentence.source = best
        sentence.cosine, sentence.word_overlap = round(sentence.cosine, 4), round(sentence.word_overlap, 4)


def compose(checked: CheckedAnswer, unsupported: str) -> str:
    """The answer's text with unsupported claims dropped, or kept with an "[unsupported]" mark."""
    kept = []
    for s in checked.sentences:
        if not s.is_claim or s.supported:
            kept.append(s.text)
        elif unsupported == "mark":
            kept.append(f"{s.text} [unsupported]")
    return " ".join(kept)


_PASSAGE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


def _quotable(text: str) -> list[str]:
    """Sentences worth quoting as an answer: split at sentence ends and blank lines only (extracted text wraps
    lines mid-sentence, and a quote of half a sentence reads as garbage), three words or more, and not a
    question: an FAQ's headings are the sentences nearest any question, and quoting the question answers
    nothing (8 of the first 10 Python FAQ quotes did)."""
    units = (" ".join(p.split()) for p in _PASSAGE_SPLIT.split(text))
    return [u for u in units if _n_words(u) >= MIN_CLAIM_WORDS and not u.endswith("?")]


def quote(
    question: str, sources: Sequence[str], embed: Embed, *, n_sentences: int, max_sources: int = 1
) -> str:
    """The extractive answer: the `n_sentences` source sentences nearest the question, from each of the first
    `max_sources` sources, in reading order, quoted and cited ("..." [n])."""
    parts = []
    for n, text in enumerate(sources[:max_sources], 1):
        units = _quotable(text) or split_sentences(text)
        if not units:
            continue
        vectors = embed([question, *units])
        order = np.argsort(-(vectors[1:] @ vectors[0]), kind="stable")[:n_sentences]
        chosen = [units[i] for i in sorted(int(i) for i in order)]
        parts.append(f'"{" ".join(dict.fromkeys(chosen))}" [{n}]')
    return " ".join(parts)
