"""IoRecorder: exact figures per unit of work, merged across threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from pipelines.observability.fsio import atomic_write_bytes, traced_open
from pipelines.observability.recorder import IoRecorder, activate, empty_figures, figures_delta

WORKER = """
import json, os, sys
from pathlib import Path
from pipelines.observability.fsio import atomic_write_bytes
from pipelines.observability.recorder import IoRecorder, activate

out = Path(sys.argv[1])
recorder = IoRecorder()
with activate(recorder):
    for i in range(2):
        atomic_write_bytes(out / f"worker-{i}.bin", os.urandom(3000), recorder=recorder)
print(json.dumps(recorder.snapshot()))
"""


def test_figures_sent_back_from_another_process_merge_exactly(tmp_path):
    here = IoRecorder()
    with activate(here):
        atomic_write_bytes(tmp_path / "parent.bin", os.urandom(1000), recorder=here)
    reply = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path)], check=True, capture_output=True, text=True
    ).stdout
    sent = json.loads(reply.strip().splitlines()[-1])  # a plain dict, as a worker process sends it
    assert (sent["fsync_count"], sent["files_opened"]) == (4, 4)

    here.merge(sent)
    merged = here.snapshot()
    assert (merged["fsync_count"], merged["files_opened"]) == (6, 6)
    write = merged["access"]["write"]
    assert (write["ops"], write["bytes"]) == (3, 7000)
    assert (write["sizes"]["100_1K"], write["sizes"]["1K_10K"]) == (1, 2)  # 1000 B here, 3000 B there
    assert merged["fsync_s"] >= sent["fsync_s"] > 0


def test_merging_a_recorder_and_taking_a_delta(tmp_path):
    a, b = IoRecorder(), IoRecorder()
    atomic_write_bytes(tmp_path / "a.bin", b"x" * 50, recorder=a)
    before = a.snapshot()
    atomic_write_bytes(tmp_path / "b.bin", b"y" * 5000, recorder=b)
    with traced_open(tmp_path / "b.bin", recorder=b) as fh:
        fh.read(1000)
        fh.seek(4000)
        fh.read()  # a jump forward: sequential, not consecutive
    a.merge(b)
    delta = figures_delta(before, a.snapshot())
    assert delta["fsync_count"] == 2
    assert delta["access"]["write"]["bytes"] == 5000
    reads = delta["access"]["read"]
    assert (reads["ops"], reads["bytes"]) == (2, 2000)
    assert reads["sequential_share"] == 1.0 and reads["consecutive_share"] == 0.5
    assert b.summary()["access"] == figures_delta(empty_figures(), b.snapshot())["access"] == delta["access"]


def test_threads_sharing_one_recorder_lose_no_count(tmp_path):
    recorder = IoRecorder()

    def work():
        for _ in range(5000):
            recorder.add_fsync(0.001)
            recorder.add_open()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    figures = recorder.snapshot()
    assert (figures["fsync_count"], figures["files_opened"]) == (40_000, 40_000)


def test_opens_count_only_while_active_and_once_when_nested(tmp_path):
    recorder, outer = IoRecorder(), IoRecorder()
    (tmp_path / "before").write_bytes(b"x")  # nothing active on this thread: counted nowhere
    with activate(outer), activate(recorder), activate(recorder):
        (tmp_path / "a").write_bytes(b"x")
        os.close(os.open(tmp_path / "a", os.O_RDONLY))  # os.open raises the same audit event
        open("/proc/self/stat", "rb").close()  # pseudo filesystems are not storage: not counted
    (tmp_path / "after").write_bytes(b"x")
    assert recorder.snapshot()["files_opened"] == 2
    assert outer.snapshot()["files_opened"] == 2
