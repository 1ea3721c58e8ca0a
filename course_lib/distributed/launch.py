"""Joining a ``torchrun`` job: ranks from the environment, the device, the process group."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist

from course_lib.distributed.replica import Distributed, DistributedSetupError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def torchrun_ranks() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from the variables torchrun sets; None outside torchrun."""
    present = [name for name in TORCHRUN_VARIABLES if name in os.environ]
    if not present:
        return None
    if len(present) < len(TORCHRUN_VARIABLES):
        missing = sorted(set(TORCHRUN_VARIABLES) - set(present))
        raise DistributedSetupError(
            f"{present} are set but {missing} are not; start several processes with torchrun"
        )
    rank, world_size, local_rank = (int(os.environ[name]) for name in TORCHRUN_VARIABLES)
    return rank, world_size, local_rank


def process_device(option: str, local_rank: int) -> torch.device:
    """The device of one torchrun process: ``cuda:LOCAL_RANK`` or the CPU.

    Args:
        option: the ``--device`` option: "auto" (CUDA when available), "cuda" or "cpu".
    """
    wanted = ("cuda" if torch.cuda.is_available() else "cpu") if option == "auto" else option
    if wanted == "cpu":
        return torch.device("cpu")
    if wanted != "cuda":
        raise DistributedSetupError(
            f"--device {option}: under torchrun use auto, cuda or cpu; each process takes the "
            "GPU of its LOCAL_RANK, so no index"
        )
    if local_rank >= torch.cuda.device_count():
        raise DistributedSetupError(
            f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
            "start at most one process per GPU (--nproc_per_node)"
        )
    return torch.device("cuda", local_rank)


@contextmanager
def process_group(device_option: str) -> Iterator[Distributed | None]:
    """Join the torchrun job for the block (None outside torchrun), then leave it.

    Uses NCCL between GPUs and gloo between CPU processes; the address of rank 0 comes from
    ``MASTER_ADDR`` and ``MASTER_PORT``, which torchrun sets.
    """
    ranks = torchrun_ranks()
    if ranks is None:
        yield None
        return
    rank, world_size, local_rank = ranks
    device = process_device(device_option, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's collectives and pinned memory use this GPU
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Distributed(rank, world_size, device)
    finally:
        dist.destroy_process_group()


def per_process_batch_size(batch_size: int, world_size: int) -> int:
    """The batch of one process: the global ``batch_size`` split evenly over the processes."""
    if batch_size % world_size:
        raise DistributedSetupError(
            f"--batch-size {batch_size} is the global batch and must split evenly over "
            f"{world_size} processes; use a multiple of {world_size}"
        )
    return batch_size // world_size
