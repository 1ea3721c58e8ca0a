"""Clean a compact log by `drop_steps`, the rules of `clean_log`, reporting counts per reason.

`clean_log` keeps every dropped row in its report; for a log of tens of millions of rows that
report could itself be larger than memory allows, so here the report keeps counts per reason
and the dropped rows go to a CSV file (``write_dropped``) that can be read back when wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.clean import REASONS, ReportText, dropped_in_order, with_reasons
from course_lib.data.ondisk.read import CompactLog


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

    @classmethod
    def of(cls, step: np.ndarray) -> CleaningCounts:
        """The counts of `drop_steps`' ``step`` array."""
        dropped_rows = np.bincount(step, minlength=len(REASONS) + 1)[1:]
        return cls(len(step), len(step) - int(dropped_rows.sum()), tuple(dropped_rows.tolist()))

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


def write_dropped(log: CompactLog, step: np.ndarray, path: Path, block_rows: int) -> None:
    """Write the dropped rows, decoded to raw ids, in `dropped_in_order`, ``block_rows`` rows
    at a time (so even a window that drops most of a huge log fits in memory)."""
    dropped = dropped_in_order(step)
    for begin in range(0, max(len(dropped), 1), block_rows):
        rows = dropped[begin : begin + block_rows]
        frame = with_reasons(log.frame(rows), step[rows])
        mode, header = ("w", True) if begin == 0 else ("a", False)
        frame.to_csv(path, mode=mode, header=header, index_label="row", lineterminator="\n")
