"""Vocabularies and per-user sequences of a cleaned compact log, exactly as `prepare` has them.

`build_vocabularies` counts the ids of the clean log and orders them by count, then id; here
the same counts come from ``np.bincount`` over the codes of the kept rows and go through the
same `Vocabulary.from_counts`, so the vocabularies are identical. `build_sequences` sorts the
encoded log by (user index, timestamp, row); the cleaning sort already grouped the rows by
user code in (timestamp, row) order, so each user's run of rows only has to move to where its
vocabulary index puts it: a linear scatter instead of a second sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.encode import Vocabularies, most_frequent_category
from course_lib.data.ondisk.read import CompactLog
from course_lib.data.vocab import NUM_RESERVED, Vocabulary

CODED = {"user": "user_id", "item": "item_id", "category": "category_id"}


def compact_vocabularies(
    log: CompactLog, kept: np.ndarray, behaviors: Sequence[str]
) -> tuple[Vocabularies, dict[str, np.ndarray]]:
    """The vocabularies `build_vocabularies` builds from the kept rows, and for each coded
    column a table from code to vocabulary index ((K,) int32; UNK for codes never kept)."""
    vocabularies, tables = {}, {}
    for short, column in CODED.items():
        codes, ids = getattr(log, short), getattr(log, f"{short}_ids")
        counts = np.bincount(codes[kept], minlength=len(ids))
        present = counts > 0
        counted = pd.Series(counts[present], index=pd.Index(ids[present]))
        vocabularies[short] = Vocabulary.from_counts(counted, column)
        tables[short] = vocabularies[short].encode(ids).astype(np.int32)
    behavior = Vocabulary(list(behaviors), "behavior")
    return Vocabularies(**vocabularies, behavior=behavior), tables


def sequence_rows(
    user_codes: np.ndarray,
    step: np.ndarray,
    order: np.ndarray,
    user_table: np.ndarray,
    num_users: int,
) -> tuple[np.ndarray, np.ndarray]:
    """File rows of the kept events in sequence order, and the sequences' offsets.

    Args:
        user_codes: (N,) user code of every row.
        step: (N,) cleaning step of every row, 0 = kept.
        order: (N,) rows sorted by user code, then (timestamp, row).
        user_table: (K,) vocabulary index of every user code.
        num_users: the user vocabulary's size.

    Returns:
        ``rows``: (M,) int32, the kept rows sorted by (user index, timestamp, row);
        ``offsets``: (U + 1,) int64, user index u's events are ``offsets[u - 2]:offsets[u - 1]``.
    """
    kept = order[step[order] == 0]  # (M,) grouped by user code
    user = user_table[user_codes[kept]]  # (M,) a run of equal indices per user
    lengths = np.bincount(user, minlength=num_users)[NUM_RESERVED:]
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


def compact_item_category(pairs: np.ndarray, num_categories: int, num_items: int) -> np.ndarray:
    """`item_category_table` from the (item, category) index pair of every kept event.

    Args:
        pairs: (M,) int64 ``item * num_categories + category`` of each event; sorted in place
            to count the pairs (numpy's sort beats hashing 10M random keys with pandas).
        num_categories: the category vocabulary's size.
        num_items: the item vocabulary's size.
    """
    pairs.sort()
    first = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]][: len(pairs)])
    counts = np.diff(np.r_[first, len(pairs)])
    packed = pairs[first]
    return most_frequent_category(
        packed // num_categories, packed % num_categories, counts, num_items
    )


def write_sequences(
    folder: Path,
    log: CompactLog,
    rows: np.ndarray,
    offsets: np.ndarray,
    tables: dict[str, np.ndarray],
    vocabularies: Vocabularies,
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
    num_categories = len(vocabularies.category)
    pairs = item.astype(np.int64) * num_categories + category
    del item, category
    item_category = compact_item_category(pairs, num_categories, len(vocabularies.item))
    del pairs
    np.save(folder / "behavior.npy", (log.behavior[rows] + NUM_RESERVED).astype(np.int8))
    np.save(folder / "timestamp.npy", log.timestamp[rows])
    np.save(folder / "event_index.npy", rows.astype(np.int64))
    return item_category
