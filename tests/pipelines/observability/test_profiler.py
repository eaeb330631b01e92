import json
import mmap
import os
import subprocess
import sys
import threading
import time

import pytest

from pipelines.observability.counters import CHILD_SAMPLE_S, delayacct_enabled
from pipelines.observability.fsio import atomic_write_bytes, traced_open
from pipelines.observability.profiler import RunProfile

MB = 2**20


def test_known_write_with_fsync_is_recorded(tmp_path):
    profile = RunProfile("t")
    with profile.stage("write") as st:
        for i in range(3):
            atomic_write_bytes(tmp_path / f"f{i}.bin", os.urandom(MB), recorder=st.io)
        st.items(items_in=3, items_out=3)
    rec = profile.stages[0]
    assert rec.wchar >= 3 * MB
    assert rec.write_bytes >= 3 * MB  # fsync forces the bytes to the device
    assert rec.fsync_count == 6  # one per file and one per folder rename: exact, through our fsio
    assert rec.fsync_s > 0 and rec.items_out == 3 and rec.wall_s > 0


def test_child_process_io_is_counted_after_it_exits(tmp_path):
    target = tmp_path / "child.bin"
    code = f"import time; open({str(target)!r}, 'wb').write(b'x' * {4 * MB}); time.sleep(0.6)"
    profile = RunProfile("t")
    with profile.stage("child"):
        subprocess.run([sys.executable, "-c", code], check=True)  # reaped before the stage ends
    assert 4 * MB <= profile.stages[0].wchar < 5 * MB  # once: the kernel folds it into ours when reaped


def test_a_child_still_running_at_the_end_is_counted(tmp_path):
    target = tmp_path / "child.bin"
    code = f"import time; open({str(target)!r}, 'wb').write(b'x' * {3 * MB}); time.sleep(30)"
    profile = RunProfile("t")
    with profile.stage("child"):
        child = subprocess.Popen([sys.executable, "-c", code])
        while not target.exists() or target.stat().st_size < 3 * MB:
            time.sleep(0.05)
    child.kill()
    child.wait()
    assert 3 * MB <= profile.stages[0].wchar < 4 * MB


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
    assert stage["overlapped"] == []  # one stage at a time: its kernel figures are its own
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


def test_files_opened_counts_each_python_open(tmp_path):
    profile = RunProfile("t")
    with profile.stage("open"):
        for i in range(5):
            (tmp_path / f"{i}.txt").write_text("x")
        (tmp_path / "0.txt").read_text()
    assert profile.stages[0].files_opened == 6  # /proc reads made by the profiler itself are not counted


def test_our_reads_and_writes_fill_a_darshan_histogram(tmp_path):
    path = tmp_path / "data.bin"
    profile = RunProfile("t")
    with profile.stage("access") as st:
        atomic_write_bytes(path, os.urandom(5000), recorder=st.io)
        with traced_open(path, recorder=st.io) as fh:
            while fh.read(2048):  # 2048, 2048, 904: front to back
                pass
            fh.seek(100)
            fh.read(50)  # a jump back: not sequential
    access = profile.stages[0].access
    assert access["write"]["ops"] == 1 and access["write"]["bytes"] == 5000
    assert access["write"]["sizes"]["1K_10K"] == 1
    reads = access["read"]
    assert reads["ops"] == 4 and reads["bytes"] == 5000 + 50  # the empty read at end of file is not an access
    assert reads["sizes"]["1K_10K"] == 2 and reads["sizes"]["100_1K"] == 1 and reads["sizes"]["0_100"] == 1
    assert reads["sequential_share"] == 0.75 and reads["consecutive_share"] == 0.75


