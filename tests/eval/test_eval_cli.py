"""`vetted eval ...` end to end where it is cheap, the result table, and eval's import boundary."""

import json
import subprocess
import sys

import pytest

from eval.qa import read_qa
from eval.report import format_result, table
from pipelines.cli.main import build_parser, main
from tests.conftest import REPO_ROOT


def test_build_qa_writes_a_valid_question_file(tmp_path, test_corpus, capsys):
    out = tmp_path / "foldoc.jsonl"
    assert main(["eval", "build-qa", "foldoc", "--docs", str(test_corpus), "--out", str(out)]) == 0
    pairs = read_qa(out)
    assert len(pairs) == 80 and f"{len(pairs)} questions -> {out}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["retrieval", "answers", "ab"])
def test_question_commands_need_docs_and_qa(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", command, "--docs", "corpus"])
    assert "--qa" in capsys.readouterr().err
    args = build_parser().parse_args(["eval", command, "--docs", "c", "--qa", "q.jsonl", "--out", "r.json"])
    assert args.eval_command == command and str(args.out) == "r.json"


def test_leaks_needs_no_questions():
    args = build_parser().parse_args(["eval", "leaks", "--docs", "c", "--answers"])
    assert args.qa is None and args.answers is True


def test_result_prints_one_table_per_section():
    result = {
        "command": "ab",
        "corpus": "/c",
        "questions": 2,
        "machine": {"cpu": "Xeon", "cores": 2, "gpu": None},
        "retrieval": {
            "curated": {"summary": {"recall@1": 0.5, "recall@5": 1.0, "mrr": 0.75}},
            "uncurated": {"summary": {"recall@1": 0.0, "recall@5": 1.0, "mrr": 0.5, "rejected_in_top5": 1.5}},
        },
        "leaks": {"curated": {"summary": {"probes": 4, "canaries_in_contexts": 0}}},
        "answers": {},
    }
    text = format_result(result)
    assert "machine: Xeon, 2 cores, no GPU" in text
    assert "retrieval" in text and "leaks" in text and "answers" not in text.split("leaks")[1]
    summaries = {label: run["summary"] for label, run in result["retrieval"].items()}
    lines = [line.split() for line in table(summaries, ("recall@1", "rejected_in_top5")).splitlines()]
    assert lines == [
        ["recall@1", "rejected_in_top5"],
        ["curated", "0.500", "-"],
        ["uncurated", "0.000", "1.500"],
    ]
    json.dumps(result)  # results are plain JSON


def test_eval_imports_neither_prefect_nor_fastapi():
    code = (
        "import sys, eval.harness, eval.bench.embed, eval.bench.search, eval.bench.rerun, "
        "eval.bench.scorers\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'fastapi')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
