"""The RAG answer: safe context in a numbered prompt, the model through LlamaIndex's OpenAILike client
against the vLLM server, and citations for every source the answer was given.

The answer mode (settings `answers.mode`): `generative` returns the model's text; `extractive` quotes the
sources nearest the question and calls no model; `verified` (the default) generates, checks every sentence
against its sources (serving.grounding), drops or marks what they do not back, and quotes the top source
when nothing is left. Every answer then passes the output guard (serving.output_guard)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.llms.openai_like import OpenAILike

from pipelines.core.prompt import NO_SAFE_CONTEXT, PromptSource, build_prompt
from pipelines.core.settings import AnswerSettings, EngineSettings
from serving.grounding import CheckedAnswer, Checker, SentenceCheck, compose, content_words, merge, quote
from serving.output_guard import OutputGuard
from serving.retriever import Hit, SafeRetriever

_CITE = re.compile(r"\[(\d+)\]")


@dataclass(slots=True)
class Citation:
    n: int
    doc_id: str
    title: str
    source: str
    path: str
    score: float
    cited_in_answer: bool
    excerpt: str = ""  # the text of this source the model was given (its chunks, joined)
    supported: bool | None = None  # cited and backed by a sentence citing it; None: not checked or not cited
    location: str | None = None  # where the best chunk starts inside its file: "page 12", "slide 3"
    tier: str = "safe"  # at query time: only the safe tier reaches a prompt
    updated: str | None = None  # the date the document's content carries, ISO
    chunk_ids: list[str] = field(default_factory=list)  # the chunks of it the model was shown, rank order


@dataclass(slots=True)
class Answer:
    answer: str
    citations: list[Citation] = field(default_factory=list)
    has_safe_context: bool = True
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0
    mode: str = "generative"
    sentences: list[SentenceCheck] = field(default_factory=list)  # the generated sentences, checked
    unsupported_citations: list[int] = field(default_factory=list)  # [n] on a claim source n does not back
    quoted_fallback: bool = False  # verified, nothing supported was left: the top source is quoted instead
    masked_outputs: int = 0  # spans masked or sentences withheld by the output guard
    query: str = ""  # the question as retrieved: a follow-up joined to the question it follows
    ttft_ms: float = 0.0  # from the question to the first sentence sent
    usage: dict[str, int] = field(default_factory=dict)  # the engine's prompt/completion/total tokens


def group_by_document(hits: list[Hit]) -> list[list[Hit]]:
    """One source per document, in rank order: two chunks of one page are one citation, not two."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.doc_id, []).append(hit)
    return list(groups.values())


def source_text(group: list[Hit], max_chars: int) -> str:
    return "\n...\n".join(h.text for h in group)[:max_chars]


def build_messages(
    question: str, sources: list[list[Hit]], *, max_chars_per_source: int = 1500
) -> list[ChatMessage]:
    """The production prompt (pipelines.core.prompt, shared with the fine-tuning data) as chat messages."""
    prompt_sources = [PromptSource(g[0].title, g[0].source, source_text(g, max_chars_per_source))
                      for g in sources]
    return [
        ChatMessage(role=MessageRole(m["role"]), content=m["content"])
        for m in build_prompt(question, prompt_sources, max_chars_per_source=max_chars_per_source)
    ]


def make_llm(
    *, base_url: str, model: str, max_tokens: int, temperature: float, context_window: int,
    repetition_penalty: float = 1.0, timeout: float = 120.0,
) -> OpenAILike:
    # vLLM takes sampling parameters beyond OpenAI's in the request body; small models loop without a penalty.
    extra = {"extra_body": {"repetition_penalty": repetition_penalty}} if repetition_penalty != 1.0 else {}
    return OpenAILike(
        additional_kwargs=extra,
        model=model,
        api_base=base_url,
        api_key="vetted-local",
        is_chat_model=True,
        context_window=context_window,
        max_tokens=max_tokens,
        temperature=temperature,
        timeout=timeout,  # no request outlives it: a hung engine becomes a 503, not a hung client
        max_retries=1,  # a down engine answers "refused" at once; retrying with back-off only delays the 503
    )