def test_io_wait_says_where_it_comes_from(tmp_path):
    profile = RunProfile("t")
    with profile.stage("fsync") as st:
        atomic_write_bytes(tmp_path / "f.bin", os.urandom(MB), recorder=st.io)
    rec = profile.stages[0]
    if delayacct_enabled():
        assert rec.io_wait_source == "delayacct"
    else:  # no kernel figure: the time inside our own writes and fsyncs, a lower bound
        assert rec.io_wait_source == "instrumented"
        assert rec.io_wait_s == rec.instrumented_io_s >= rec.fsync_s > 0
    assert 0 < rec.derived()["io_share"]


def test_recorded_steps_give_dlio_training_fields():
    profile = RunProfile("t")
    with profile.stage("train") as st:
        st.record_step(compute_s=2.0, io_wait_s=1.0, samples=8, bytes_read=2 * MB)
        st.record_step(compute_s=4.0, io_wait_s=1.0, samples=12, bytes_read=2 * MB)
    derived = profile.stages[0].derived()
    assert derived["train_au_mean_percentage"] == 75.0  # compute 6 s of 8 s
    assert derived["train_throughput_mean_samples_per_second"] == 2.5
    assert derived["train_io_mean_MB_per_second"] == 0.5  # DLIO's MB is MiB: 4 MiB over 8 s
    assert derived["step_io_wait_mean_seconds"] == 1.0


def test_timed_batches_count_waiting_for_a_batch_as_io(tmp_path):
    files = []
    for i in range(3):
        files.append(tmp_path / f"b{i}.bin")
        files[-1].write_bytes(os.urandom(MB))

    def loader(recorder):
        for path in files:
            time.sleep(0.05)  # a slow store
            with traced_open(path, recorder=recorder) as fh:
                yield fh.read()

    profile = RunProfile("t")
    with profile.stage("train") as st:
        for batch in st.timed_batches(loader(st.io), samples=lambda b: 1, nbytes=len):
            time.sleep(0.02)  # the step's compute
            assert len(batch) == MB
    steps = profile.stages[0].steps
    assert steps.steps == 3 and steps.samples == 3 and steps.bytes_read == 3 * MB
    assert steps.io_wait_s >= 0.15 and 0.06 <= steps.compute_s < steps.io_wait_s
    assert profile.stages[0].access["read"]["bytes"] == 3 * MB


def test_children_already_running_are_background_not_stage_io(tmp_path):
    target = tmp_path / "server.log"
    write = f"open({str(target)!r}, 'wb').write(b'x' * {2 * MB})"
    # The child says when it is up and when it has written, then waits to be told to exit: the test never
    # races the scheduler (under load, a fixed sleep let the child exit before a sample had seen its write).
    code = f"import sys; print('up', flush=True); sys.stdin.readline(); {write}; "
    code += "print('written', flush=True); sys.stdin.readline()"
    server = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin and server.stdout
    try:
        assert server.stdout.readline().strip() == b"up"  # running before the stage, like Prefect's server
        profile = RunProfile("t")
        with profile.stage("busy"):
            server.stdin.write(b"go\n")
            server.stdin.flush()
            assert server.stdout.readline().strip() == b"written"
            time.sleep(10 * CHILD_SAMPLE_S)  # several samples see the write before the child ends
            server.stdin.write(b"exit\n")
            server.stdin.flush()
            server.wait(timeout=30)  # reaped inside the stage
    finally:
        server.kill()
    rec = profile.stages[0]
    assert rec.wchar < MB  # reaped in the stage, but it was running before: background, not the stage's
    assert 2 * MB <= rec.background_io["wchar"] < 3 * MB


def _writer(tmp, profile, name, files, size, reads, start):
    """A stage on its own thread: `files` durable writes of `size` bytes, then `reads` traced reads."""

    def run():
        with profile.stage(name) as st:
            start.wait(timeout=10)  # both stages are open before either writes: they overlap
            for i in range(files):
                atomic_write_bytes(tmp / f"{name}-{i}.bin", os.urandom(size), recorder=st.io)
            for i in range(reads):
                with traced_open(tmp / f"{name}-{i}.bin", recorder=st.io) as fh:
                    fh.read()
            start.wait(timeout=10)  # and neither closes before the other has written

    return threading.Thread(target=run, name=name)


