"""Training on several processes (GPUs or CPU cores) with ``torchrun`` and PyTorch DDP.

``torchrun --nproc_per_node=N -m course_lib train ...`` starts N copies of the command; each
reads its place in the job from the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).
``process_group`` turns that into a ``Distributed`` object, which ``fit`` uses to:

- shard the training batches: every process draws the same global batch (same seed, same
  order) and keeps its own contiguous slice, so a step of N processes at ``--batch-size B``
  sees exactly the B samples that one process would see (each process gets B / N of them);
- wrap the model in ``DistributedDataParallel``, which averages the gradients across
  processes during ``backward``, so every replica takes the same optimizer step;
- validate on rank 0 alone, over the whole validation set, and broadcast the metrics, so every
  process makes the same early-stopping decision.

The CLI lets rank 0 alone print, test and write files. Task-balancing rules that compute their
own per-task gradients or keep learned or per-step state are refused (``check_supported``).

Files: ``launch`` joins the job, ``replica`` holds a process's duties, ``sharding`` splits the
batches.
"""

from course_lib.distributed.launch import (
    per_process_batch_size,
    process_device,
    process_group,
    torchrun_ranks,
)
from course_lib.distributed.replica import Distributed, DistributedSetupError, check_supported
from course_lib.distributed.sharding import ShardedBatches, shard_batch

__all__ = [
    "Distributed",
    "DistributedSetupError",
    "ShardedBatches",
    "check_supported",
    "per_process_batch_size",
    "process_device",
    "process_group",
    "shard_batch",
    "torchrun_ranks",
]
