"""Read a behavior-log CSV in chunks into compact encoded columns (the first on-disk step).

Each chunk is validated with `validate_log` (errors name the file and the line) and then
reduced to small integer codes, so memory holds 21 bytes per event instead of the raw frame
(~100 bytes per event as pandas objects):

| column    | dtype | bytes | meaning                                                 |
| --------- | ----- | ----- | ------------------------------------------------------- |
| user      | int32 | 4     | code of the raw user id, in order of first appearance   |
| item      | int32 | 4     | code of the raw item id                                 |
| category  | int32 | 4     | code of the raw category id                             |
| behavior  | int8  | 1     | position of the behavior in the funnel (0 = first)      |
| timestamp | int64 | 8     | unix seconds, as in the file                            |

An event's row number in the file (0 = first data line) is its position in these arrays, the
same row label `read_log` gives it. Codes are provisional: vocabulary indices (frequency
order) need the counts of the clean log, which only exist after cleaning. The optional
``value`` column and extra columns are validated and then dropped, as `prepare` ignores them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.csvfile import (
    TEXT_DTYPES,
    TYPED_DTYPES,
    check_file,
    check_layout,
    csv_options,
    parse_errors,
    typed_parse_is_exact,
)
from course_lib.data.ondisk.codebook import Codebook
from course_lib.data.schema import ID_COLUMNS, LOG_COLUMNS, LogValidationError, validate_log

# A categorical behavior column costs one byte per row. Unknown behaviors stay visible (the
# categories are not fixed), so the validator can name them.
_BEHAVIOR = {"behavior": "category"}
_CODED = ("user", "item", "category")  # short names of the coded ID_COLUMNS


class _TypedParseFailed(Exception):
    """A value did not parse with the explicit dtypes; the file is read again without them."""


@dataclass(frozen=True)
class CompactLog:
    """A validated log as codes (see the module docstring); ``N`` rows in file order."""

    user: np.ndarray  # (N,) int32
    item: np.ndarray  # (N,) int32
    category: np.ndarray  # (N,) int32
    behavior: np.ndarray  # (N,) int8
    timestamp: np.ndarray  # (N,) int64
    user_ids: np.ndarray  # (K_user,) int64 raw id of each user code
    item_ids: np.ndarray  # (K_item,) int64
    category_ids: np.ndarray  # (K_category,) int64

    def __len__(self) -> int:
        return len(self.timestamp)


def read_compact(
    path: str | Path,
    *,
    behaviors: Sequence[str],
    chunksize: int,
    header: bool = True,
    sep: str = ",",
    encoding: str = "utf-8",
) -> CompactLog:
    """Read, validate and encode a log CSV ``chunksize`` rows at a time.

    Args:
        path: the CSV (plain or compressed); with ``header`` it names the contract columns,
            without it the five columns come in contract order (Taobao's UserBehavior.csv).
        behaviors: the allowed behaviors in funnel order.
        chunksize: rows per chunk; memory for the raw text is bounded by one chunk.
        header: whether the first line is a header.
        sep, encoding: the field separator and the text encoding, as for `read_log`.

    Raises:
        LogFileNotFoundError: If the file does not exist.
        LogValidationError: For a folder, an empty or malformed file, or a chunk that breaks
            the contract (the message gives the file line of each offending value).
    """
    path = Path(path)
    check_file(path)
    options = csv_options(header=header, sep=sep, encoding=encoding) | {"chunksize": chunksize}
    try:
        return _read(path, tuple(behaviors), options, header, typed=True)
    except _TypedParseFailed:
        return _read(path, tuple(behaviors), options, header, typed=False)


def _read(
    path: Path, behaviors: tuple[str, ...], options: dict, header: bool, typed: bool
) -> CompactLog:
    """One pass over the file, with the ids and timestamps parsed as int64 or as text."""
    codebooks = [Codebook() for _ in ID_COLUMNS]
    funnel = pd.Index(behaviors)
    columns = {name: _Column(np.int32) for name in _CODED}
    columns["behavior"], columns["timestamp"] = _Column(np.int8), _Column(np.int64)
    first_line = 2 if header else 1
    rows = 0
    for chunk in _chunks(path, options, header, typed):
        if rows == 0:
            check_layout(chunk, path, header=header, sep=options["sep"])
        line = first_line + rows
        valid = validate_log(chunk, source=str(path), behaviors=behaviors, line_offset=line)
        for column, name, codebook in zip(ID_COLUMNS, _CODED, codebooks, strict=True):
            columns[name].append(codebook.encode(valid[column].to_numpy()))
        columns["behavior"].append(funnel.get_indexer(valid["behavior"]))
        columns["timestamp"].append(valid["timestamp"].to_numpy())
        rows += len(chunk)
    if rows == 0:  # a header and no data: let the validator say so, as read_log does
        validate_log(pd.DataFrame(columns=list(LOG_COLUMNS)), source=str(path), line_offset=1)
    ids = {
        f"{name}_ids": book.ids.to_numpy() for name, book in zip(_CODED, codebooks, strict=True)
    }
    return CompactLog(**{name: column.values() for name, column in columns.items()}, **ids)


class _Column:
    """A 1-D array filled chunk by chunk into one buffer whose capacity doubles when full.

    Keeping each chunk's small arrays until a final concatenation would scatter them among
    the chunks' freed temporaries, and the allocator could not give that memory back (~20
    bytes per event more at 30M events); pages of the buffer not yet written cost nothing.
    """

    def __init__(self, dtype: type) -> None:
        self._buffer, self._size = np.empty(1 << 16, dtype=dtype), 0

    def append(self, values: np.ndarray) -> None:
        end = self._size + len(values)
        if end > len(self._buffer):
            grown = np.empty(max(end, 2 * len(self._buffer)), dtype=self._buffer.dtype)
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size : end] = values
        self._size = end

    def values(self) -> np.ndarray:
        """The values appended so far (a view of the buffer)."""
        return self._buffer[: self._size]


def _chunks(path: Path, options: dict, header: bool, typed: bool) -> Iterator[pd.DataFrame]:
    """The raw chunks, turning pandas' parse errors into messages that name the file."""
    dtype = (TYPED_DTYPES if typed else TEXT_DTYPES) | _BEHAVIOR
    # low_memory=False after a failed typed parse: one dtype per column and chunk
    extra = {} if typed else {"low_memory": False}
    encoding = options["encoding"]
    with parse_errors(path, header=header, encoding=encoding):
        reader = pd.read_csv(path, dtype=dtype, **options, **extra)
    with reader:
        while True:
            try:
                with parse_errors(path, header=header, encoding=encoding):
                    chunk = next(reader, None)
            except LogValidationError:
                raise
            except (ValueError, OverflowError):
                if typed:
                    raise _TypedParseFailed from None
                raise
            if chunk is None:
                return
            if typed and not typed_parse_is_exact(chunk):
                raise _TypedParseFailed
            yield chunk
