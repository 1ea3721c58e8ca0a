"""One DDP replica's duties in ``fit``: wrap the model, shard, average, hear from rank 0."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from course_lib.distributed.sharding import ShardedBatches
from course_lib.tasks import Batch
from course_lib.training.weighting import TaskWeighting

T = TypeVar("T")


class DistributedSetupError(ValueError):
    """A multi-process run that cannot start as asked (device, batch size, task weighting)."""


def no_buffer_sync_option(ddp: Callable[..., object] = DistributedDataParallel) -> dict[str, bool]:
    """DDP's keyword that turns off the buffer copy before every forward pass.

    PyTorch 2.13 renamed ``broadcast_buffers`` to ``forward_sync_buffers`` (the old name still
    works there, with a deprecation warning); older releases know only the old name.
    """
    if "forward_sync_buffers" in inspect.signature(ddp).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def check_supported(weighting: TaskWeighting, diagnose_every: int | None) -> None:
    """Refuse what DDP would silently get wrong: the replicas would drift apart.

    DDP averages gradients in hooks that run during one ordinary ``backward``. A rule with its
    own ``backward`` (GradNorm, PCGrad) takes per-task gradients with ``torch.autograd.grad``,
    which bypasses those hooks; a rule with parameters (uncertainty weighting) or buffers
    (GradNorm, DWA) would update them from its own process's losses only. Gradient diagnostics
    need the same per-task gradients.
    """
    problems = []
    if type(weighting).backward is not TaskWeighting.backward:
        problems.append(
            "it overrides TaskWeighting.backward, and DistributedDataParallel averages the "
            "gradients across processes only in an ordinary backward pass"
        )
    if any(True for _ in weighting.parameters()) or any(True for _ in weighting.buffers()):
        problems.append("it keeps weights or state that each process would update on its own")
    if problems:
        raise DistributedSetupError(
            f"{type(weighting).__name__} cannot train in several processes: "
            f"{'; '.join(problems)}. Use fixed weights or PerTaskLearningRates, or train in "
            "one process"
        )
    if diagnose_every is not None:
        raise DistributedSetupError(
            "diagnose_every needs per-task gradients, which DistributedDataParallel does not "
            "average; record diagnostics in a single process"
        )


@dataclass(frozen=True)
class Distributed:
    """One process of a ``torchrun`` job, its process group already initialised."""

    rank: int  # 0 .. world_size - 1 over all machines; rank 0 reports and writes
    world_size: int  # number of processes in the job
    device: torch.device  # cuda:LOCAL_RANK, or the CPU

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that prints, evaluates and writes."""
        return self.rank == 0

    def shard(self, batches: Collection[Batch]) -> ShardedBatches:
        """This process's slices of the global training batches."""
        return ShardedBatches(batches, self.rank, self.world_size)

    def wrap(
        self, model: nn.Module, weighting: TaskWeighting, diagnose_every: int | None
    ) -> DistributedDataParallel:
        """The model (already on ``device``) in DDP, which copies rank 0's weights to all.

        Buffers are copied from rank 0 once, here, not before every forward pass; the
        course's models hold only constant buffers (the item-to-category table).
        """
        check_supported(weighting, diagnose_every)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, **no_buffer_sync_option())

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the processes (e.g. the training losses of an epoch)."""
        stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(stacked)
        averaged = (stacked / self.world_size).tolist()
        return dict(zip(values, averaged, strict=True))

    def from_main(self, compute: Callable[[], T]) -> T:
        """``compute()`` run on rank 0 alone; every process gets rank 0's result."""
        result = [compute() if self.is_main else None]
        dist.broadcast_object_list(result, src=0)
        return result[0]
