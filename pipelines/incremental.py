"""What an ingestion run keeps for the next one, and how the next one decides what to redo.

A document's identity is its doc id (its source and path); its version is a hash of what the connector read
(text, title, date, source type, meta), and the version decides:

    new        not in the last completed run          read, score, chunk, embed
    changed    in it with another version             read, re-score, re-chunk, re-embed, vectors replaced
    unchanged  the same version                       stored scores, chunks and vectors kept
    deleted    in the last completed run, not in this chunks leave the new build; its row here is marked
               one                                    deleted (kept for the audit); the steward report and
                                                      steward.db's audit log list it

Everything lives in one SQLite file (`WorkLayout.ingest_state`), three tables:

    files      rel path -> key of the file (bytes SHA-256, mtime, manifest entry, loader settings and
               code) and what the connector made of it: an unchanged file is not parsed again
    scores     doc id -> (version, deps, the scores that depend on the document alone, its MinHash signature).
               `deps` hashes what those scores depend on (policy.toml, sources.toml, domain and curation
               settings, the embedding model, the source of the scorer package and every module it imports),
               so a change of any of them re-scores every document. Age (the date) and duplicate (the other
               documents) are scored again every run; the duplicate scorer gets the kept signatures, so only
               changed text is shingled and the LSH is banded again over all of them.
    documents  the documents of the last completed run (live) and those found gone (deleted)

`files` and `scores` are content-addressed caches, written as soon as a stage has them: a run killed later
leaves them right, and the next run starts from them. `documents` is written after the run published its
table and index build (`commit`), so a killed run is compared again against the last completed one.
Chunks and vectors are not stored here: the build in service is their store (pipelines.core.index_store), and
a document's chunks are reused when the build holds its redacted text's hash under the same model and
chunking settings.

Documents and scores are stored pickled: the state is trusted as the rest of the work folder is (models,
index). Deleting the file makes the next run parse and score everything again (every document counted
new); chunks and vectors still come from the build in service where it holds the same text.
"""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

import curation
from curation.connectors import FolderConnector
from curation.models import Document, QuarantineRecord, ScoreResult
from curation.sources import SourceRegistry
from pipelines.core.settings import Settings

# Scored again on every run, over every document: age is measured against today, duplicate against the
# other documents. Every other scorer reads its own document only, so its result is kept while the
# document's version and the deps hash stay the same.
RESCORED_EVERY_RUN = frozenset({"age", "duplicate"})
_REPO = Path(curation.__file__).resolve().parent.parent
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (rel TEXT PRIMARY KEY, key TEXT NOT NULL, items BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    doc_id TEXT PRIMARY KEY, version TEXT NOT NULL, deps TEXT NOT NULL, scores BLOB NOT NULL, signature BLOB
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('live', 'deleted')),
    run_id TEXT NOT NULL,  -- live: the last run that read it; deleted: the run that found it gone
    at REAL NOT NULL
);
"""
_BATCH = 500  # host parameters per statement (SQLite's old limit is 999)


def version_hash(doc: Document) -> str:
    """What the connector read of a document, hashed: the version the runs compare."""
    day = doc.updated.isoformat() if doc.updated else ""
    fields = [doc.source, doc.source_type, doc.path, doc.title, doc.content_hash, day, doc.updated_from,
              sorted(doc.meta.items())]  # fmt: skip
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def hash_parts(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def loader_key(settings: Settings) -> str:
    """What a file's documents depend on besides its bytes: the loader's bounds, sources.toml, the code."""
    cur = settings.curation
    bounds = cur.model_dump(mode="json", include={"max_file_mb", "legacy_encoding", "file_timeout_s",
                                                  "max_pages", "max_sheet_rows", "max_messages"})  # fmt: skip
    sources = file_hash(settings.resolve(settings.paths.sources_file))
    return hash_parts(bounds, sources, code_hash("curation.connectors"))


def score_deps(settings: Settings, embedding_model: str) -> str:
    """What the kept scores depend on besides the document: policy.toml, sources.toml, the domain and
    curation settings, the embedding model (relevance) and the scorer code."""
    return hash_parts(
        file_hash(settings.resolve(settings.paths.policy_file)),
        file_hash(settings.resolve(settings.paths.sources_file)),
        settings.model_dump(mode="json", include={"domain", "curation"}, exclude={"curation": {"today"}}),
        embedding_model,
        code_hash("curation.scorers"),
    )


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


@cache
def code_hash(package: str) -> str:
    """The source of a package and of every repo module it imports, transitively (derived from the imports,
    never listed by hand). Hashed once per process: the code this process runs."""
    digest = hashlib.sha256()
    for path in sorted(_import_closure(package)):
        digest.update(path.relative_to(_REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _import_closure(package: str) -> set[Path]:
    root = _REPO / package.replace(".", "/")
    todo = list(root.rglob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            todo.extend(
                f for n in names if n.split(".")[0] in ("curation", "pipelines") for f in _module_file(n)
            )
    return seen


def _module_file(name: str) -> list[Path]:
    base = _REPO / name.replace(".", "/")
    return [f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()]


@dataclass(slots=True, frozen=True)
class Gone:
    """A document of the last completed run that this run did not read."""

    doc_id: str
    path: str
    source: str
    title: str


@dataclass(slots=True)
class Changes:
    """This run's documents against the last completed run's."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[Gone] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "unchanged": len(self.unchanged),
                "deleted": len(self.deleted)}  # fmt: skip


