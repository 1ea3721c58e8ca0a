"""Prepared data on disk: the folder layout, and `OnDiskData`, which opens it lazily.

The layout written by `prepare_to_disk` (every array a .npy file)::

    out_dir/
      meta.json              format version, parameters, sizes, cleaning counts, phase times
      vocabularies.json      Vocabularies.save
      item_category.npy      (num_items,) int64 category index of every item index
      dropped.csv            the rows cleaning dropped, with reason (if keep_dropped)
      sequences/users.npy    (U,) int64 user index of each sequence
      sequences/offsets.npy  (U + 1,) int64 sequence u is positions offsets[u]:offsets[u + 1]
      sequences/item.npy     (N,) int32 item index, in sequence order
      sequences/category.npy (N,) int32
      sequences/behavior.npy (N,) int8 behavior index (funnel order, from 2)
      sequences/timestamp.npy (N,) int64 unix seconds
      sequences/event_index.npy (N,) int64 row of the event in the file (0 = first data line)
      train/target.npy       (T,) int64 flat positions of the targets (the split)
      train/candidate.npy    (T, 1 + num_negatives) int32 true next item, then negatives
      valid/..., test/...    the same for the other parts

On disk that is 25 bytes per event and 4 bytes per sample (+ 8 per target): a 30M-event log
with four negatives takes about 0.75 GB of sequences and 0.8 GB of samples, against ~11 GB for
`prepare`'s arrays (int64 everywhere, every sample field stored).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib.data.encode import Vocabularies
from course_lib.data.ondisk.clean import CleaningCounts
from course_lib.data.ondisk.dataset import OnDiskDataset, StoredSamples
from course_lib.data.pipeline import PARTS, PreparedData, check_part
from course_lib.data.samples import Samples
from course_lib.data.sequences import Sequences
from course_lib.data.split import Split

FORMAT_VERSION = 1
SEQUENCE_FIELDS = ("users", "offsets", "item", "category", "behavior", "timestamp", "event_index")


@dataclass(frozen=True)
class OnDiskData(PreparedData):
    """`PreparedData` whose large arrays stay on disk as read-only memory maps.

    ``sequences``, ``split`` and ``candidates`` are memory maps; ``train``, ``valid`` and
    ``test`` are `StoredSamples`, read from disk when asked (``samples(part)`` gives all of a
    part as `Samples`); ``cleaning`` is a `CleaningCounts`.
    """

    folder: Path
    candidates: dict[str, np.ndarray]  # part -> (T, 1 + num_negatives) memory map
    meta: dict  # the contents of meta.json

    @classmethod
    def open(cls, folder: str | os.PathLike) -> OnDiskData:
        """Open a folder written by `prepare_to_disk`; the source CSV is not needed."""
        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            fix = "prepare it with prepare_to_disk (meta.json is written last, when complete)"
            raise FileNotFoundError(f"{folder}: no prepared data (no meta.json). Fix: {fix}")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT_VERSION:
            fix = "prepare it again with this version of course_lib"
            problem = f"format {meta.get('format')}, this version reads {FORMAT_VERSION}"
            raise ValueError(f"{folder}: {problem}. Fix: {fix}")
        vocabularies = Vocabularies.load(folder / "vocabularies.json")
        item_category = np.load(folder / "item_category.npy")  # small, read for every sample
        sequences = open_sequences(folder)
        split = Split(**{part: _map(folder / part / "target.npy") for part in PARTS})
        candidates = {part: _map(folder / part / "candidate.npy") for part in PARTS}
        buy_index = vocabularies.conversion_index
        parts = {
            part: StoredSamples(
                sequences, getattr(split, part), candidates[part], item_category, buy_index
            )
            for part in PARTS
        }
        counts, dropped = meta["cleaning"], folder / "dropped.csv"
        cleaning = CleaningCounts(
            rows_in=counts["rows_in"],
            rows_out=counts["rows_out"],
            dropped_rows=tuple(counts["dropped_rows"]),
            dropped_path=dropped if dropped.is_file() else None,
        )
        return cls(
            vocabularies=vocabularies,
            item_category=item_category,
            sequences=sequences,
            split=split,
            cleaning=cleaning,
            **parts,
            folder=folder,
            candidates=candidates,
            meta=meta,
        )

    def dataset(self, part: str, max_len: int = 50) -> OnDiskDataset:
        """The torch Dataset of one part, "train", "valid" or "test", read lazily from disk."""
        check_part(part)
        return OnDiskDataset(self.sequences, getattr(self, part), max_len=max_len)

    def samples(self, part: str) -> Samples:
        """All samples of one part in memory, equal to ``prepare(...)``'s ``train`` (etc.).

        Needs `prepare`'s 72 bytes per sample: for a large part, read batches instead.
        """
        check_part(part)
        stored = getattr(self, part)
        return stored.take(np.arange(len(stored)))


def open_sequences(folder: Path) -> Sequences:
    """The sequences of a prepared folder, every array a read-only memory map."""
    return Sequences(
        **{name: _map(folder / "sequences" / f"{name}.npy") for name in SEQUENCE_FIELDS}
    )


def _map(path: Path) -> np.ndarray:
    """A read-only memory map of a .npy file (pages are read from disk when first touched)."""
    return np.load(path, mmap_mode="r")
