"""Run and build ids sort by creation time: "the latest run" is the last name."""

from __future__ import annotations

import pytest
import time_machine

from curation import layout
from curation.layout import time_ordered_id


@pytest.fixture(autouse=True)
def _fresh_sequence(monkeypatch):
    monkeypatch.setattr(layout, "_last_id_us", 0)  # ids made earlier in this process hold no sway here


def test_ids_made_in_the_same_second_sort_in_the_order_they_were_made():
    with time_machine.travel("2026-12-02T10:00:00Z", tick=False):  # the clock stands still: one second
        ids = [time_ordered_id() for _ in range(200)]
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)


def test_ids_are_utc_and_a_later_second_sorts_after_an_id_of_the_old_format():
    with time_machine.travel("2026-12-02T10:00:01Z", tick=False):
        new = time_ordered_id()
    assert new.startswith("20261202T100001.")
    assert sorted(["20261202T100000-abcdef", new]) == ["20261202T100000-abcdef", new]


def test_a_clock_that_steps_back_does_not_reorder_ids():
    with time_machine.travel("2026-12-02T10:00:05Z", tick=False):
        first = time_ordered_id()
    with time_machine.travel("2026-12-02T10:00:02Z", tick=False):  # NTP stepped the clock back
        second = time_ordered_id()
    assert second > first
