"""Reading a behavior-log CSV in validated chunks, the one reader of every driver (notebook 01).

`read_chunks` reads a whole file as one chunk (`read_log`) or a file larger than memory chunk
by chunk, with the same options and the same failures, each naming the file, where in it, and
the fix: a folder or a missing path, bytes that are not text in the expected encoding, a wrong
separator, a header row where none is expected, lines with the wrong number of fields, and
(through `validate_log`) every value that breaks the contract, with its file line.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from course_lib.data.integers import FLOAT_EXACT_LIMIT, OK, to_int64
from course_lib.data.schema import ID_COLUMNS, LOG_COLUMNS, LogValidationError, validate_log

INTEGER_COLUMNS: tuple[str, ...] = (*ID_COLUMNS, "timestamp")
# The fast parse: every id and timestamp straight to int64, trusted by `typed_parse_is_exact`.
# When a value does not parse (a word, a gap, "3.5") or is not trusted, the file is read
# again with these columns as text, which `validate_log` converts exactly or reports value
# by value (see `course_lib.data.integers`): never through float64.
# A categorical behavior column costs one byte per row; its categories are not fixed, so
# unknown behaviors stay visible to the validator.
TYPED_DTYPES = dict.fromkeys(INTEGER_COLUMNS, "int64") | {"behavior": "category"}
TEXT_DTYPES = dict.fromkeys(INTEGER_COLUMNS, "str") | {"behavior": "category"}
_SEPARATORS = (",", ";", "\t", "|")  # what a one-field line is probably separated by
_SHOWN_FILES = 3  # CSV files named when a folder is given instead of a file
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_NOT_SEARCHED = (".zip", ".zst", ".tar")  # compressions pandas reads that the search does not


class LogFileNotFoundError(LogValidationError, FileNotFoundError):
    """Raised when a log file does not exist; catchable as either parent class."""


class _TypedParseFailed(Exception):
    """A chunk did not parse exactly as int64: read on with the ids and timestamps as text."""


def read_chunks(
    path: Path,
    *,
    behaviors: Sequence[str],
    header: bool,
    sep: str,
    encoding: str,
    chunksize: int | None = None,
    nrows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunksize`` at a time (None: all in one chunk), each validated.

    Ids and timestamps are parsed fast as int64. From the first chunk where that fails or may
    be inexact (see `typed_parse_is_exact`) on, the file is read with them as text, which
    `validate_log` converts exactly or reports value by value; the chunks before it were
    exact, so they are skipped, not yielded twice.

    Args:
        path: the CSV (plain or compressed); with ``header`` it names the contract columns,
            without it the five columns come in contract order (Taobao's UserBehavior.csv).
        behaviors: the allowed behaviors in funnel order.
        header, sep, encoding: the file's header row, field separator and text encoding.
        chunksize: rows per chunk; memory for the raw text is bounded by one chunk.
        nrows: read only the first ``nrows`` rows; None reads them all.

    Yields:
        `validate_log`'s frames, indexed by row in the file (0 = first data line).

    Raises:
        LogFileNotFoundError: If the file does not exist.
        LogValidationError: For a folder, an empty, malformed or wrongly separated file, or
            a chunk that breaks the contract (the message gives the file line of each value).
    """
    check_file(path)
    options = csv_options(header=header, sep=sep, encoding=encoding)
    options |= {"chunksize": chunksize, "nrows": nrows, "iterator": True}
    yielded = 0  # rows
    for typed in (True, False):
        try:
            position = 0
            for chunk in _parsed_chunks(path, options, header=header, typed=typed):
                start, position = position, position + len(chunk)
                if start < yielded:  # read exactly by the typed parse already
                    continue
                if typed and not typed_parse_is_exact(chunk):
                    raise _TypedParseFailed
                if start == 0:
                    check_layout(chunk, path, header=header, sep=sep)
                line = start + (2 if header else 1)
                yield validate_log(chunk, source=str(path), behaviors=behaviors, line_offset=line)
                yielded = position
            return
        except _TypedParseFailed:
            continue


def _parsed_chunks(
    path: Path, options: dict, *, header: bool, typed: bool
) -> Iterator[pd.DataFrame]:
    """The raw chunks, with pandas' parse errors turned into messages that name the file."""
    dtype = TYPED_DTYPES if typed else TEXT_DTYPES
    # low_memory=False as text: one dtype per extra column, not per chunk (no mixed types)
    extra = {} if typed else {"low_memory": False}

    def parse(step: Callable[[], object]) -> object:
        try:
            with parse_errors(path, header=header, encoding=options["encoding"]):
                return step()
        except LogValidationError:
            raise  # the same in any dtype: parse_errors explained it
        except (ValueError, OverflowError):
            if typed:
                raise _TypedParseFailed from None
            raise

    reader = parse(lambda: pd.read_csv(path, dtype=dtype, **options, **extra))
    with reader:
        while (chunk := parse(lambda: next(reader, None))) is not None:
            yield chunk


def check_file(path: Path) -> None:
    """Refuse a path that is a folder or does not exist, saying which and what to pass."""
    if path.is_dir():
        files = sorted(p.name for p in path.iterdir() if ".csv" in p.suffixes)
        example = f", e.g. {', '.join(str(path / f) for f in files[:_SHOWN_FILES])}"
        fix = "pass the CSV file inside it" + (example if files else "")
        raise LogValidationError(f"{path}: this is a folder, not a file. Fix: {fix}")
    if not path.is_file():
        fix = f"check the path (relative paths start from {Path.cwd()})"
        raise LogFileNotFoundError(f"{path}: no such file. Fix: {fix}")


