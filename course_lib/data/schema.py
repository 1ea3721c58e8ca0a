"""The behavior-log contract and its validator (taught in notebook 01, preprocessing).

Every loader ends in `validate_log`, so a bad file fails early with a message that names the
source, the column, the offending values with their line or row, and the fix.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_lib.data.integers import (
    INEXACT_FLOAT,
    NOT_WHOLE,
    TOO_LARGE,
    to_int64,
)

LOG_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "category_id", "behavior", "timestamp")
ID_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "category_id")
TAOBAO_BEHAVIORS: tuple[str, ...] = ("pv", "fav", "cart", "buy")
OPTIONAL_COLUMNS: tuple[str, ...] = ("value", "scenario")

MIN_TIMESTAMP = 631_152_000  # 1990-01-01 00:00:00 UTC: no behavior log is older
_SHOWN = 5  # offending values listed in a message
# Header names seen in public logs that difflib cannot match to the contract by spelling alone.
_ALIASES = {"uid": "user_id", "user": "user_id", "iid": "item_id", "item": "item_id",
            "cid": "category_id", "cat": "category_id", "category": "category_id",
            "behaviortype": "behavior", "event": "behavior", "action": "behavior",
            "ts": "timestamp", "time": "timestamp", "datetime": "timestamp"}  # fmt: skip


class LogValidationError(ValueError):
    """Raised for any input that breaks the behavior-log contract."""


def _error(source: str, problem: str, fix: str) -> LogValidationError:
    """Build the one message shape every check uses: `source: problem. Fix: fix`."""
    return LogValidationError(f"{source}: {problem}. Fix: {fix}")


def _where(frame: pd.DataFrame, positions: np.ndarray, line_offset: int | None) -> list[str]:
    """Say where rows are: file lines when reading a file, index labels otherwise."""
    if line_offset is not None:
        return [f"line {p + line_offset}" for p in positions.tolist()]
    return [f"row {label!r}" for label in frame.index[positions].tolist()]


def _show(value: object) -> str:
    return "missing" if pd.isna(value) else repr(value)


def _listing(items: list[str], total: int) -> str:
    more = f" ... ({total} in all)" if total > len(items) else ""
    return ", ".join(items) + more


def _offenders(frame: pd.DataFrame, column: str, bad: np.ndarray, offset: int | None) -> str:
    """List the first offending values of `column`, each with where it is."""
    positions = np.flatnonzero(bad)
    values = frame[column].iloc[positions[:_SHOWN]].tolist()
    places = _where(frame, positions[:_SHOWN], offset)
    return _listing([f"{_show(v)} ({w})" for v, w in zip(values, places, strict=True)], bad.sum())


def _check_columns(frame: pd.DataFrame, source: str) -> None:
    missing = [c for c in LOG_COLUMNS if c not in frame.columns]
    if not missing:
        return
    present = [str(c) for c in frame.columns]
    plain = {m.replace("_", ""): m for m in missing}  # compare names without case or separators
    renames = {}
    for name in (c for c in present if c not in LOG_COLUMNS):
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        close = difflib.get_close_matches(key, plain, n=1, cutoff=0.75)
        target = _ALIASES.get(key) or (plain[close[0]] if close else None)
        if target in missing and target not in renames.values():
            renames[name] = target
    fix = f"rename the columns to the contract {LOG_COLUMNS}"
    if renames:
        fix = f"rename the columns, e.g. frame.rename(columns={renames})"
    elif len(missing) == len(LOG_COLUMNS) and any(c.isdigit() for c in present):
        fix += (
            "; the first line looks like data, not a header: read the headerless Taobao "
            "UserBehavior.csv with read_taobao_user_behavior (prepare_to_disk(..., "
            "header=False); --format taobao on the command line), or add a header row"
        )
    problem = f"missing column(s) {missing}; the columns present are {present}"
    raise _error(source, problem, fix)


_INT64_PROBLEMS = {
    NOT_WHOLE: (
        "has missing or non-integer values",
        "ids and timestamps must be whole numbers: correct these values or drop their rows",
    ),
    TOO_LARGE: (
        "has whole numbers too large for int64 (whose range is -2**63 to 2**63 - 1)",
        "map these ids to smaller ones (e.g. with pd.factorize) or drop their rows",
    ),
    INEXACT_FLOAT: (
        "holds floats of 2**53 or more, which float64 cannot hold exactly (neighbouring ids "
        "may already have been rounded into one)",
        "keep the column as int64 or as text, e.g. pd.read_csv(path, dtype={{{column!r}: str}}) "
        "or read_log(path), which reads ids exactly",
    ),
}


def _as_int64(frame: pd.DataFrame, column: str, source: str, offset: int | None) -> pd.Series:
    """Convert a column to int64 exactly (see `to_int64`), or report the values it cannot."""
    col = frame[column]
    if col.dtype == np.int64:
        return col
    if pd.api.types.is_datetime64_any_dtype(col):
        fix = f"convert to unix seconds: frame[{column!r}].astype('datetime64[s]').astype('int64')"
        raise _error(source, f"column {column!r} holds datetimes, not unix seconds", fix)
    values, flags = to_int64(col)
    problems, fixes = [], []
    for flag, (what, fix) in _INT64_PROBLEMS.items():
        if (bad := flags == flag).any():
            problems.append(f"{what}: {_offenders(frame, column, bad, offset)}")
            fixes.append(fix.format(column=column))
    if problems:
        raise _error(source, f"column {column!r} " + "; it ".join(problems), "; ".join(fixes))
    return pd.Series(values, index=frame.index, name=column)


def _as_scenario(frame: pd.DataFrame, source: str, line_offset: int | None) -> pd.Series:
    """The optional `scenario` column (the surface of each event) as text; none missing."""
    missing = frame["scenario"].isna().to_numpy()
    if missing.any():
        listed = _offenders(frame, "scenario", missing, line_offset)
        problem = f"column 'scenario' has missing values: {listed}"
        fix = "fill in the surface of each event (e.g. 'home', 'search') or drop the column"
        raise _error(source, problem, fix)
    return frame["scenario"].astype("str")


def _as_float64(frame: pd.DataFrame, column: str, source: str, offset: int | None) -> pd.Series:
    """Coerce an optional numeric column to float64; missing values are allowed."""
    values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    bad = (values.isna() & frame[column].notna()).to_numpy()
    if bad.any():
        problem = f"column {column!r} has non-numeric values: "
        problem += _offenders(frame, column, bad, offset)
        raise _error(source, problem, f"the optional {column!r} column must hold numbers")
    return values


def _check_behavior(
    frame: pd.DataFrame, behaviors: tuple[str, ...], source: str, offset: int | None
) -> None:
    col = frame["behavior"]
    bad = ~col.isin(behaviors).to_numpy()
    if not bad.any():
        return
    positions = np.flatnonzero(bad)
    codes, uniques = pd.factorize(col.iloc[positions], use_na_sentinel=False)  # first-seen order
    counts = np.bincount(codes).tolist()
    items = []
    for k, value in enumerate(uniques[:_SHOWN].tolist()):
        where = ", ".join(_where(frame, positions[codes == k][:3], offset))
        items.append(f"{_show(value)} ({counts[k]} row{'s' * (counts[k] > 1)}: {where})")
    problem = f"column 'behavior' has values outside {behaviors}: {_listing(items, len(uniques))}"
    fix = f"map these values onto {'/'.join(behaviors)} before loading, or, if your log has "
    fix += "another funnel, pass all its behaviors in funnel order, e.g. "
    fix += "behaviors=('view', 'addtocart', 'transaction')"
    raise _error(source, problem, fix)


def _check_time_range(
    frame: pd.DataFrame, ts: pd.Series, max_timestamp: int, source: str, offset: int | None
) -> None:
    x = ts.to_numpy()
    bad = (x < MIN_TIMESTAMP) | (x > max_timestamp)
    if not bad.any():
        return
    latest = pd.Timestamp(max_timestamp, unit="s")
    problem = f"column 'timestamp' has impossible times (before 1990-01-01 or after {latest}): "
    problem += _offenders(frame.assign(timestamp=ts), "timestamp", bad, offset)
    fix = "timestamps must be unix seconds (UTC)"
    if (x[bad] > 1e11).any():
        fix += "; these look like milliseconds: divide by 1000, e.g. frame['timestamp'] // 1000"
    raise _error(source, problem, fix)


def validate_log(
    frame: pd.DataFrame,
    *,
    source: str = "the DataFrame",
    behaviors: Sequence[str] = TAOBAO_BEHAVIORS,
    line_offset: int | None = None,
    max_timestamp: int | None = None,
) -> pd.DataFrame:
    """Check a behavior log against the contract and return it with canonical dtypes.

    Args:
        frame: The log; extra columns are allowed and kept.
        source: What to call the input in messages (readers pass the file path).
        behaviors: The allowed behavior values, in funnel order.
        line_offset: File line of row 0; when given, rows are reported as file lines
            instead of index labels (readers pass 2 for a header row, 1 for none).
        max_timestamp: Latest allowed unix second; defaults to now plus one day.

    Returns:
        A new frame: the contract columns in order (ids and timestamp int64, behavior str),
        then `value` as float64 and `scenario` as str if present, then any other columns
        unchanged; same index.

    Raises:
        LogValidationError: For an empty frame, missing columns, missing or non-integer ids or
            timestamps, ones too large for int64 or held as floats of 2**53 or more (which
            float64 may have rounded), unknown behaviors, impossible timestamps, or missing
            scenarios.
    """
    behaviors = tuple(behaviors)
    if len(frame) == 0:
        if line_offset is None:
            raise _error(source, "it has no rows", "check the steps that built the DataFrame")
        fix = "check the path and that the file was completely written or downloaded"
        raise _error(source, "the file is empty (no data rows)", fix)
    _check_columns(frame, source)
    columns = {c: _as_int64(frame, c, source, line_offset) for c in (*ID_COLUMNS, "timestamp")}
    _check_behavior(frame, behaviors, source, line_offset)
    latest = int(time.time()) + 86_400 if max_timestamp is None else max_timestamp
    _check_time_range(frame, columns["timestamp"], latest, source, line_offset)
    columns["behavior"] = frame["behavior"].astype("str")
    if "value" in frame.columns:
        columns["value"] = _as_float64(frame, "value", source, line_offset)
    if "scenario" in frame.columns:
        columns["scenario"] = _as_scenario(frame, source, line_offset)
    order = [*LOG_COLUMNS, *OPTIONAL_COLUMNS, *frame.columns]
    order = list(dict.fromkeys(c for c in order if c in frame.columns))
    return frame[order].assign(**columns)
