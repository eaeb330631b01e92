"""A training run in its own process, for the kill -9 test: `python recipe_child.py WORK BASE STEPS [--resume]
[--kill-after N]`. With --kill-after it SIGKILLs itself right after step N (a save may still be in flight)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from curation.layout import WorkLayout
from pipelines.training.config import FinetuneConfig
from pipelines.training.lora import run

# 6 training examples, 1 x 2 per step: 3 steps an epoch; saves after step 1 (the measured one), 2 and 4
TINY = {
    "train": {"steps": 6, "max_seq_len": 64, "batch_size": 1, "grad_accum": 2, "seed": 5, "log_every": 1},
    "optim": {"warmup_steps": 2},
    "checkpoint": {"every_steps": 2},
}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    work, base, steps = Path(argv[0]), Path(argv[1]), int(argv[2])
    kill_after = int(argv[argv.index("--kill-after") + 1]) if "--kill-after" in argv else None

    def on_step(step: int, loss: float) -> None:
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    config = FinetuneConfig.from_dict(TINY).with_steps(steps)
    run(WorkLayout(work), base, config, resume_run="--resume" in argv, merge_model="--merge" in argv,
        on_step=on_step, run_id=argv[argv.index("--run-id") + 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
