"""Keep an engine's process group from outliving the process that started it.

`VLLMEngine.start()` runs, as the leader of a new process group:
    python -I serving/engine_guard.py PARENT_PID GRACE_S -- ARGV...
The guard starts ARGV (the vLLM server) as its child and stops the whole group (SIGTERM, then SIGKILL after
GRACE_S) when it gets SIGTERM or SIGINT, when its parent is gone (a parent killed with SIGKILL runs no
cleanup), or when the server exits by itself; then it exits with the server's code (128 + N for signal N).

Why a guard and not only PR_SET_PDEATHSIG on the server: vLLM's API server ignores SIGTERM while it loads the
model, its engine core (a grandchild) outlives a server that dies first, and the kernel sends the parent-death
signal when the *thread* that forked exits, which would be the health watch's thread after a restart. Polling
getppid() follows the process. Standard library only: it starts in milliseconds and imports nothing of ours.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

POLL_S = 0.2  # how soon a dead parent or a crashed server is noticed; the loop costs nothing measurable


def live_group_pids(pgid: int) -> list[int]:
    """Processes of a process group that still run. Zombies are left out: they hold no memory or port."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we read it
        state, group = fields[0], int(fields[2])  # stat(5): state, ppid, pgrp follow the command name
        if group == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def end_group(grace_s: float) -> None:
    """SIGTERM every other process of our group, SIGKILL those still there after grace_s."""
    me, group = os.getpid(), os.getpgrp()
    deadline = time.monotonic() + grace_s
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in live_group_pids(group):
            if pid != me:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass  # ended meanwhile
        while time.monotonic() < deadline and set(live_group_pids(group)) - {me}:
            time.sleep(POLL_S / 2)
        deadline = time.monotonic() + 5.0  # SIGKILL takes effect at once; this only waits for the kernel


def main(argv: list[str]) -> int:
    parent, grace_s, command = int(argv[1]), float(argv[2]), argv[4:]
    asked: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        asked.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = subprocess.Popen(command)  # same group, same stdout/stderr (the engine log), same environment
    while server.poll() is None:
        if asked or os.getppid() != parent:
            why = asked[0] if asked else f"parent {parent} is gone"
            print(f"engine_guard: {why}; stopping process group {os.getpgrp()}", file=sys.stderr, flush=True)
            break
        time.sleep(POLL_S)
    end_group(grace_s)  # the server's own children too: vLLM's engine core outlives a server that crashed
    code = server.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
