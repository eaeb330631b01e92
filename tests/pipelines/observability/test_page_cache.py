"""Cold vs warm cache: evicting our files sends the next read to the device; where it cannot, we say why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.observability.fsio import atomic_write_bytes, traced_open
from pipelines.observability.page_cache import evict, eviction_summary, fs_type
from pipelines.observability.profiler import RunProfile

MB = 2**20


def _read_all(path: Path) -> int:
    with traced_open(path) as fh:
        return sum(len(chunk) for chunk in iter(lambda: fh.read(MB), b""))


def test_eviction_makes_the_reread_come_from_the_device(tmp_path):
    path = tmp_path / "data.bin"
    atomic_write_bytes(path, os.urandom(8 * MB))
    _read_all(path)  # warm
    [result] = evict([path])
    if not result.evicted:
        pytest.skip(f"this filesystem cannot evict ({result.fs_type}): {result.note}")
    assert result.resident_before > 0.9 and result.resident_after <= 0.01

    profile = RunProfile("t")
    with profile.stage("cold"):
        _read_all(path)
    with profile.stage("warm"):
        _read_all(path)
    cold, warm = profile.stages
    assert cold.read_bytes >= 8 * MB * 0.95  # every page came from the device
    assert warm.read_bytes < MB  # and then from the page cache
    assert cold.rchar >= 8 * MB and warm.rchar >= 8 * MB


def test_folders_are_evicted_file_by_file_and_summarised(tmp_path):
    for i in range(3):
        atomic_write_bytes(tmp_path / "build" / f"part{i}.bin", os.urandom(MB))
    results = evict([tmp_path / "build"])
    summary = eviction_summary(results)
    assert summary.files == 3 and summary.size_bytes == 3 * MB
    assert summary.evicted_bytes == sum(r.size_bytes for r in results if r.evicted)


def test_memory_filesystems_report_that_nothing_can_be_dropped():
    shm = Path("/dev/shm")
    if not shm.is_dir() or fs_type(shm) != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm on this machine")
    path = shm / f"vetted-test-{os.getpid()}.bin"
    try:
        path.write_bytes(os.urandom(MB))
        [result] = evict([path])
    finally:
        path.unlink(missing_ok=True)
    assert not result.evicted and result.fs_type == "tmpfs"
    assert "memory is the storage" in result.note
