"""Read and write behavior logs as CSV files (taught in notebook 01, preprocessing).

Every reader validates what it read, so a bad file fails here with the file's path and line
numbers rather than later with an unclear pandas or torch error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from course_lib.data.csvfile import LogFileNotFoundError, read_chunks
from course_lib.data.schema import TAOBAO_BEHAVIORS, validate_log

__all__ = ["LogFileNotFoundError", "read_log", "read_taobao_user_behavior", "write_log"]


def read_log(
    path: str | os.PathLike[str],
    *,
    behaviors: Sequence[str] = TAOBAO_BEHAVIORS,
    sep: str = ",",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a behavior log CSV with a header row and validate it.

    Compressed files (.csv.gz, .csv.zip, ...) are recognised by their extension. Error messages
    give file line numbers (the header is line 1), counting blank lines as pandas skips them.
    Ids and timestamps are read exactly (``course_lib.data.integers``): "42.0" is 42, and an
    id is never rounded through float64.

    Args:
        path: The CSV file; its header must name the contract columns (see `validate_log`).
        behaviors: The allowed behavior values, in funnel order.
        sep: The field separator, e.g. ";" for a file saved by a European spreadsheet.
        encoding: The file's text encoding, e.g. "latin-1".

    Returns:
        The validated log, indexed 0..n-1 in file order.

    Raises:
        LogFileNotFoundError: If the file does not exist (a LogValidationError and a
            FileNotFoundError).
        LogValidationError: If the path is a folder, or the file is empty, malformed, not
            text in ``encoding``, separated by another character, or breaks the contract.
    """
    chunks = read_chunks(Path(path), behaviors=behaviors, header=True, sep=sep, encoding=encoding)
    return next(chunks)  # the whole file, in one chunk


def read_taobao_user_behavior(
    path: str | os.PathLike[str],
    *,
    nrows: int | None = None,
    sep: str = ",",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read the public Taobao UserBehavior.csv (headerless) into a validated contract log.

    The real file is the Tianchi data set "User Behavior Data from Taobao for Recommendation"
    (Alibaba): 100,150,807 rows, about 3.5 GB, with the five contract columns in order and no
    header. It cannot be redistributed: download it by hand under its license; the course never
    needs it. Use `nrows` to try a slice first (reading it all needs several GB of memory).

    Args:
        path: The headerless CSV (plain or compressed).
        nrows: Read only the first `nrows` lines; None reads the whole file.
        sep, encoding: As for `read_log`.

    Returns:
        The validated log, indexed 0..n-1 in file order.

    Raises:
        LogFileNotFoundError: If the file does not exist.
        LogValidationError: If the file is empty, malformed, starts with a header row or
            breaks the contract.
    """
    if nrows is not None and (not isinstance(nrows, int) or nrows < 1):
        raise ValueError(f"nrows must be a positive int or None, got {nrows!r}")
    options = {"header": False, "sep": sep, "encoding": encoding, "nrows": nrows}
    return next(read_chunks(Path(path), behaviors=TAOBAO_BEHAVIORS, **options))


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