def llm_for(engine: EngineSettings, base_url: str) -> OpenAILike:
    """The client the settings describe: one place, so the app and the evaluation ask the same way."""
    return make_llm(
        base_url=base_url,
        model=engine.served_model_name,
        max_tokens=engine.max_tokens,
        temperature=engine.temperature,
        context_window=engine.max_model_len,
        repetition_penalty=engine.repetition_penalty,
        timeout=float(getattr(engine, "request_timeout_s", 120.0)),
    )


class EngineUnavailable(RuntimeError):
    """The model engine is down, unreachable or timed out: the API answers 503 with this message."""


@dataclass(slots=True)
class Delta:
    """Text to append to the answer being shown: whole sentences, each past the guard (and the check)."""

    text: str


@dataclass(slots=True, frozen=True)
class Turn:
    """An earlier question of the same conversation (the text it was retrieved with) and its answer."""

    question: str
    answer: str


# A follow-up that points back ("what does it do?") or says almost nothing on its own is retrieved together
# with the question before it; LlamaIndex's condense-question engine asks the model instead, which a 135M
# model does unreliably and which would cost a second model call per turn on this CPU.
_REFERRING = frozenset(
    "it its they them their theirs this that these those he she him his her one ones there such same "
    "above previous former latter".split()
)
_TOKEN = re.compile(r"[a-z']+")
_ENGINE_ERRORS = (openai.APIConnectionError, openai.InternalServerError, httpx.TransportError)


def standalone(question: str, history: Sequence[Turn]) -> str:
    """The question as retrieval and the model get it: a follow-up joined to the question it follows."""
    if not history:
        return question
    words = _TOKEN.findall(question.lower())
    if any(w in _REFERRING for w in words) or len(content_words(question)) < 3:
        return f"{history[-1].question} {question}"
    return question


