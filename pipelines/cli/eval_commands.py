"""`vetted eval ...`: evaluate any corpus folder and question file, and build question sets from packages.

Every run prints a table per section and, with --out, writes every question's result as JSON:

    vetted eval build-qa python-faq --out eval-data/python-faq.jsonl [--docs CORPUS]
    vetted eval build-qa foldoc --out eval-data/foldoc.jsonl --docs CORPUS
    vetted eval retrieval --docs CORPUS --qa eval-data/python-faq.jsonl [--uncurated] [--out results.json]
    vetted eval answers --docs CORPUS --qa QA.jsonl [--limit 20] [--model base|tuned|DIR] [--uncurated]
                        [--mode generative|extractive|verified|all]
    vetted eval ab --docs CORPUS --qa QA.jsonl [--answers 10]
    vetted eval leaks --docs CORPUS [--canaries FILE] [--answers]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from pipelines.core.settings import AnswerSettings

if TYPE_CHECKING:
    from eval.harness import EvalContext
    from eval.qa import QAPair
    from eval.workdirs import Variant


ANSWER_MODES: tuple[str, ...] = get_args(AnswerSettings.model_fields["mode"].annotation)
# Leak figures of the curated index that fail the command when not zero.
MUST_BE_ZERO = ("canaries_in_index", "canaries_in_contexts", "canaries_in_answers", "answers_quoting_planted")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this area's subcommands to the `vetted` parser."""
    parser = sub.add_parser(
        "eval", help="evaluate retrieval, answers, curated vs uncurated and leaks; build question sets",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    evals = parser.add_subparsers(dest="eval_command", required=True)

    p = evals.add_parser("build-qa", help="build a question set from the Debian packages")
    p.add_argument("set", choices=["python-faq", "foldoc"])
    p.add_argument("--out", type=Path, required=True, help="question file to write (JSONL)")
    p.add_argument(
        "--docs", type=Path, help="corpus folder: keep only questions whose gold document it holds"
    )
    p.set_defaults(func=cmd_build_qa)

    runs = (
        ("retrieval", "recall@1/5/10, MRR, nDCG@10 on the curated index", True),
        ("answers", "answers from the real vLLM engine: F1, similarity, groundedness, citations", True),
        ("ab", "curated vs uncurated on the same questions (retrieval and leak probes)", True),
        ("leaks", "canaries of planted documents in index, contexts and answers", False),
    )
    for name, help_text, needs_qa in runs:
        p = evals.add_parser(name, help=help_text)
        p.add_argument("--docs", type=Path, required=True, help="corpus folder (+ optional manifest.jsonl)")
        p.add_argument(
            "--qa", type=Path, required=needs_qa, help="question file (JSONL: id, question, answer, doc)"
        )
        p.add_argument("--out", type=Path, help="write the full result (every question) as JSON here")
        p.add_argument("--cache", type=Path, help="where built work folders are kept (default WORK_DIR/eval)")
        p.add_argument("--limit", type=int, help="only the first N questions")
        p.set_defaults(func=cmd_eval)
    _add_variant_flags(evals)


def _add_variant_flags(evals: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    choices = evals.choices
    for name in ("retrieval", "answers"):
        choices[name].add_argument(
            "--uncurated", action="store_true", help="also evaluate the uncurated index"
        )
    for name in ("answers", "ab", "leaks"):
        choices[name].add_argument(
            "--model", default="base",
            help="base (default), tuned (WORK_DIR/models/tuned, from `vetted finetune`) or a model folder",
        )
    choices["answers"].add_argument(
        "--mode", choices=[*ANSWER_MODES, "all"],
        help="answer mode (default: settings answers.mode); all = each mode on the same questions",
    )  # fmt: skip
    choices["ab"].add_argument("--answers", type=int, default=0, help="also answer the first N questions")
    choices["leaks"].add_argument("--answers", action="store_true", help="also ask the model (starts vLLM)")
    for name in ("ab", "leaks"):
        choices[name].add_argument("--canaries", type=Path, help="canary list (default DOCS/canaries.jsonl)")


def cmd_build_qa(args: argparse.Namespace) -> int:
    from eval.build_qa import BUILDERS
    from eval.qa import write_qa

    docs = args.docs.resolve() if args.docs else None
    n = write_qa(args.out, BUILDERS[args.set](docs))
    print(f"{n} questions -> {args.out}")
    return 0 if n else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from eval import harness
    from eval.qa import read_qa
    from eval.report import format_result, write_json
    from pipelines.cli.main import settings_from_args

    settings = settings_from_args(args)
    model = _model_dir(args, settings.layout.models_dir)  # a wrong --model fails before anything loads
    ctx = harness.EvalContext.from_settings(settings, args.cache)
    docs = args.docs.resolve()
    pairs = read_qa(args.qa)[: args.limit] if args.qa else []
    command = args.eval_command
    result: dict[str, Any]
    if command == "retrieval":
        result = harness.run_retrieval(ctx, docs, pairs, _variants(args))
    elif command == "answers":
        result = _run_answer_modes(ctx, docs, pairs, args, model)
    elif command == "ab":
        result = harness.run_ab(
            ctx, docs, pairs, answers=args.answers, model_dir=model, canaries_file=args.canaries
        )
    else:
        result = harness.run_leaks(
            ctx, docs, canaries_file=args.canaries, model_dir=model, with_answers=args.answers
        )
    result["qa"] = str(args.qa) if args.qa else None
    print(format_result(result))
    if args.out:
        print(f"\nfull result: {write_json(result, args.out)}")
    curated_leaks = result["leaks"].get("curated", {}).get("summary", {})
    leaked = {k: v for k, v in curated_leaks.items() if k in MUST_BE_ZERO and v}
    if leaked:  # the one number that must be zero: fail the command, so CI fails with it
        print(f"\nLEAK: the curated index let canaries through: {leaked}")
        return 1
    return 0


def _run_answer_modes(
    ctx: EvalContext, docs: Path, pairs: list[QAPair], args: argparse.Namespace, model: Path | None
) -> dict[str, Any]:
    """`eval answers` per mode: one row per variant (and per mode, "curated/verified", with --mode all)."""
    from eval import harness

    modes = ANSWER_MODES if args.mode == "all" else (args.mode or ctx.settings.answers.mode,)
    base = ctx.settings
    result: dict[str, Any] = {}
    for mode in modes:
        ctx.settings = base.model_copy(update={"answers": base.answers.model_copy(update={"mode": mode})})
        run = harness.run_answers(ctx, docs, pairs, _variants(args), model_dir=model)
        labelled = {f"{v}/{mode}" if len(modes) > 1 else v: a for v, a in run["answers"].items()}
        result = {**run, "answers": {**result.get("answers", {}), **labelled}}
    ctx.settings = base
    return result


def _model_dir(args: argparse.Namespace, models_dir: Path) -> Path | None:
    """None for the base model (the harness converts it once), else the folder `--model` names."""
    from pipelines.core.model_cache import ModelCacheError, resolve_model

    choice = getattr(args, "model", "base")
    if choice == "base":
        return None
    try:
        return resolve_model(choice, models_dir)
    except ModelCacheError as exc:
        raise SystemExit(str(exc)) from None


def _variants(args: argparse.Namespace) -> tuple[Variant, ...]:
    return ("curated", "uncurated") if args.uncurated else ("curated",)
