"""Preprocessing a log larger than memory: `prepare_to_disk` writes, `OnDiskData` reads lazily.

The in-memory `prepare` holds the raw frame (~100 bytes per event as pandas objects),
several int64 copies of it, then 72 bytes for each of five samples per event: ~0.6 GB per
million events, ~18 GB for 30M. ``prepare_to_disk`` reads the CSV in chunks, keeps only
compact codes (21 bytes per event; ~46 at the peak, 1.7 GB in all for 30M events), writes
sequences and samples as .npy files, and ``OnDiskData`` maps them read-only, so a DataLoader
touches only the pages of its batches.

The results are those of `prepare` on the same file, exactly: ``tests/test_large_logs.py``
compares every array. Modules, in pipeline order: ``read`` (chunks to codes), ``clean``,
``encode`` (vocabularies, sequence order), ``samples`` (split, negatives), ``npy`` (block
writer), ``build`` (the whole flow), ``data`` (the folder layout and `OnDiskData`),
``dataset`` (the lazy torch Dataset). ``benchmarks/bench_large_logs.py`` measures time and
peak memory at 1M, 10M and 30M events.
"""

from course_lib.data.ondisk.build import prepare_to_disk
from course_lib.data.ondisk.clean import CleaningCounts
from course_lib.data.ondisk.data import OnDiskData
from course_lib.data.ondisk.dataset import OnDiskDataset

__all__ = ["CleaningCounts", "OnDiskData", "OnDiskDataset", "prepare_to_disk"]
