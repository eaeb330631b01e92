"""The RAG answer: safe context in a numbered prompt, the model through LlamaIndex's OpenAILike client
against the vLLM server, and citations for every source the answer was given.

The answer mode (settings `answers.mode`): `generative` returns the model's text; `extractive` quotes the
sources nearest the question and calls no model; `verified` (the default) generates, checks every sentence
against its sources (serving.grounding), drops or marks what they do not back, and quotes the top source
when nothing is left. Every answer then passes the output guard (serving.output_guard)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.llms.openai_like import OpenAILike

from pipelines.core.prompt import NO_SAFE_CONTEXT, PromptSource, build_prompt
from pipelines.core.settings import AnswerSettings, EngineSettings
from serving.grounding import SentenceCheck, check_answer, compose, quote
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
    repetition_penalty: float = 1.0,
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
        timeout=300.0,
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
    )


class ChatService:
    def __init__(
        self,
        retriever: SafeRetriever,
        llm: OpenAILike,
        answers: AnswerSettings | None = None,
        guard: OutputGuard | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = answers or AnswerSettings()
        self.guard = guard or OutputGuard()

    def answer(self, question: str) -> Answer:
        start = time.perf_counter()
        hits = self.retriever.retrieve(question)
        retrieval_ms = (time.perf_counter() - start) * 1000
        if not hits:  # no safe chunk above the floor: say so, and spend no model call
            return Answer(NO_SAFE_CONTEXT, [], False, retrieval_ms, mode=self.settings.mode)
        start = time.perf_counter()
        sources = group_by_document(hits)
        texts = [source_text(g, 1500) for g in sources]
        answer = self._compose(question, sources, texts)
        answer.retrieval_ms, answer.generation_ms = retrieval_ms, (time.perf_counter() - start) * 1000
        guarded = self.guard.check(answer.answer)
        answer.answer, answer.masked_outputs = guarded.text, guarded.masked
        return answer

    def _compose(self, question: str, sources: list[list[Hit]], texts: list[str]) -> Answer:
        mode, embed = self.settings.mode, self.retriever.embedder.embed
        if mode == "extractive":
            text = quote(question, texts, embed, n_sentences=self.settings.quote_sentences)
            return Answer(text, _citations(sources, texts, text, _cited(text)), mode=mode)  # quotes back
        reply = self.llm.chat(build_messages(question, sources))
        text = (reply.message.content or "").strip()
        if mode == "generative":
            return Answer(text, _citations(sources, texts, text, None), mode=mode)
        checked = check_answer(text, texts, embed, self.settings)
        final = compose(checked, self.settings.unsupported)
        fallback = not any(s.supported for s in checked.claims)
        if fallback:  # nothing the sources back: quote the top source rather than guess
            final = quote(question, texts, embed, n_sentences=self.settings.quote_sentences)
        backed = _cited(final) if fallback else checked.backed_citations
        return Answer(
            final, _citations(sources, texts, final, backed), mode=mode, sentences=checked.sentences,
            unsupported_citations=checked.unsupported_citations, quoted_fallback=fallback,
        )  # fmt: skip


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
            max(g, key=lambda h: h.score).location,
        )  # fmt: skip
        for n, g in enumerate(sources, 1)
    ]