def typed_parse_is_exact(frame: pd.DataFrame) -> bool:
    """Whether the int64 columns of a fast parse hold exactly the numbers in the file.

    pandas' int64 parser reads a value such as "3.0" through float64 and keeps it if whole,
    which rounds numbers of 2**53 or more; a value below 2**53 in magnitude is exact either
    way. So a parse whose values all stay below 2**53 is exact, and any other is read again.
    """
    limit, present = FLOAT_EXACT_LIMIT, [c for c in INTEGER_COLUMNS if c in frame.columns]
    return all(frame[c].between(-limit, limit, inclusive="neither").all() for c in present)


def csv_options(*, header: bool, sep: str, encoding: str) -> dict:
    """`pd.read_csv` options of a log file with or without a header row."""
    options: dict = {"sep": sep, "encoding": encoding}
    if not header:  # index_col=False: extra fields warn instead of becoming an index
        options.update(header=None, names=list(LOG_COLUMNS), index_col=False)
    return options


@contextmanager
def parse_errors(path: Path, *, header: bool, encoding: str) -> Iterator[None]:
    """Turn pandas' parse errors inside the block into LogValidationErrors naming the file."""
    # pandas' int64 parse of "9223372036854775807" beside a "3.0" casts through float64 and
    # warns before it fails; the read as text that follows reports the value, if bad.
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        if not header:  # headerless, pandas only warns about lines with extra fields: refuse
            warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except pd.errors.EmptyDataError:
            fix = "check that the file was completely written or downloaded"
            raise LogValidationError(f"{path}: the file is empty (0 bytes). Fix: {fix}") from None
        except pd.errors.ParserWarning:
            fix = "check that the columns are user, item, category, behavior, time"
            raise LogValidationError(
                f"{path}: lines have more than {len(LOG_COLUMNS)} fields. Fix: {fix}"
            ) from None
        except pd.errors.ParserError as error:
            fix = "every line needs the same number of fields as the first"
            raise LogValidationError(f"{path}: not a valid CSV: {error}. Fix: {fix}") from None
        except UnicodeDecodeError as error:
            raise _decode_error(path, encoding, error) from None


def _decode_error(path: Path, encoding: str, error: UnicodeDecodeError) -> LogValidationError:
    """Where the first byte that is not ``encoding`` text is, and how to read the file."""
    where = _first_undecodable(path, encoding) or f" ({error.reason})"
    fix = (
        "re-save the file as UTF-8, or pass its encoding, e.g. encoding='latin-1' "
        "(read_log, prepare_to_disk; --encoding on the command line)"
    )
    return LogValidationError(f"{path}: the file is not {encoding} text{where}. Fix: {fix}")


def _first_undecodable(path: Path, encoding: str) -> str | None:
    """' on line N (byte B: the bytes)' of the first undecodable line, or None if not found.

    Lines are split at newline bytes, which no byte of a multi-byte UTF-8 character equals.
    """
    if path.suffix in _NOT_SEARCHED:
        return None
    offset = 0
    with _open_binary(path) as stream:
        for number, line in enumerate(stream, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as error:
                shown = line[error.start : error.end]
                return f" on line {number} (byte {offset + error.start:,}: {shown!r})"
            offset += len(line)
    return None


def _open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed as pandas does for these suffixes."""
    return _OPENERS.get(path.suffix, open)(path, "rb")


def check_layout(frame: pd.DataFrame, path: Path, *, header: bool, sep: str) -> None:
    """Refuse a file read with the wrong separator, or a header row in a headerless file.

    Args:
        frame: the file's first rows as read (id columns as text, if the fast parse failed).
        header: whether the file was read as having a header row.
        sep: the separator it was read with.
    """
    if header:
        if len(frame.columns) == 1:
            _check_separator(str(frame.columns[0]), path, sep)
        return
    if len(frame) == 0:
        return
    first = frame.iloc[0]
    if first.iloc[1:].isna().all():
        _check_separator(str(first.iloc[0]), path, sep)
    _check_not_a_header(first, path)


def _check_not_a_header(first: pd.Series, path: Path) -> None:
    """Refuse a headerless file whose first line holds no number where the ids and time go."""
    numbers = first[list(INTEGER_COLUMNS)]
    _, flags = to_int64(numbers.astype(object))
    if (flags == OK).any() or numbers.isna().any():
        return
    fix = (
        "read it as a file with a header: read_log(path) (prepare_to_disk(..., header=True); "
        "no --format taobao on the command line), or delete that line"
    )
    fields = ", ".join(repr(value) for value in first.tolist())
    problem = f"line 1 looks like a header ({fields}), but the file was read as headerless"
    raise LogValidationError(f"{path}: {problem}. Fix: {fix}")


def _check_separator(field: str, path: Path, sep: str) -> None:
    """Refuse a line read as one field that holds another likely separator."""
    found = next((s for s in _SEPARATORS if s != sep and s in field), None)
    if found is None:
        return
    fix = (
        f"pass sep={found!r} (read_log(path, sep={found!r}), prepare_to_disk(..., "
        f"sep={found!r}), --sep on the command line), or re-save the file with {sep!r}"
    )
    problem = f"line 1 is one field, {field!r}: its fields are separated by {found!r}, not {sep!r}"
    raise LogValidationError(f"{path}: {problem}. Fix: {fix}")