@dataclass(slots=True)
class Stored:
    """One document's kept scores (those not in RESCORED_EVERY_RUN) and its MinHash signature."""

    scores: dict[str, ScoreResult]
    signature: np.ndarray | None


def drop_stale_relevance(stored: dict[str, Stored], steward_key: str) -> set[str]:
    """Take out of `stored` (in place) the relevance results made under other steward decisions than
    `steward_key` (curation.feedback): a decision since then may move them, so relevance alone is scored
    again; the other kept scores stay. Returns the documents whose relevance went."""
    stale = set()
    for doc_id, kept in stored.items():
        relevance = kept.scores.get("relevance")
        if relevance is not None and relevance.details.get("steward_key", "none") != steward_key:
            del kept.scores["relevance"]
            stale.add(doc_id)
    return stale


def kept_scores(scores: dict[str, ScoreResult]) -> dict[str, ScoreResult]:
    """The results a later run may take as they are: every scorer's but those RESCORED_EVERY_RUN."""
    return {name: result for name, result in scores.items() if name not in RESCORED_EVERY_RUN}


class IngestState:
    """The incremental state of one work folder (one SQLite file); see the module docstring."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # a killed writer leaves the last commit readable
            yield db
            db.commit()
        finally:
            db.close()

    # --- files: what the connector made of each file ------------------------------------------------------

    def files(self) -> dict[str, tuple[str, bytes]]:
        with self._db() as db:
            return {rel: (key, blob) for rel, key, blob in db.execute("SELECT rel, key, items FROM files")}

    def put_files(self, rows: Iterable[tuple[str, str, list[Document | QuarantineRecord]]]) -> None:
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO files (rel, key, items) VALUES (?, ?, ?)",
                [(rel, key, pickle.dumps(items)) for rel, key, items in rows],
            )

    # --- scores -----------------------------------------------------------------------------------------

    def stored(self, versions: dict[str, str], deps: str) -> dict[str, Stored]:
        """The kept scores of every document whose version and deps are the ones given."""
        found: dict[str, Stored] = {}
        ids = list(versions)
        with self._db() as db:
            for i in range(0, len(ids), _BATCH):
                part = ids[i : i + _BATCH]
                rows = db.execute(
                    "SELECT doc_id, version, scores, signature FROM scores WHERE deps = ? AND doc_id IN "
                    f"({','.join('?' * len(part))})",
                    [deps, *part],
                )
                for doc_id, version, blob, sig in rows:
                    if versions[doc_id] == version:
                        signature = np.frombuffer(sig, dtype=np.uint64) if sig else None
                        found[doc_id] = Stored(pickle.loads(blob), signature)
        return found

    def put_scores(
        self, rows: Iterable[tuple[str, str, str, dict[str, ScoreResult], np.ndarray | None]]
    ) -> None:
        """(doc id, version, deps, kept scores, signature) per document; pickled before redaction edits
        the sensitive scorer's details in place."""
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores (doc_id, version, deps, scores, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                [(d, v, deps, pickle.dumps(s), None if sig is None else np.asarray(sig, np.uint64).tobytes())
                 for d, v, deps, s, sig in rows],
            )  # fmt: skip

    # --- documents: the last completed run ------------------------------------------------------------

    def changes(self, docs: Sequence[Document], versions: dict[str, str]) -> Changes:
        with self._db() as db:
            rows = db.execute(
                "SELECT doc_id, version, path, source, title FROM documents WHERE status = 'live'"
            ).fetchall()
        before = {r[0]: r for r in rows}
        out = Changes()
        for doc in docs:
            prev = before.get(doc.doc_id)
            kind = (
                out.new if prev is None else out.unchanged if prev[1] == versions[doc.doc_id] else out.changed
            )
            kind.append(doc.doc_id)
        here = set(versions)
        out.deleted = [Gone(*r[:1], *r[2:]) for r in rows if r[0] not in here]
        out.deleted.sort(key=lambda g: (g.source, g.path, g.doc_id))
        return out

    def commit(
        self, run_id: str, docs: Sequence[Document], versions: dict[str, str], gone: Sequence[Gone],
        files: Iterable[str],
    ) -> None:  # fmt: skip
        """This run's documents become the last completed run's; the gone ones are marked deleted; files and
        scores of what is no longer in the corpus are dropped. One transaction: all of it or none."""
        now = time.time()
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO documents (doc_id, version, path, source, title, status, run_id, at) "
                "VALUES (?, ?, ?, ?, ?, 'live', ?, ?)",
                [(d.doc_id, versions[d.doc_id], d.path, d.source, d.title, run_id, now) for d in docs],
            )
            db.executemany(
                "UPDATE documents SET status = 'deleted', run_id = ?, at = ? WHERE doc_id = ?",
                [(run_id, now, g.doc_id) for g in gone],
            )
            db.executemany("DELETE FROM scores WHERE doc_id = ?", [(g.doc_id,) for g in gone])
            keep = set(files)
            stale = [(rel,) for (rel,) in db.execute("SELECT rel FROM files") if rel not in keep]
            db.executemany("DELETE FROM files WHERE rel = ?", stale)

    def deleted(self) -> dict[str, str]:
        """doc id -> the run that found it gone, for every document marked deleted."""
        with self._db() as db:
            return dict(
                db.execute("SELECT doc_id, run_id FROM documents WHERE status = 'deleted'").fetchall()
            )


