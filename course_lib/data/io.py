"""Read and write behavior logs as CSV files (taught in notebook 01, preprocessing).

Every reader validates what it read, so a bad file fails here with the file's path and line
numbers rather than later with an unclear pandas or torch error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from course_lib.data.schema import (
    ID_COLUMNS,
    LOG_COLUMNS,
    TAOBAO_BEHAVIORS,
    LogValidationError,
    validate_log,
)

# The common case: the contract columns parse directly into their final dtypes.
_FAST_DTYPES = {**dict.fromkeys((*ID_COLUMNS, "timestamp"), "int64"), "behavior": "str"}


class LogFileNotFoundError(LogValidationError, FileNotFoundError):
    """Raised when a log file does not exist; catchable as either parent class."""


def _read_csv(path: Path, **options: object) -> pd.DataFrame:
    """Read a CSV fast, falling back to inferred dtypes so bad values reach the validator.

    The typed read raises on the first bad value with a message that names neither the value
    nor its line; the fallback lets pandas infer each column's dtype (text where a value is not
    a number) so that `validate_log` reports every bad value with its line number. Inferring is
    ~3x faster than reading every column as text on a 1M-row file.
    """
    if not path.is_file():
        fix = f"check the path (relative paths start from {Path.cwd()})"
        raise LogFileNotFoundError(f"{path}: no such file. Fix: {fix}")
    try:
        return pd.read_csv(path, dtype=_FAST_DTYPES, **options)
    except pd.errors.EmptyDataError:
        fix = "check that the file was completely written or downloaded"
        raise LogValidationError(f"{path}: the file is empty (0 bytes). Fix: {fix}") from None
    except (ValueError, OverflowError):
        pass
    try:
        # low_memory=False: infer one dtype per column, not per chunk (mixed-type warnings).
        return pd.read_csv(path, dtype={"behavior": "str"}, low_memory=False, **options)
    except pd.errors.ParserError as error:
        fix = "every line needs the same number of comma-separated fields as the first"
        raise LogValidationError(f"{path}: not a valid CSV: {error}. Fix: {fix}") from None


def read_log(
    path: str | os.PathLike[str], *, behaviors: Sequence[str] = TAOBAO_BEHAVIORS
) -> pd.DataFrame:
    """Read a behavior log CSV with a header row and validate it.

    Compressed files (.csv.gz, .csv.zip, ...) are recognised by their extension. Error messages
    give file line numbers (the header is line 1), counting blank lines as pandas skips them.

    Args:
        path: The CSV file; its header must name the contract columns (see `validate_log`).
        behaviors: The allowed behavior values, in funnel order.

    Returns:
        The validated log, indexed 0..n-1 in file order.

    Raises:
        LogFileNotFoundError: If the file does not exist (a LogValidationError and a
            FileNotFoundError).
        LogValidationError: If the file is empty, malformed or breaks the contract.
    """
    path = Path(path)
    frame = _read_csv(path)
    return validate_log(frame, source=str(path), behaviors=behaviors, line_offset=2)


def read_taobao_user_behavior(
    path: str | os.PathLike[str], *, nrows: int | None = None
) -> pd.DataFrame:
    """Read the public Taobao UserBehavior.csv (headerless) into a validated contract log.

    The real file is the Tianchi data set "User Behavior Data from Taobao for Recommendation"
    (Alibaba): 100,150,807 rows, about 3.5 GB, with the five contract columns in order and no
    header. It cannot be redistributed: download it by hand under its license; the course never
    needs it. Use `nrows` to try a slice first (reading it all needs several GB of memory).

    Args:
        path: The headerless CSV (plain or compressed).
        nrows: Read only the first `nrows` lines; None reads the whole file.

    Returns:
        The validated log, indexed 0..n-1 in file order.

    Raises:
        LogFileNotFoundError: If the file does not exist.
        LogValidationError: If the file is empty, malformed or breaks the contract.
    """
    if nrows is not None and (not isinstance(nrows, int) or nrows < 1):
        raise ValueError(f"nrows must be a positive int or None, got {nrows!r}")
    path = Path(path)
    options = {"header": None, "names": list(LOG_COLUMNS), "index_col": False, "nrows": nrows}
    with warnings.catch_warnings():
        # With index_col=False pandas only warns about extra fields and drops them: refuse.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            frame = _read_csv(path, **options)
        except pd.errors.ParserWarning:
            fix = "check that this is UserBehavior.csv (user, item, category, behavior, time)"
            raise LogValidationError(
                f"{path}: lines have more than 5 fields. Fix: {fix}"
            ) from None
    return validate_log(frame, source=str(path), line_offset=1)


def write_log(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    behaviors: Sequence[str] = TAOBAO_BEHAVIORS,
) -> None:
    """Validate a log and write it as CSV with a header and without the index.

    A path ending in .gz is gzipped with a fixed timestamp, so the same frame written to the
    same path always gives the same bytes (stable checksums, clean diffs of bundled data).
    Parent folders are created.

    Args:
        frame: A log in the contract; columns are written in contract order.
        path: The destination file.
        behaviors: The allowed behavior values, in funnel order.

    Raises:
        LogValidationError: If `frame` breaks the contract (nothing is written).
    """
    frame = validate_log(frame, behaviors=behaviors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compression = {"method": "gzip", "mtime": 0} if path.suffix == ".gz" else "infer"
    frame.to_csv(path, index=False, lineterminator="\n", compression=compression)
