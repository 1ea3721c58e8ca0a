"""Sharding the training batches: each process keeps its slice of every global batch.

Every process draws the same global batch (same seed, same order) and keeps its own contiguous
slice, so a step of N processes at ``--batch-size B`` sees exactly the B samples one process
would see. The alternative, a ``DistributedSampler``, gives each process its own samples, so
the batches, and the results, would no longer match a single process's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from course_lib.tasks import Batch


def shard_batch(batch: Batch, rank: int, world_size: int) -> Batch:
    """This process's contiguous slice of a global batch; sizes differ by at most one row.

    A batch with fewer rows than processes (a tiny last batch) is kept whole by every process:
    they all compute the same gradient, so the average is that batch's gradient.

    Shape:
        every field (B, ...) -> (about B / world_size, ...)
    """
    rows = len(next(iter(batch.values())))
    if rows < world_size:
        return batch
    start, stop = rows * rank // world_size, rows * (rank + 1) // world_size
    return {key: value[start:stop] for key, value in batch.items()}  # views: stay pinned


class ShardedBatches:
    """A loader's global batches, each cut down to one process's slice (``shard_batch``).

    Every process iterates the whole loader, so all take the same number of steps, which DDP
    needs. Building each global batch on every process repeats that (cheap, vectorised) work;
    a ``DistributedSampler`` would avoid it but change which samples share a step.
    """

    def __init__(self, batches: Collection[Batch], rank: int, world_size: int) -> None:
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.batches:
            yield shard_batch(batch, self.rank, self.world_size)
