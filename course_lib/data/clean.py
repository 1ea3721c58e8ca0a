"""Clean a validated behavior log, keeping a record of every row dropped and why.

Taught in notebook 01 (preprocessing): nothing is dropped silently, so a learner can always
answer "where did these rows go?" from the `CleaningReport`.
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course_lib.data.schema import LOG_COLUMNS, LogValidationError
from course_lib.data.sequences import sequence_order

_BLOCK = 1 << 20  # rows compared at a time when looking for duplicates
# The cleaning steps, in the order they run; each sees only what the previous ones left.
REASONS: tuple[str, ...] = ("duplicate", "outside time window", "user with too few events")

TimeBound = int | float | str | dt.date | pd.Timestamp | None


class ReportText:
    """The table and text of a cleaning report, from ``rows_in``, ``rows_out`` and ``counts``.

    Shared by the reports of both drivers: `CleaningReport`, and one that keeps counts only.
    """

    rows_in: int
    rows_out: int
    counts: pd.Series  # rows dropped per reason, in step order (a property of each report)

    def summary(self) -> pd.DataFrame:
        """One row per reason: rows dropped and their share of the input, for notebooks."""
        rows = self.counts.to_numpy()
        share = rows / self.rows_in if self.rows_in else np.zeros(len(rows))
        return pd.DataFrame({"reason": list(REASONS), "rows": rows, "share": share})

    def __str__(self) -> str:
        lines = [f"{'rows in':<26}{self.rows_in:>12,}"]
        for reason, rows, share in self.summary().itertuples(index=False):
            lines.append(f"{'- ' + reason:<26}{rows:>12,}{share:>9.2%}")
        lines.append(f"{'rows out':<26}{self.rows_out:>12,}")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class CleaningReport(ReportText):
    """What `clean_log` removed.

    Attributes:
        rows_in: Rows of the input log.
        rows_out: Rows of the clean log.
        dropped: Every removed row with its original index label and columns, plus `reason`
            (one of REASONS) and `step` (1-based position of the reason in REASONS),
            ordered by step, then by position in the input.
    """

    rows_in: int
    rows_out: int
    dropped: pd.DataFrame = field(repr=False)

    @property
    def counts(self) -> pd.Series:
        """Rows dropped per reason, in step order, zeros included."""
        counts = self.dropped["reason"].value_counts().reindex(list(REASONS), fill_value=0)
        return counts.rename("rows").rename_axis("reason").astype("int64")


def _unix_seconds(bound: TimeBound, name: str) -> float | None:
    """Turn a time bound into unix seconds; dates and naive times are taken as UTC."""
    if bound is None or (isinstance(bound, numbers.Real) and not isinstance(bound, bool)):
        return bound
    try:
        stamp = pd.Timestamp(bound)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}={bound!r} is neither unix seconds nor a date: {error}") from None
    if stamp is pd.NaT:
        raise ValueError(f"{name}={bound!r} is neither unix seconds nor a date")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.timestamp()


def cleaning_bounds(
    start: TimeBound, end: TimeBound, min_events_per_user: int
) -> tuple[float | None, float | None]:
    """Check `clean_log`'s arguments and return the time window in unix seconds (lo, hi).

    Raises:
        ValueError: For bad argument values (e.g. start not before end).
        TypeError: If min_events_per_user is not an int.
    """
    lo, hi = _unix_seconds(start, "start"), _unix_seconds(end, "end")
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"start ({start!r}) must be before end ({end!r})")
    if isinstance(min_events_per_user, bool) or not isinstance(
        min_events_per_user, numbers.Integral
    ):
        raise TypeError(f"min_events_per_user must be an int, got {min_events_per_user!r}")
    if min_events_per_user < 1:
        raise ValueError(f"min_events_per_user must be >= 1, got {min_events_per_user}")
    return lo, hi


def clean_log(
    log: pd.DataFrame,
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    min_events_per_user: int = 1,
    drop_duplicates: bool = True,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Drop duplicates, events outside a time window and users with too few events.

    The steps run in the order of REASONS, each on what the earlier ones left, so a duplicate
    outside the window counts once, as a duplicate.

    Args:
        log: A validated log (see `validate_log`); extra columns are kept.
        start: Keep events with timestamp >= start (unix seconds, or a date as UTC).
        end: Keep events with timestamp < end; None means no bound.
        min_events_per_user: Drop users with fewer events than this after the earlier steps.
        drop_duplicates: Drop rows equal in all contract columns, keeping the first.

    Returns:
        The clean log (same index labels and row order, minus the dropped rows) and a
        `CleaningReport` with rows_in == rows_out + len(report.dropped).

    Raises:
        ValueError: For bad argument values (e.g. start not before end).
        TypeError: If min_events_per_user is not an int.
        LogValidationError: If `log` lacks contract columns.
    """
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing:
        fix = "load it with read_log or check it with validate_log first"
        raise LogValidationError(f"clean_log: the log has no column(s) {missing}. Fix: {fix}")
    lo, hi = cleaning_bounds(start, end, min_events_per_user)

    user, _ = pd.factorize(log["user_id"])  # integer codes, as drop_steps takes users
    rest = [log[column].to_numpy() for column in ("item_id", "category_id", "behavior")]
    step, _ = drop_steps(
        user,
        log["timestamp"].to_numpy(),
        rest,
        window=(lo, hi),
        min_events_per_user=min_events_per_user,
        drop_duplicates=drop_duplicates,
    )
    order = dropped_in_order(step)
    dropped = with_reasons(log.iloc[order], step[order])
    clean = log[step == 0]
    report = CleaningReport(rows_in=len(log), rows_out=len(clean), dropped=dropped)
    return clean, report


