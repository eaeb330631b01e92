"""The work folder (default `./vetted-data`): every path in it has its name here and nowhere else.

    documents.parquet    one row per document version: scores, tier, reasons (curation.table)
    quarantine.jsonl     files that could not become documents, with the reason
    steward.db           overrides, audit log (curation.steward)
    steward.token        the steward's bearer token when none is configured (mode 0600)
    chat.db              conversations, answers shown and staff feedback (serving.chat_store)
    index/               builds and CURRENT (pipelines.core.index_store owns what is inside)
    runs/<run-id>/       summary.json, steward report, I/O profile of one run
    cache/               the embedding cache; ingest_state.sqlite (what incremental runs reuse)
    models/              converted base model, adapters, merged models (models/tuned/: the fine-tuned one)
    checkpoints/         training checkpoints (pipelines.training.lora)
    training/            fine-tuning examples and their data card (pipelines.training.data)
    logs/                the engine's log
    eval/                the evaluation's cached work folders

It lives in curation, the lowest layer, because every layer above reads some of these paths; it creates
nothing on its own, so building one never touches the disk.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_ID_LOCK = threading.Lock()
_last_id_us = 0


def time_ordered_id() -> str:
    """An id that sorts by creation time: UTC to the microsecond, strictly increasing within a process.

    Run ids and index build ids are ordered by name ("the latest run"); a seconds-resolution stamp with a
    random tail put two runs started in the same second in random order. Leading 'YYYYmmddTHHMMSS' is kept so
    that old ids (seconds only) still sort before new ones of a later second.
    """
    global _last_id_us
    with _ID_LOCK:
        now_us = max(time.time_ns() // 1000, _last_id_us + 1)
        _last_id_us = now_us
    seconds, micros = divmod(now_us, 1_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{micros:06d}Z-" + uuid.uuid4().hex[:6]


@dataclass(slots=True, frozen=True)
class RunFolder:
    """`runs/<run-id>/`: what one run leaves for people and for the steward page."""

    SUMMARY = "summary.json"
    IO_PROFILE = "io_profile.json"

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def io_profile(self) -> Path:
        return self.path / self.IO_PROFILE

    @property
    def training_summary(self) -> Path:
        """A fine-tuning run's summary (losses, checkpoint decision); apart from the ingestion summary."""
        return self.path / "training_summary.json"

    @property
    def steward_report_json(self) -> Path:
        return self.path / "steward_report.json"

    @property
    def steward_report_html(self) -> Path:
        return self.path / "steward_report.html"


@dataclass(slots=True, frozen=True)
class WorkLayout:
    root: Path

    @property
    def documents(self) -> Path:
        return self.root / "documents.parquet"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine.jsonl"

    @property
    def steward_db(self) -> Path:
        return self.root / "steward.db"

    @property
    def chat_db(self) -> Path:
        # apart from steward.db: the tier view re-reads tiers when steward.db changes, and every answer writes
        return self.root / "chat.db"

    @property
    def steward_token(self) -> Path:
        return self.root / "steward.token"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs_dir / run_id)

    def run_summaries(self) -> list[Path]:
        """Every run's summary.json, oldest first (run ids sort by start time)."""
        return sorted(self.runs_dir.glob(f"*/{RunFolder.SUMMARY}"))

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def embedding_cache(self) -> Path:
        return self.cache_dir / "embeddings.sqlite"

    @property
    def ingest_state(self) -> Path:
        return self.cache_dir / "ingest_state.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tuned_model_dir(self) -> Path:
        return self.models_dir / "tuned"

    @property
    def adapter_dir(self) -> Path:
        return self.models_dir / "adapter"

    @property
    def training_dir(self) -> Path:
        return self.root / "training"

    @property
    def training_examples(self) -> Path:
        return self.training_dir / "examples.jsonl"

    @property
    def data_card(self) -> Path:
        return self.training_dir / "data_card.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"
