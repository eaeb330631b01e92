"""The production prompt, in one place: serving.rag asks the model with it, and pipelines.training builds its
fine-tuning examples with it, so the tuned model is trained on exactly what it will be asked.

Pure strings (no LlamaIndex, no FastAPI): the lowest layer both of them may import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The service's answer when no safe source clears the similarity floor (no model call is made then); the
# training data teaches the same sentence for prompts whose sources hold no answer.
NO_SAFE_CONTEXT = (
    "I have no vetted source that answers this question, so I will not guess. "
    "Ask a data steward if this should be covered."
)
SYSTEM_PROMPT = (
    "You are a company assistant. Answer the question using only the numbered sources below. "
    "Cite sources as [1], [2]. If the sources do not contain the answer, say you do not know."
)
MAX_CHARS_PER_SOURCE = 1500  # a source's text in the prompt; the 2048-token context holds three of them


@dataclass(slots=True, frozen=True)
class PromptSource:
    title: str
    source: str
    text: str  # the source's chunks, joined; cut to max_chars_per_source in the prompt


def build_prompt(
    question: str, sources: Sequence[PromptSource], *, max_chars_per_source: int = MAX_CHARS_PER_SOURCE
) -> list[dict[str, str]]:
    """Chat messages ({"role", "content"}): the system rule, then the numbered sources and the question."""
    body = "\n\n".join(
        f"[{n}] {s.title} ({s.source})\n{s.text[:max_chars_per_source]}" for n, s in enumerate(sources, 1)
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Sources:\n{body}\n\nQuestion: {question}"},
    ]
