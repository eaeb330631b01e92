"""The evaluation harness: any corpus folder and question file through the real pipeline, as numbers.

    vetted eval retrieval --docs CORPUS --qa QA.jsonl   # recall@1/5/10, MRR, nDCG@10 on the curated index
    vetted eval answers   --docs CORPUS --qa QA.jsonl   # the real vLLM engine: F1, similarity, groundedness
    vetted eval ab        --docs CORPUS --qa QA.jsonl   # curated vs uncurated: retrieval and leak probes
    vetted eval leaks     --docs CORPUS                 # canaries in contexts (and answers with --answers)

Each call prepares its work folders through eval.workdirs (cached by corpus content, settings and code),
so a repeated evaluation spends its time on questions, not on curating the corpus again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import leaks, workdirs
from eval.answers import asker_for, evaluate_answers, serving_engine
from eval.machine import machine
from eval.qa import QAPair, check_docs_exist
from eval.retrieval import evaluate_retrieval, tiers_by_path
from pipelines.core.embedding import Embedder, embedder_for
from pipelines.core.model_cache import ensure_base_model
from pipelines.core.settings import Settings
from serving.retriever import Hit, SafeRetriever


@dataclass(slots=True)
class EvalContext:
    """What every evaluation shares: settings, one loaded embedder, and where work folders are cached."""

    settings: Settings
    embedder: Embedder
    cache_root: Path

    @classmethod
    def from_settings(cls, settings: Settings, cache_root: Path | None = None) -> EvalContext:
        return cls(settings, embedder_for(settings), cache_root or settings.layout.eval_dir)

    def workdir(self, corpus: Path, variant: workdirs.Variant) -> workdirs.WorkDir:
        return workdirs.prepare(corpus, self.settings, variant, self.embedder, self.cache_root)

    def base_model(self) -> Path:
        """The base model, converted once into the shared cache (`<cache_root>/models/`)."""
        return ensure_base_model(self.cache_root / "models")


def run_retrieval(
    ctx: EvalContext,
    corpus: Path,
    pairs: Sequence[QAPair],
    variants: Sequence[workdirs.Variant] = ("curated",),
) -> dict[str, Any]:
    """Retrieval metrics per variant on the same questions; the uncurated run also counts, per question, the
    top documents that curation rejects (which needs the curated build's tiers)."""
    check_docs_exist(pairs, corpus)
    result = _header("retrieval", corpus, len(pairs))
    works = {v: ctx.workdir(corpus, v) for v in variants}
    curated_tiers = None
    if "uncurated" in works:
        curated_tiers = tiers_by_path((works.get("curated") or ctx.workdir(corpus, "curated")).path)
    floor = ctx.settings.retrieval.min_similarity
    for variant, work in works.items():
        tiers = curated_tiers if variant == "uncurated" else None
        found = evaluate_retrieval(variant, work.path, pairs, ctx.embedder, min_similarity=floor, tiers=tiers)
        result["workdirs"][variant] = _workdir_info(work)
        result["retrieval"][variant] = found.to_dict()
    return result


def run_leaks(
    ctx: EvalContext,
    corpus: Path,
    variants: Sequence[workdirs.Variant] = ("curated", "uncurated"),
    *,
    canaries_file: Path | None = None,
    model_dir: Path | None = None,
    with_answers: bool = False,
) -> dict[str, Any]:
    """Probe each variant for canaries: in its index, in the contexts a probe retrieves, in answers."""
    canaries = leaks.load_canaries(corpus, canaries_file)
    probes = leaks.probes_for(canaries)
    targets = leaks.targets_for(corpus, canaries, probes)
    result = _header("leaks", corpus, len(probes))
    result["canaries"] = len(canaries)
    works = {v: ctx.workdir(corpus, v) for v in variants}
    for variant, work in works.items():
        result["workdirs"][variant] = _workdir_info(work)
    if not with_answers:
        for variant, work in works.items():
            rows = leaks.run_probes(probes, _retrieval_only(_service_retriever(ctx, work.path)), targets)
            result["leaks"][variant] = _leak_result(work.path, rows, targets)
        return result
    with _engine(ctx, model_dir) as (base_url, model):
        result["model"] = model
        for variant, work in works.items():
            asker = asker_for(work.path, ctx.settings, ctx.embedder, base_url)
            rows = leaks.run_probes(probes, asker.text, targets)
            result["leaks"][variant] = _leak_result(work.path, rows, targets)
    return result


def run_answers(
    ctx: EvalContext,
    corpus: Path,
    pairs: Sequence[QAPair],
    variants: Sequence[workdirs.Variant] = ("curated",),
    *,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """Answer metrics per variant, one engine serving them all."""
    check_docs_exist(pairs, corpus)
    result = _header("answers", corpus, len(pairs))
    works = {v: ctx.workdir(corpus, v) for v in variants}
    with _engine(ctx, model_dir) as (base_url, model):
        result["model"] = model
        for variant, work in works.items():
            result["workdirs"][variant] = _workdir_info(work)
            asker = asker_for(work.path, ctx.settings, ctx.embedder, base_url)
            result["answers"][variant] = evaluate_answers(
                variant, model, asker, pairs, ctx.embedder
            ).to_dict()
    return result


def run_ab(
    ctx: EvalContext,
    corpus: Path,
    pairs: Sequence[QAPair],
    *,
    answers: int = 0,
    model_dir: Path | None = None,
    canaries_file: Path | None = None,
) -> dict[str, Any]:
    """Curated vs uncurated on the same questions: retrieval, leak probes, the first `answers` answered."""
    both: tuple[workdirs.Variant, ...] = ("curated", "uncurated")
    result = run_retrieval(ctx, corpus, pairs, both)
    result["command"] = "ab"
    has_canaries = canaries_file is not None or (corpus / leaks.CANARIES_FILE).is_file()
    if has_canaries:
        result["leaks"] = run_leaks(ctx, corpus, both, canaries_file=canaries_file)["leaks"]
    if answers > 0:
        answered = run_answers(ctx, corpus, pairs[:answers], both, model_dir=model_dir)
        result["answers"], result["model"] = answered["answers"], answered["model"]
    return result


def compare_models(
    ctx: EvalContext, corpus: Path, pairs: Sequence[QAPair], model_a: Path, model_b: Path
) -> dict[str, Any]:
    """Base vs fine-tuned (or any two model folders) on the curated index and the same questions: the seam
    the fine-tune issue plugs its merged model into. Rows "a" and "b"; `result["models"]` names them."""
    result = _header("models", corpus, len(pairs))
    result["models"] = {"a": str(model_a), "b": str(model_b)}
    for label, model in (("a", model_a), ("b", model_b)):
        run = run_answers(ctx, corpus, pairs, ("curated",), model_dir=model)
        result["answers"][label] = run["answers"]["curated"]
        result["workdirs"] = run["workdirs"]
    return result


@contextmanager
def _engine(ctx: EvalContext, model_dir: Path | None) -> Iterator[tuple[str, str]]:
    """vLLM serving `model_dir` (the base model by default): yields (base URL, what it serves)."""
    if ctx.settings.engine.url:  # an engine that runs elsewhere serves its own model
        with serving_engine(ctx.settings, Path(), Path()) as engine:
            yield engine.base_url, ctx.settings.engine.url
        return
    model = model_dir or ctx.base_model()
    with serving_engine(ctx.settings, model, ctx.cache_root / "logs" / "vllm.log") as engine:
        yield engine.base_url, str(model)


def _service_retriever(ctx: EvalContext, work_dir: Path) -> SafeRetriever:
    """Exactly what the chatbot would put in a prompt: the settings' top_k and similarity floor."""
    r = ctx.settings.retrieval
    return SafeRetriever(work_dir, ctx.embedder, top_k=r.top_k, min_similarity=r.min_similarity)


def _retrieval_only(retriever: SafeRetriever) -> leaks.Ask:
    """Probe the retriever alone: the contexts, no answer."""

    def ask(question: str) -> tuple[list[Hit], str | None]:
        return retriever.retrieve(question), None

    return ask


def _leak_result(work_dir: Path, rows: list[dict[str, Any]], targets: leaks.Targets) -> dict[str, Any]:
    in_index = leaks.canaries_in_index(work_dir, targets.canaries)
    return {"summary": leaks.leak_summary(rows, in_index), "probes": rows}


def _header(command: str, corpus: Path, n_questions: int) -> dict[str, Any]:
    return {
        "command": command,
        "corpus": str(corpus),
        "questions": n_questions,
        "machine": machine(),
        "workdirs": {},
        "retrieval": {},
        "leaks": {},
        "answers": {},
    }


def _workdir_info(work: workdirs.WorkDir) -> dict[str, Any]:
    return {"path": str(work.path), "reused": work.reused, **work.build}
