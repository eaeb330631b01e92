"""The question file: JSONL, one question a line: {"id", "question", "answer", "doc"}.

`doc` is the gold document's path relative to the corpus folder, exactly as the connector names it
(`product-docs-python/faq/programming.html`), so a retrieved chunk's `path` compares with it as is.
Build real sets with `vetted eval build-qa python-faq|foldoc --out FILE` (eval.build_qa); never by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

FIELDS = ("id", "question", "answer", "doc")


class QAFormatError(ValueError):
    """A question file that cannot be used; the message names the file, the line and the fix."""


@dataclass(slots=True, frozen=True)
class QAPair:
    id: str
    question: str
    answer: str
    doc: str  # gold document, relative to the corpus folder


def parse_line(line: str, where: str) -> QAPair:
    """One JSONL line to a QAPair; `where` ("file:line") goes into every error."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise QAFormatError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise QAFormatError(f"{where}: expected an object {{{', '.join(FIELDS)}}}, got {type(row).__name__}")
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise QAFormatError(f"{where}: missing {', '.join(missing)}; every line needs {', '.join(FIELDS)}")
    for name in FIELDS:
        value = row[name]
        if not isinstance(value, str) or not value.strip():
            raise QAFormatError(f"{where}: {name!r} must be a non-empty string, got {value!r}")
    doc = row["doc"]
    rel = PurePosixPath(doc)
    if rel.is_absolute() or ".." in rel.parts or "\\" in doc:
        raise QAFormatError(
            f"{where}: doc {doc!r} must be a path relative to the corpus folder, with / and no '..' "
            "(e.g. product-docs-python/faq/programming.html)"
        )
    return QAPair(row["id"].strip(), row["question"].strip(), row["answer"].strip(), rel.as_posix())


def read_qa(path: Path) -> list[QAPair]:
    """Read and validate a question file; ids must be unique and the file must hold at least one question."""
    if not path.is_file():
        raise QAFormatError(f"{path}: no such question file (build one: vetted eval build-qa python-faq)")
    pairs: list[QAPair] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        pair = parse_line(line, f"{path}:{n}")
        if pair.id in seen:
            raise QAFormatError(f"{path}:{n}: id {pair.id!r} already used on line {seen[pair.id]}")
        seen[pair.id] = n
        pairs.append(pair)
    if not pairs:
        raise QAFormatError(f"{path}: holds no questions")
    return pairs


def write_qa(path: Path, pairs: Iterable[QAPair]) -> int:
    """Write pairs as JSONL (written whole, then renamed into place); returns how many."""
    rows = [json.dumps(asdict(p), ensure_ascii=False) for p in pairs]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return len(rows)


def check_docs_exist(pairs: Sequence[QAPair], corpus_dir: Path) -> None:
    """Fail when gold documents are missing from the corpus: every such question would score as a miss."""
    missing = sorted({p.doc for p in pairs if not (corpus_dir / p.doc).is_file()})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise QAFormatError(
            f"{len(missing)} gold documents are not in {corpus_dir}: {shown}. "
            "Build the questions against this corpus (vetted eval build-qa ... --docs DIR)."
        )
