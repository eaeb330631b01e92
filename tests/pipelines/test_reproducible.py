"""Seeded builders give the same bytes whatever the day, the time zone or the hash seed.

The labelled PII set and the corpus are committed or cached by seed; a builder that reads the clock (Faker's
date providers draw relative to now) turns "same seed, same bytes" into "same bytes until next week". These
tests build them again under a clock moved a year ahead, in a time zone 14 hours from UTC, and compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from eval.pii_set import build as pii_build
from pipelines.corpus.fill import Filler
from pipelines.corpus.templates import default_cache_dir, load_template_book
from tests.conftest import REPO_ROOT

# A year and a week after the day the committed set was built, on the far side of the date line.
AHEAD = datetime(2027, 12, 2, 23, 30, tzinfo=ZoneInfo("Pacific/Kiritimati"))


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_pii_set_generated_sections_are_the_same_a_year_ahead():
    today = pii_build.generated_items()
    with time_machine.travel(AHEAD, tick=False):
        assert datetime.now().year == 2027  # the clock really moved
        ahead = pii_build.generated_items()
    assert ahead == today


def test_committed_pii_set_is_what_refresh_generated_rebuilds():
    committed = [json.loads(line) for line in pii_build.OUT.read_text(encoding="utf-8").splitlines()]
    with time_machine.travel(AHEAD, tick=False):
        assert pii_build.refresh_generated(committed) == committed


def test_corpus_is_byte_identical_a_year_ahead_in_another_zone_and_hash_seed(tmp_path):
    # Both built now: the sampled tickets depend on which Debian packages are installed, which a corpus
    # cached by an earlier session may not match. The second build runs in a child process with its own
    # hash seed and TZ, the clock moved before anything is imported.
    from pipelines.corpus.build import build_corpus

    today = build_corpus(tmp_path / "today", "test").out_dir
    out = tmp_path / "corpus"
    code = (
        "import time_machine, datetime, zoneinfo\n"
        f"dest = datetime.datetime.fromisoformat({AHEAD.isoformat()!r})"
        ".replace(tzinfo=zoneinfo.ZoneInfo('Pacific/Kiritimati'))\n"
        "with time_machine.travel(dest, tick=False):\n"
        "    from pathlib import Path\n"
        "    from pipelines.corpus.build import build_corpus\n"
        f"    build_corpus(Path({str(out)!r}), 'test')\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242", "TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True, timeout=300)
    assert _tree_digest(out) == _tree_digest(today)


def test_filler_refuses_a_clock_relative_faker_placeholder():
    filler = Filler.seeded(load_template_book(default_cache_dir()), seed=1)
    assert filler.fill("on {{day_of_week}} morning") in {
        f"on {d} morning"
        for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    }
    with pytest.raises(ValueError, match="month_name"):
        filler.fill("in {{month_name}}")
