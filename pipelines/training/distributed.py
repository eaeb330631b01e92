"""Data parallelism for the LoRA recipe: the process group, each rank's share of a step, DDP.

A process learns its place from torchrun's environment contract (RANK, WORLD_SIZE, LOCAL_RANK, and
MASTER_ADDR/MASTER_PORT for the rendezvous): with WORLD_SIZE > 1 it joins a process group, NCCL on CUDA and
gloo on a CPU, the same code; without it (WORLD_SIZE unset or 1) it is the single-process run of before and no
process group exists at all. `pipelines.training.launch` starts the processes.

What is sharded is the data, nothing else: every rank holds the whole model and the same adapter, takes its
slice of each step's examples, and DDP averages the LoRA gradients across ranks in backward. A step of
batch_size x grad_accum examples per rank then has the gradient of one process that runs grad_accum x
world_size micro-batches of the same examples: the mean of the same per-micro-batch losses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class World:
    """This process's rank among `size` processes (one, rank 0, when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # the GPU this process drives on its node

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, the adapter, the merged model and summaries."""
        return self.rank == 0

    def device(self) -> torch.device:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", self.local_rank) if self.distributed else torch.device("cuda")

    def shard(self, ids: list[int]) -> list[int]:
        """This rank's contiguous slice of a step's examples, a global batch of `size` x the per-rank batch
        (rank r takes the r-th of `size` equal slices): the step's examples stay a function of (seed, epoch,
        step) alone, so a resume finds them again."""
        per_rank = len(ids) // self.size
        return ids[self.rank * per_rank : (self.rank + 1) * per_rank]

    def mean(self, value: float) -> float:
        """The mean of `value` over the ranks: the step's loss as one process over all of it would log it."""
        if not self.distributed:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.device())
        dist.all_reduce(total)
        return float(total.item()) / self.size

    def gather(self, value: T) -> list[T]:
        """Every rank's `value`, in rank order, on every rank (a picklable object)."""
        if not self.distributed:
            return [value]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def from_main(self, value: T) -> T:
        """Rank 0's `value` on every rank: decisions that only rank 0 can measure, such as its save's cost."""
        if not self.distributed:
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def world_from(environ: Mapping[str, str]) -> World:
    return World(int(environ.get("RANK", 0)), int(environ.get("WORLD_SIZE", 1)),
                 int(environ.get("LOCAL_RANK", 0)))


@contextmanager
def joined(environ: Mapping[str, str] = os.environ) -> Iterator[World]:
    """This process's World; when distributed, inside a process group that is destroyed on the way out."""
    world = world_from(environ)
    if not world.distributed:
        yield world
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(world.local_rank)  # NCCL's collectives run on the current device
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield world
    finally:
        dist.destroy_process_group()


def wrap(model: Any, world: World) -> Any:
    """The module the loop calls: DDP around the peft model when distributed, the model itself otherwise.

    DDP broadcasts rank 0's parameters once at construction (every rank loaded the same base and seed anyway)
    and all-reduces only what requires a gradient, the LoRA matrices; the frozen base is never reduced.
    """
    if not world.distributed:
        return model
    devices = [world.local_rank] if world.device().type == "cuda" else None
    return DistributedDataParallel(model, device_ids=devices)


def accumulating(module: Any, *, last: bool) -> AbstractContextManager[Any]:
    """DDP's no_sync for every micro-batch of a step but its last: the gradients add up locally and the
    last backward all-reduces their sum once, not once per micro-batch."""
    return module.no_sync() if isinstance(module, DistributedDataParallel) and not last else nullcontext()
