"""Clean a compact log with exactly `clean_log`'s rules, reporting counts per reason.

`clean_log` keeps every dropped row in its report; for a log of tens of millions of rows that
report could itself be larger than memory allows, so here the report keeps counts per reason
and the dropped rows go to a CSV file (``write_dropped``) that can be read back when wanted.

The rules and their order are `clean_log`'s: duplicates (rows equal in all five contract
columns; the first one stays), then events outside [start, end), then users left with fewer
than ``min_events_per_user`` events. Duplicates share user and timestamp, so they are found
after one sort by (user, timestamp): the same sort that orders each user's events in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.clean import REASONS, ReportText, TimeBound, cleaning_bounds
from course_lib.data.ondisk.read import CompactLog

DROPPED_COLUMNS = ("user_id", "item_id", "category_id", "behavior", "timestamp", "reason", "step")


@dataclass(frozen=True)
class CleaningCounts(ReportText):
    """What cleaning removed, as counts per reason (``summary()`` and ``str()`` as usual).

    Attributes:
        rows_in: Rows of the input file.
        rows_out: Rows kept.
        dropped_rows: Rows dropped for each reason, in the order of REASONS.
        dropped_path: The CSV of the dropped rows (see ``dropped``), or None if not written.
    """

    rows_in: int
    rows_out: int
    dropped_rows: tuple[int, ...]
    dropped_path: Path | None = None

    @property
    def counts(self) -> pd.Series:
        """Rows dropped per reason, in step order, zeros included."""
        index = pd.Index(list(REASONS), name="reason")
        return pd.Series(self.dropped_rows, index=index, name="rows", dtype="int64")

    def dropped(self) -> pd.DataFrame:
        """The dropped rows as `CleaningReport.dropped` has them: indexed by row (0 = first
        data line of the file), contract columns, ``reason`` and ``step``."""
        if self.dropped_path is None:
            fix = "prepare again with keep_dropped=True"
            raise FileNotFoundError(f"the dropped rows were not written. Fix: {fix}")
        frame = pd.read_csv(self.dropped_path, index_col="row", dtype={"behavior": "str"})
        return frame.rename_axis(None)


def clean_compact(
    log: CompactLog, *, start: TimeBound, end: TimeBound, min_events_per_user: int
) -> tuple[np.ndarray, np.ndarray]:
    """Apply `clean_log`'s three steps to a compact log.

    Returns:
        ``step``: (N,) int8, 0 for a kept row, k for a row dropped by REASONS[k - 1];
        ``order``: (N,) int32 rows sorted by user code, then timestamp, then row.
    """
    lo, hi = cleaning_bounds(start, end, min_events_per_user)
    order, same = _sort_by_user_and_time(log)
    step = np.zeros(len(log), dtype=np.int8)
    step[_duplicates(log, order, same)] = 1
    del same
    outside = np.zeros(len(log), dtype=bool)
    if lo is not None:
        outside |= log.timestamp < lo
    if hi is not None:
        outside |= log.timestamp >= hi
    step[(step == 0) & outside] = 2
    del outside
    alive = step == 0
    events = np.bincount(log.user[alive], minlength=len(log.user_ids))
    step[alive & (events[log.user] < min_events_per_user)] = 3
    return step, order


def _sort_by_user_and_time(log: CompactLog) -> tuple[np.ndarray, np.ndarray]:
    """Rows in (user code, timestamp, row) order, and whether each sorted row has the same
    (user, timestamp) as the one before it. One stable sort of one int64 key per row."""
    if len(log) >= 2**31:
        raise ValueError(f"{len(log):,} rows: more than this pipeline's int32 row numbers hold")
    # Validated timestamps lie between 1990 and now (< 2**31 s apart), user codes < 2**31:
    # (code, timestamp - earliest) packs into one int64 that sorts like the pair.
    elapsed = log.timestamp - log.timestamp.min()
    if elapsed.max() >= 2**32:
        raise ValueError("timestamps span more than 2**32 seconds: they cannot be unix seconds")
    key = log.user.astype(np.int64) << 32
    key |= elapsed
    del elapsed
    order = np.argsort(key, kind="stable").astype(np.int32)  # stable: ties keep file order
    same = np.empty(max(len(log) - 1, 0), dtype=bool)
    for begin in range(0, len(same), 1 << 20):  # by blocks: no second int64 array of N keys
        sorted_key = key[order[begin : begin + (1 << 20) + 1]]
        same[begin : begin + len(sorted_key) - 1] = sorted_key[1:] == sorted_key[:-1]
    return order, same


def _duplicates(log: CompactLog, order: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Rows equal in all five columns to an earlier row (``log.duplicated()``'s rows).

    Only rows that share (user, timestamp) with another row can be duplicates; they are few,
    so pandas compares just those, group by group, in file order.
    """
    shares = np.zeros(len(log), dtype=bool)
    shares[1:] |= same
    shares[:-1] |= same
    starts_group = ~np.r_[False, same][shares]
    rows = order[shares]
    candidates = pd.DataFrame(
        {
            "group": np.cumsum(starts_group),
            "item": log.item[rows],
            "category": log.category[rows],
            "behavior": log.behavior[rows],
        }
    )
    return rows[candidates.duplicated().to_numpy()]


def write_dropped(
    log: CompactLog,
    step: np.ndarray,
    behaviors: tuple[str, ...],
    path: Path,
    block_rows: int,
) -> None:
    """Write the dropped rows, decoded to raw ids, ordered by step then row, ``block_rows``
    rows at a time (so even a window that drops most of a huge log fits in memory)."""
    dropped = np.flatnonzero(step)
    dropped = dropped[np.argsort(step[dropped], kind="stable")]
    names = np.asarray(behaviors, dtype=object)
    reasons = np.asarray(REASONS, dtype=object)
    header = ["row", *DROPPED_COLUMNS]
    pd.DataFrame(columns=header).to_csv(path, index=False, lineterminator="\n")
    for begin in range(0, len(dropped), block_rows):
        rows = dropped[begin : begin + block_rows]
        block = {
            "row": rows,
            "user_id": log.user_ids[log.user[rows]],
            "item_id": log.item_ids[log.item[rows]],
            "category_id": log.category_ids[log.category[rows]],
            "behavior": names[log.behavior[rows]],
            "timestamp": log.timestamp[rows],
            "reason": reasons[step[rows] - 1],
            "step": step[rows],
        }
        pd.DataFrame(block).to_csv(path, mode="a", header=False, index=False, lineterminator="\n")