def drop_steps(
    user: np.ndarray,
    timestamp: np.ndarray,
    rest: Sequence[np.ndarray],
    *,
    window: tuple[float | None, float | None],
    min_events_per_user: int,
    drop_duplicates: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The cleaning rules over arrays, in the order of REASONS: which step drops each row.

    Shared by `clean_log` and the chunked driver, which holds the log as integer codes.
    Duplicates share user and timestamp, so they are found after one sort by (user,
    timestamp): rows equal in all columns to an earlier row, the first one staying.

    Args:
        user: (N,) non-negative integer code of each row's user.
        timestamp: (N,) unix seconds.
        rest: the other columns that make a row a duplicate, (N,) each (codes or values).
        window: [lo, hi) in unix seconds (`cleaning_bounds`); None for no bound.
        min_events_per_user, drop_duplicates: as for `clean_log`.

    Returns:
        ``step``: (N,) int8, 0 for a kept row, k for a row dropped by REASONS[k - 1];
        ``order``: (N,) int64 rows in `sequence_order` of (user, timestamp).
    """
    order = sequence_order(user, timestamp)
    step = np.zeros(len(user), dtype=np.int8)
    if drop_duplicates:
        step[_duplicates(order, user, timestamp, rest)] = 1
    lo, hi = window
    outside = np.zeros(len(user), dtype=bool)
    if lo is not None:
        outside |= timestamp < lo
    if hi is not None:
        outside |= timestamp >= hi
    step[(step == 0) & outside] = 2
    del outside
    alive = step == 0
    events = np.bincount(user[alive], minlength=int(user.max(initial=-1)) + 1)
    step[alive & (events[user] < min_events_per_user)] = 3
    return step, order


def _duplicates(
    order: np.ndarray, user: np.ndarray, timestamp: np.ndarray, rest: Sequence[np.ndarray]
) -> np.ndarray:
    """Rows equal in every column to an earlier row (``DataFrame.duplicated``'s rows).

    Only rows next to an equal (user, timestamp) in ``order`` can be duplicates; they are
    few, so pandas compares just those, group by group, in row order.
    """
    same = np.empty(max(len(order) - 1, 0), dtype=bool)  # row i has the (user, time) of i - 1
    for begin in range(0, len(same), _BLOCK):  # by blocks: no more N-long temporaries
        rows = order[begin : begin + _BLOCK + 1]
        u, t = user[rows], timestamp[rows]
        same[begin : begin + len(rows) - 1] = (u[1:] == u[:-1]) & (t[1:] == t[:-1])
    shares = np.zeros(len(order), dtype=bool)
    shares[1:] |= same
    shares[:-1] |= same
    group = np.cumsum(~np.r_[False, same][shares])
    rows = order[shares]
    candidates = pd.DataFrame({"group": group} | {k: c[rows] for k, c in enumerate(rest)})
    return rows[candidates.duplicated().to_numpy()]


def dropped_in_order(step: np.ndarray) -> np.ndarray:
    """Rows a cleaning dropped (``step`` from `drop_steps`), ordered by step, then row."""
    dropped = np.flatnonzero(step)
    return dropped[np.argsort(step[dropped], kind="stable")]


def with_reasons(rows: pd.DataFrame, step: np.ndarray) -> pd.DataFrame:
    """Dropped rows as the report lists them: with their ``reason`` and ``step`` (int64)."""
    return rows.assign(reason=np.asarray(REASONS)[step - 1], step=step.astype(np.int64))


def require_rows_left(
    report: ReportText,
    *,
    source: str,
    start: TimeBound,
    end: TimeBound,
    min_events_per_user: int,
    timestamps: np.ndarray,
) -> None:
    """Refuse a log that cleaning left empty, naming the rules that removed its rows.

    `prepare` and `prepare_to_disk` call it after cleaning, before anything is built from
    the clean log (or written to disk), so an empty log fails here, with its fix.

    Args:
        report: what cleaning removed (a `CleaningReport` or the on-disk counts).
        source: the log's name in the message (a file path, say).
        start, end, min_events_per_user: the cleaning arguments, as given.
        timestamps: (N,) the log's timestamps before cleaning, in unix seconds.

    Raises:
        LogValidationError: If no row is left.
    """
    if report.rows_out > 0:
        return
    first, last = (pd.Timestamp(t, unit="s") for t in (timestamps.min(), timestamps.max()))
    rules = {
        "duplicate": ("", ""),
        "outside time window": (
            f" [start, end) = [{start!r}, {end!r})",
            f"widen start and end (None: no bound): the log runs from {first} to {last} (UTC)",
        ),
        "user with too few events": (
            f" (min_events_per_user={min_events_per_user})",
            f"lower min_events_per_user, now {min_events_per_user}",
        ),
    }
    removed, fixes = [], []
    for reason, rows in report.counts.items():
        if rows:
            removed.append(f"{rows:,} as {reason!r}{rules[reason][0]}")
            fixes.append(rules[reason][1])
    problem = f"cleaning removed all {report.rows_in:,} rows: {'; '.join(removed)}"
    raise LogValidationError(f"{source}: {problem}. Fix: {'; '.join(f for f in fixes if f)}")