class ChatService:
    def __init__(
        self,
        retriever: SafeRetriever,
        llm: OpenAILike,
        answers: AnswerSettings | None = None,
        guard: OutputGuard | None = None,
        engine_up: Callable[[], bool] | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = answers or AnswerSettings()
        self.guard = guard or OutputGuard()
        self.engine_up = engine_up  # the engine's health watch, when whoever built the service has one

    def answer(self, question: str, history: Sequence[Turn] = (), **sampling: Any) -> Answer:
        """The whole answer at once: `stream` consumed, so both paths give the same text."""
        for event in self.stream(question, history, **sampling):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() ends with an Answer")  # pragma: no cover

    def stream(
        self, question: str, history: Sequence[Turn] = (), *, max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[Delta | Answer]:  # fmt: skip
        """Deltas (whole sentences, guarded and, in verified mode, checked before they are sent), then the
        Answer. Raises EngineUnavailable before the first delta when the engine is down; a failure later
        ends the stream with the same error."""
        start = time.perf_counter()
        query = standalone(question, history)
        hits = self.retriever.retrieve(query)
        retrieval_ms = (time.perf_counter() - start) * 1000
        mode = self.settings.mode
        if not hits:  # no safe chunk above the floor: say so, and spend no model call
            yield Delta(NO_SAFE_CONTEXT)
            yield Answer(NO_SAFE_CONTEXT, [], False, retrieval_ms, mode=mode, query=query,
                         ttft_ms=retrieval_ms)  # fmt: skip
            return
        sources = group_by_document(hits)
        texts = [source_text(g, 1500) for g in sources]
        run = _Run(self, query, sources, texts, start)
        if mode == "extractive":
            yield from run.emit_quote()
        else:
            if self.engine_up is not None and not self.engine_up():
                raise EngineUnavailable("the language model engine is down; it is being restarted, ask again")
            llm = self.llm.model_copy(update=_sampling(max_tokens, temperature)) if (
                max_tokens or temperature is not None) else self.llm  # fmt: skip
            yield from run.generate(llm, build_messages(query, sources))
        answer = run.answer(mode)
        answer.retrieval_ms = retrieval_ms
        yield answer


def _sampling(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
    return {k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature)) if v is not None}


class _Run:
    """One answer being streamed: what was sent so far, the checks, the masks, the engine's token counts."""

    def __init__(
        self, service: ChatService, query: str, sources: list[list[Hit]], texts: list[str], start: float
    ) -> None:
        self.service, self.query, self.sources, self.texts, self.start = service, query, sources, texts, start
        settings = service.settings
        embed = service.retriever.embedder.embed
        self.checker = Checker(texts, embed, settings) if settings.mode == "verified" else None
        self.sent: list[str] = []
        self.checked: list[CheckedAnswer] = []
        self.numbers: dict[str, dict[str, int]] = {}  # one placeholder numbering for the whole answer
        self.masked = 0
        self.fallback = False
        self.ttft_ms: float | None = None
        self.gen_start = time.perf_counter()
        self.usage: dict[str, int] = {}

    def _send(self, text: str) -> Iterator[Delta]:
        guarded = self.service.guard.check(text, self.numbers)
        self.masked += guarded.masked
        if not guarded.text.strip():
            return
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.start) * 1000
        yield Delta(guarded.text if not self.sent else f" {guarded.text}")
        self.sent.append(guarded.text)

    def _sentence(self, sentence: str) -> Iterator[Delta]:
        if self.checker is None:
            yield from self._send(sentence)
            return
        checked = self.checker.check(sentence)
        self.checked.append(checked)
        kept = compose(checked, self.service.settings.unsupported)
        if kept:
            yield from self._send(kept)

    def emit_quote(self) -> Iterator[Delta]:
        settings, embed = self.service.settings, self.service.retriever.embedder.embed
        yield from self._send(quote(self.query, self.texts, embed, n_sentences=settings.quote_sentences))

    def generate(self, llm: OpenAILike, messages: list[ChatMessage]) -> Iterator[Delta]:
        buffer = _SentenceBuffer()
        try:
            for chunk in llm.stream_chat(messages, stream_options={"include_usage": True}):
                if "total_tokens" in chunk.additional_kwargs:
                    self.usage = {k: int(chunk.additional_kwargs[k]) for k in _USAGE}
                for sentence in buffer.feed(chunk.delta or ""):
                    yield from self._sentence(sentence)
        except _ENGINE_ERRORS as error:
            raise EngineUnavailable(f"the language model engine did not answer: {error}") from error
        for sentence in buffer.flush():
            yield from self._sentence(sentence)
        if self.checker is not None and not any(s.supported for c in self.checked for s in c.claims):
            self.fallback = True  # nothing the sources back: quote the top source rather than guess
            yield from self.emit_quote()

    def answer(self, mode: str) -> Answer:
        final = " ".join(self.sent)
        checked = merge(self.checked)
        backed: set[int] | None = None
        if mode == "extractive" or self.fallback:
            backed = _cited(final)
        elif mode == "verified":
            backed = checked.backed_citations
        return Answer(
            final, _citations(self.sources, self.texts, final, backed), mode=mode,
            sentences=checked.sentences, unsupported_citations=checked.unsupported_citations,
            quoted_fallback=self.fallback, masked_outputs=self.masked, query=self.query,
            generation_ms=(time.perf_counter() - self.gen_start) * 1000, ttft_ms=self.ttft_ms or 0.0,
            usage=self.usage,
        )  # fmt: skip


_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class _SentenceBuffer:
    """Model tokens in, whole sentences out (the split serving.grounding uses), the unfinished one held."""

    def __init__(self) -> None:
        self._text = ""

    def feed(self, delta: str) -> list[str]:
        self._text += delta
        parts = _SENTENCE_END.split(self._text)
        self._text = parts.pop()
        return [p for p in (" ".join(p.split()) for p in parts) if p and not _CITE.fullmatch(p)]

    def flush(self) -> list[str]:
        rest, self._text = " ".join(self._text.split()), ""
        return [rest] if rest and not _CITE.fullmatch(rest) else []


def _cited(text: str) -> set[int]:
    return {int(n) for n in _CITE.findall(text)}


def _citations(
    sources: list[list[Hit]], texts: list[str], final: str, backed: set[int] | None
) -> list[Citation]:
    """One citation per source; `supported` (cited ones): does it back what cites it (None: unchecked)."""
    cited = _cited(final)
    return [
        Citation(
            n, g[0].doc_id, g[0].title, g[0].source, g[0].path, round(max(h.score for h in g), 4),
            n in cited, texts[n - 1], None if backed is None or n not in cited else n in backed,
            max(g, key=lambda h: h.score).location, g[0].tier, g[0].updated, [h.node_id for h in g],
        )  # fmt: skip
        for n, g in enumerate(sources, 1)
    ]
