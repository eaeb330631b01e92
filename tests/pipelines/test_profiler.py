import json
import mmap
import os
import subprocess
import sys

from pipelines.fsio import atomic_write_bytes
from pipelines.profiler import RunProfile

MB = 2**20


def test_known_write_with_fsync_is_recorded(tmp_path):
    profile = RunProfile("t")
    with profile.stage("write") as st:
        for i in range(3):
            atomic_write_bytes(tmp_path / f"f{i}.bin", os.urandom(MB))
        st.items(items_in=3, items_out=3)
    rec = profile.stages[0]
    assert rec.wchar >= 3 * MB
    assert rec.write_bytes >= 3 * MB  # fsync forces the bytes to the device
    assert rec.fsync_count == 6  # one per file and one per folder rename: exact, through pipelines.fsio
    assert rec.fsync_s > 0 and rec.items_out == 3 and rec.wall_s > 0


def test_child_process_io_is_counted_after_it_exits(tmp_path):
    target = tmp_path / "child.bin"
    code = f"import time; open({str(target)!r}, 'wb').write(b'x' * {4 * MB}); time.sleep(0.6)"
    profile = RunProfile("t")
    with profile.stage("child"):
        subprocess.run([sys.executable, "-c", code], check=True)  # reaped before the stage ends
    assert profile.stages[0].wchar >= 4 * MB


def test_mmap_reads_show_up_as_major_faults(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(16 * MB))
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # evict: the mmap read must go to the device
    profile = RunProfile("t")
    with profile.stage("mmap"), mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
        total = sum(m[i] for i in range(0, len(m), 4096))
    os.close(fd)
    rec = profile.stages[0]
    assert total >= 0
    assert rec.major_faults > 0
    assert rec.rchar < MB  # mmap reads bypass read(2): only faults tell they happened


def test_profile_json_lists_stages_with_dlio_style_fields(tmp_path):
    profile = RunProfile("run-1")
    with profile.stage("load") as st:
        (tmp_path / "x").write_bytes(b"a" * 1000)
        st.items(items_in=1, items_out=1)
    data = json.loads(profile.write(tmp_path / "io_profile.json").read_text())
    stage = data["stages"][0]
    assert data["run_id"] == "run-1" and stage["stage"] == "load"
    for key in (
        "rchar",
        "wchar",
        "read_bytes",
        "write_bytes",
        "fsync_count",
        "major_faults",
        "read_MB_per_second",
        "mean_bytes_per_write",
        "cpu_s",
        "items_out",
    ):
        assert key in stage