def test_two_stages_on_two_threads_get_exactly_their_own_counts(tmp_path):
    profile = RunProfile("t")
    start = threading.Barrier(2)
    threads = [
        _writer(tmp_path, profile, "small", files=3, size=1000, reads=0, start=start),
        _writer(tmp_path, profile, "large", files=5, size=20_000, reads=2, start=start),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    small, large = (next(s for s in profile.stages if s.stage == n) for n in ("small", "large"))
    # each durable write: the file and its folder fsynced, the temporary file and the folder opened
    assert (small.fsync_count, small.files_opened) == (6, 6)
    assert (large.fsync_count, large.files_opened) == (10, 12)  # + the two files read back
    assert (small.access["write"]["ops"], small.access["write"]["bytes"]) == (3, 3000)
    assert small.access["read"]["ops"] == 0
    assert (large.access["write"]["ops"], large.access["write"]["bytes"]) == (5, 100_000)
    assert (large.access["read"]["ops"], large.access["read"]["bytes"]) == (2, 40_000)
    # /proc/self/io saw both: each says which stage its kernel figures are shared with
    assert small.overlapped == ["large"] and large.overlapped == ["small"]
    assert small.wchar >= 3000 + 100_000 * 0.99


def test_an_open_on_another_thread_is_not_counted_in_the_stage(tmp_path):
    from pipelines.observability.recorder import activate

    def open_files(prefix, n, recorder=None):
        def run():
            if recorder is None:
                for i in range(n):
                    (tmp_path / f"{prefix}{i}").write_bytes(b"x")
                return
            with activate(recorder):  # a worker of the stage opts in
                for i in range(n):
                    (tmp_path / f"{prefix}{i}").write_bytes(b"x")

        return threading.Thread(target=run)

    profile = RunProfile("t")
    with profile.stage("main") as st:
        (tmp_path / "mine").write_bytes(b"x")
        other, worker = open_files("other", 4), open_files("worker", 2, st.io)
        for t in (other, worker):
            t.start()
            t.join()
    assert profile.stages[0].files_opened == 1 + 2  # its own open and its worker's, never the other thread's


def test_a_stage_that_fails_stops_counting_this_threads_opens(tmp_path):
    profile = RunProfile("t")
    with pytest.raises(RuntimeError, match="stage failed"), profile.stage("fails") as st:
        (tmp_path / "a").write_bytes(b"x")
        raise RuntimeError("stage failed")
    (tmp_path / "b").write_bytes(b"x")  # after the stage: counted nowhere
    assert profile.stages[0].files_opened == 1 and st.io.snapshot()["files_opened"] == 1
    with profile.stage("next"):
        (tmp_path / "c").write_bytes(b"x")
    assert profile.stages[1].files_opened == 1 and profile.stages[1].overlapped == []


def test_nested_stages_each_count_an_open_once_and_name_each_other(tmp_path):
    profile = RunProfile("t")
    with profile.stage("outer"):
        (tmp_path / "a").write_bytes(b"x")
        with profile.stage("inner"):
            (tmp_path / "b").write_bytes(b"x")
    inner, outer = profile.stages
    assert (outer.files_opened, inner.files_opened) == (2, 1)
    assert outer.overlapped == ["inner"] and inner.overlapped == ["outer"]


def test_writes_without_a_recorder_are_counted_nowhere(tmp_path):
    profile = RunProfile("t")
    with profile.stage("bare"):
        atomic_write_bytes(tmp_path / "f.bin", os.urandom(1000))  # recorder=None: records nothing
    rec = profile.stages[0]
    assert rec.fsync_count == 0 and rec.access["write"]["ops"] == 0
    assert rec.files_opened == 2  # opens are seen by the hook on the stage's thread all the same
