"""Fixtures of the serving tests that start processes (tests/serving/processes.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.serving.processes import descendants, wait_for


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fails the test when a process it started (or one of theirs) still runs once it is done."""
    before = descendants(os.getpid())
    yield
    wait_for(lambda: not descendants(os.getpid()) - before, 10)
    assert descendants(os.getpid()) - before == set()