class RememberingConnector(FolderConnector):
    """The folder walk, with each unchanged file's documents taken from the state instead of parsed again.

    A file's key is the SHA-256 of its bytes, its mtime (a last-resort date), its manifest entry and
    `loader` (the loader settings, sources.toml and the connector code). Files whose reading timed out are
    not remembered: a busy machine is no property of the file.
    """

    def __init__(self, root: Path, registry: SourceRegistry, *, state: IngestState, loader: str,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(root, registry, **kwargs)
        self.loader = loader
        self.known = state.files()
        self.fresh: list[tuple[str, str, list[Document | QuarantineRecord]]] = []
        self.seen: list[str] = []
        self.parsed = 0  # files read by their parser this run

    def read(self, path: Path) -> Iterator[Document | QuarantineRecord]:
        rel = path.relative_to(self.root).as_posix()
        self.seen.append(rel)
        entry = self.manifest.get(rel)
        key = hash_parts(file_hash(path), path.stat().st_mtime_ns, repr(entry), self.loader)
        known = self.known.get(rel)
        if known is not None and known[0] == key:
            items: list[Document | QuarantineRecord] = pickle.loads(known[1])
            self.units += len(items)
            yield from items
            return
        self.parsed += 1
        items = list(super().read(path))
        if not any(isinstance(i, QuarantineRecord) and i.reason == "timeout" for i in items):
            self.fresh.append((rel, key, items))
        yield from items
