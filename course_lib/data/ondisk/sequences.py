"""From cleaned codes to the stored sequences and split: the memory machinery of the build.

Nothing here is a rule of its own: vocabularies come from `vocabularies_from_counts`, the
item table from `most_frequent_category`, the split from the caller's splitter. What is
particular to a log larger than memory is how: codes counted with ``np.bincount``, the
cleaning sort reused for the sequence order, arrays written one at a time, and the splitter
run on blocks of whole users.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.encode import (
    Vocabularies,
    most_frequent_category,
    vocabularies_from_counts,
)
from course_lib.data.ondisk.read import CODED, CompactLog
from course_lib.data.sequences import Sequences
from course_lib.data.split import Split, random_split
from course_lib.data.vocab import NUM_RESERVED


def code_vocabularies(
    log: CompactLog, kept: np.ndarray, behaviors: Sequence[str]
) -> tuple[Vocabularies, dict[str, np.ndarray]]:
    """The vocabularies of the kept rows, by `vocabularies_from_counts` from the codes'
    counts, and for each coded column a table from code to index ((K,) int32; UNK for codes
    never kept)."""
    counts = {}
    for short, column in CODED.items():
        ids = getattr(log, f"{short}_ids")
        count = np.bincount(getattr(log, short)[kept], minlength=len(ids))
        counts[column] = pd.Series(count[count > 0], index=pd.Index(ids[count > 0]))
    vocabularies = vocabularies_from_counts(counts, behaviors)
    tables = {
        short: getattr(vocabularies, short).encode(getattr(log, f"{short}_ids")).astype(np.int32)
        for short in CODED
    }
    return vocabularies, tables


def sequence_rows(
    user_codes: np.ndarray, step: np.ndarray, order: np.ndarray, user_table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The kept rows in sequence order, and the sequences' offsets, without a second sort.

    ``order`` groups the rows by user code, each user's rows in sequence order already, so
    each user's run of rows only moves to where its vocabulary index puts it.

    Args:
        user_codes: (N,) user code of every row.
        step: (N,) cleaning step of every row, 0 = kept.
        order: (N,) int32 rows sorted by user code, then (timestamp, row).
        user_table: (K,) vocabulary index of every user code.

    Returns:
        ``rows``: (M,) int32, the kept rows sorted by (user index, timestamp, row);
        ``offsets``: (U + 1,) int64, user index u's events are ``offsets[u - 2]:offsets[u - 1]``.
    """
    kept = order[step[order] == 0]  # (M,) grouped by user code
    user = user_table[user_codes[kept]]  # (M,) a run of equal indices per user
    lengths = np.bincount(user, minlength=int(user_table.max(initial=1)) + 1)[NUM_RESERVED:]
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    if len(kept) == 0:
        return kept, offsets
    run_start = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])  # (U,)
    run_length = np.diff(np.r_[run_start, len(kept)])
    shift = (offsets[user[run_start] - NUM_RESERVED] - run_start).astype(np.int32)
    del user
    destination = np.repeat(shift, run_length)  # (M,) int32: where each kept row goes
    destination += np.arange(len(kept), dtype=np.int32)
    rows = np.empty_like(kept)
    rows[destination] = kept
    return rows, offsets


def write_sequences(
    folder: Path,
    log: CompactLog,
    rows: np.ndarray,
    offsets: np.ndarray,
    tables: dict[str, np.ndarray],
    num_items: int,
) -> np.ndarray:
    """Write the sequence arrays (``rows`` of the log, as indices) one at a time, so only one
    is in memory at once; return the item -> category table, counted on the way."""
    folder.mkdir(exist_ok=True)
    num_users = len(offsets) - 1
    np.save(folder / "users.npy", np.arange(NUM_RESERVED, NUM_RESERVED + num_users))
    np.save(folder / "offsets.npy", offsets)
    item = tables["item"][log.item[rows]]
    np.save(folder / "item.npy", item)
    category = tables["category"][log.category[rows]]
    np.save(folder / "category.npy", category)
    item_category = most_frequent_category(item, category, num_items)
    del item, category
    np.save(folder / "behavior.npy", (log.behavior[rows] + NUM_RESERVED).astype(np.int8))
    np.save(folder / "timestamp.npy", log.timestamp[rows])
    np.save(folder / "event_index.npy", rows.astype(np.int64))
    return item_category


def split_by_users(
    sequences: Sequences, splitter: Callable[[Sequences], Split], block_events: int
) -> Split:
    """``splitter(sequences)``, computed on blocks of about ``block_events`` events of whole
    users, so its temporary arrays stay the size of a block. A splitter that treats each user
    on their own gives the same targets on a block as on all users, shifted by the block's
    first position.

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
