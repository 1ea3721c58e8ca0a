"""Split targets and negative candidates, computed block by block from the stored sequences.

Both give exactly what `prepare` gives, for a reason that can be checked in a few lines:

* a splitter that treats each user on their own (`leave_last_out`, `time_cut`) gives the same
  targets on a block of whole users as on all of them, shifted by the block's first position;
* `draw_negatives` takes one draw per row from its Generator's stream, so consecutive blocks
  drawn with one Generator seeded as `prepare` seeds it give the draws of one call.

Everything else a sample holds (user, labels, the candidate's category) follows from its
target, so only the targets and the candidates are stored (see ``OnDiskData``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from course_lib.data.ondisk.npy import NpyWriter
from course_lib.data.samples import draw_negatives
from course_lib.data.sequences import Sequences
from course_lib.data.split import Split, random_split


def split_by_users(
    sequences: Sequences, splitter: Callable[[Sequences], Split], block_events: int
) -> Split:
    """``splitter(sequences)``, computed on blocks of about ``block_events`` events of whole
    users, so its temporary arrays stay the size of a block.

    Raises:
        ValueError: For `random_split`, whose draws depend on all users at once.
    """
    if getattr(splitter, "func", splitter) is random_split:
        fix = "use leave_last_out or time_cut, or prepare in memory with prepare()"
        raise ValueError(f"random_split cannot be computed user block by user block. Fix: {fix}")
    offsets = np.asarray(sequences.offsets)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    first = 0
    while first < sequences.num_users or not parts["train"]:
        # The next block ends at the first user boundary past block_events more events.
        last = int(np.searchsorted(offsets, offsets[first] + block_events, side="right"))
        last = min(max(last - 1, first + 1), sequences.num_users)
        begin, end = offsets[first], offsets[last]
        block = Sequences(
            users=sequences.users[first:last],
            offsets=offsets[first : last + 1] - begin,
            item=sequences.item[begin:end],
            category=sequences.category[begin:end],
            behavior=sequences.behavior[begin:end],
            timestamp=sequences.timestamp[begin:end],
            event_index=sequences.event_index[begin:end],
        )
        split = splitter(block)
        for name, targets in parts.items():
            targets.append(np.asarray(getattr(split, name), dtype=np.int64) + begin)
        first = last
    return Split(**{name: np.concatenate(targets) for name, targets in parts.items()})


def write_candidates(
    path: Path,
    item: np.ndarray,
    targets: np.ndarray,
    num_items: int,
    num_negatives: int,
    seed: int,
    block_targets: int,
) -> None:
    """Write the (T, 1 + num_negatives) int32 candidates of some targets: the true next item,
    then the negatives `make_samples` draws with the same seed.

    Args:
        path: the .npy file to write.
        item: (N,) item index of every event of the sequences.
        targets: (T,) flat positions of the targets, e.g. ``split.train``.
        num_items: the item vocabulary's size.
        num_negatives: negatives per target.
        seed: the seed `make_samples` gets for this part.
        block_targets: targets per block.
    """
    group = num_negatives + 1
    rng = np.random.default_rng(seed)
    with NpyWriter(path, np.int32, (len(targets), group)) as writer:
        # At least one block, so an empty part still checks the vocabulary as make_samples does.
        for begin in range(0, max(len(targets), 1), block_targets):
            block = np.asarray(targets[begin : begin + block_targets], dtype=np.int64)
            next_item = np.asarray(item[np.repeat(block, group)], dtype=np.int64)  # (B * G,)
            candidate = next_item
            if num_negatives:
                negatives = draw_negatives(next_item, num_items, rng)
                is_positive = np.tile(np.arange(group) == 0, len(block))
                candidate = np.where(is_positive, next_item, negatives)
            writer.write(candidate)
