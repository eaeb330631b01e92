"""Sentence templates with personal-data placeholders, read from presidio-evaluator's wheel.

presidio-evaluator's data generator ships ~200 customer-service sentences written for testing PII detection
("My IBAN is {{iban}}"), plus a nationalities table. We download the wheel once (pip, no dependencies: we
need its data files, not its code), keep it in a cache folder, and read both files straight from the zip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.corpus.model import CorpusSourceMissing

# Pinned: the templates are part of what a seed reproduces, so a new release must not change the corpus.
PRESIDIO_EVALUATOR = "presidio-evaluator==0.3.2"
WHEEL_GLOB = "presidio_evaluator-0.3.2-*.whl"
TEMPLATES_MEMBER = "presidio_evaluator/data_generator/raw_data/templates.txt"
NATIONALITIES_MEMBER = "presidio_evaluator/data_generator/raw_data/nationalities.csv"
PIP_TIMEOUT_S = 300


@dataclass(slots=True, frozen=True)
class Nationality:
    country: str
    nationality: str
    man: str
    woman: str
    plural: str


@dataclass(slots=True, frozen=True)
class TemplateBook:
    templates: tuple[str, ...]
    nationalities: tuple[Nationality, ...]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vetted"


def load_template_book(cache_dir: Path) -> TemplateBook:
    with zipfile.ZipFile(fetch_wheel(cache_dir)) as wheel:
        templates = wheel.read(TEMPLATES_MEMBER).decode("utf-8")
        nationalities = wheel.read(NATIONALITIES_MEMBER).decode("utf-8-sig")
    return TemplateBook(_templates(templates), _nationalities(nationalities))


def fetch_wheel(cache_dir: Path) -> Path:
    """The cached wheel, downloaded with this interpreter's pip on first use."""
    cached = sorted(cache_dir.glob(WHEEL_GLOB))
    if cached:
        return cached[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Download beside the cache and move the wheel in, so a killed download never leaves half a zip there.
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--quiet", PRESIDIO_EVALUATOR, "-d", tmp]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise _missing(str(error)) from error
        wheels = sorted(Path(tmp).glob(WHEEL_GLOB))
        if done.returncode != 0 or not wheels:
            raise _missing(done.stderr.strip()[-500:] or "no wheel was downloaded")
        target = cache_dir / wheels[0].name
        shutil.move(wheels[0], target)
    return target


def _missing(why: str) -> CorpusSourceMissing:
    return CorpusSourceMissing(
        f"could not download {PRESIDIO_EVALUATOR} for the confidential templates ({why}); fetch it by hand: "
        f"pip download --no-deps {PRESIDIO_EVALUATOR} -d <cache dir>"
    )


def _templates(raw: str) -> tuple[str, ...]:
    # The file writes line breaks as a literal "\n", and one sentence carries a mis-decoded dash (U+FFFD).
    lines = (line.replace("\\n", "\n").replace("\ufffd", "-").strip() for line in raw.splitlines())
    return tuple(line for line in lines if "{{" in line)


def _nationalities(raw: str) -> tuple[Nationality, ...]:
    rows = [line.split(",") for line in raw.splitlines()[1:] if line.count(",") == 4]
    return tuple(Nationality(*(cell.strip().title() for cell in row)) for row in rows)
