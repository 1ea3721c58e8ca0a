"""Read a behavior-log CSV in validated chunks into compact codes (the first on-disk step).

The chunks come from `read_chunks`, the reader of `read_log`; each is reduced to small integer
codes, so memory holds 21 bytes per event instead of the raw frame (~100 as pandas objects):
int32 codes of the user, item and category ids (in order of first appearance), the int8
position of the behavior in the funnel, and the int64 timestamp. An event's position in these
arrays is its row in the file (0 = first data line), the row label `read_log` gives it. The
optional ``value`` and ``scenario`` columns and extra columns are validated and then dropped:
the on-disk build makes the samples of implicit feedback, without scenarios, only
(``prepare_to_disk`` warns when it drops values or scenarios).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.csvfile import read_chunks
from course_lib.data.schema import OPTIONAL_COLUMNS

CODED = {"user": "user_id", "item": "item_id", "category": "category_id"}


@dataclass(frozen=True)
class CompactLog:
    """A validated log as codes; ``N`` rows in file order."""

    user: np.ndarray  # (N,) int32
    item: np.ndarray  # (N,) int32
    category: np.ndarray  # (N,) int32
    behavior: np.ndarray  # (N,) int8
    timestamp: np.ndarray  # (N,) int64
    user_ids: np.ndarray  # (K_user,) int64 raw id of each user code
    item_ids: np.ndarray  # (K_item,) int64
    category_ids: np.ndarray  # (K_category,) int64
    behaviors: tuple[str, ...]  # the funnel
    dropped: tuple[str, ...] = ()  # the optional columns the file had (value, scenario), not kept

    def __len__(self) -> int:
        return len(self.timestamp)

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """Some rows decoded to the contract columns, indexed by row."""
        frame = pd.DataFrame(index=rows)
        for short, column in CODED.items():
            frame[column] = getattr(self, f"{short}_ids")[getattr(self, short)[rows]]
        frame["behavior"] = np.asarray(self.behaviors, dtype=object)[self.behavior[rows]]
        frame["timestamp"] = self.timestamp[rows]
        return frame


def read_compact(
    path: str | Path,
    *,
    behaviors: Sequence[str],
    chunksize: int,
    header: bool,
    sep: str,
    encoding: str,
) -> CompactLog:
    """Read, validate and encode a log CSV ``chunksize`` rows at a time (see `read_chunks`)."""
    csv = {"header": header, "sep": sep, "encoding": encoding}
    books = {short: Codebook() for short in CODED}
    columns = {short: _Column(np.int32) for short in CODED}
    columns["behavior"], columns["timestamp"] = _Column(np.int8), _Column(np.int64)
    funnel = pd.Index(behaviors)
    dropped: set[str] = set()
    for chunk in read_chunks(Path(path), behaviors=behaviors, chunksize=chunksize, **csv):
        dropped |= {
            name for name in OPTIONAL_COLUMNS if name in chunk and chunk[name].notna().any()
        }
        for short, column in CODED.items():
            columns[short].append(books[short].encode(chunk[column].to_numpy()))
        columns["behavior"].append(funnel.get_indexer(chunk["behavior"]))
        columns["timestamp"].append(chunk["timestamp"].to_numpy())
    ids = {f"{short}_ids": book.ids.to_numpy() for short, book in books.items()}
    arrays = {name: column.values() for name, column in columns.items()}
    kept = {
        "behaviors": tuple(behaviors),
        "dropped": tuple(n for n in OPTIONAL_COLUMNS if n in dropped),
    }
    return CompactLog(**arrays, **ids, **kept)


class Codebook:
    """Raw int64 ids to int32 codes 0, 1, ... in order of first appearance, chunk by chunk."""

    def __init__(self) -> None:
        self.ids = pd.Index(np.empty(0, dtype=np.int64))  # (K,) raw id of each code

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Codes of ``values``, adding the ids not seen before. Shape (n,), int32."""
        local, uniques = pd.factorize(values)  # the chunk's distinct ids, hashed once
        codes = self.ids.get_indexer(uniques)
        new = codes < 0
        if new.any():
            codes[new] = len(self.ids) + np.arange(new.sum())
            self.ids = self.ids.append(pd.Index(uniques[new]))
        if len(self.ids) >= 2**31:
            raise ValueError("more than 2**31 distinct ids: they do not fit int32 codes")
        return codes.astype(np.int32)[local]


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
