"""Preprocessing a log larger than memory: `prepare_to_disk` writes, `OnDiskData` reads lazily.

`prepare` holds the raw frame and several int64 copies of it (~0.6 GB per million events).
``prepare_to_disk`` runs the same functions on the CSV in chunks and on compact codes (~46
bytes per event at the peak), writes sequences and samples as .npy files, and `OnDiskData`
maps them read-only, so a DataLoader touches only the pages of its batches. The results
equal `prepare`'s, array by array (``tests/test_large_logs.py``). Modules: ``read`` (chunks
to codes), ``clean`` (counts and dropped rows), ``sequences`` (codes to stored sequences and
split), ``npy`` (block writer), ``build`` (the driver), ``data`` (the folder layout and
`OnDiskData`), ``dataset`` (the lazy torch Dataset).
"""

from course_lib.data.ondisk.build import prepare_to_disk
from course_lib.data.ondisk.clean import CleaningCounts
from course_lib.data.ondisk.data import OnDiskData
from course_lib.data.ondisk.dataset import OnDiskDataset

__all__ = ["CleaningCounts", "OnDiskData", "OnDiskDataset", "prepare_to_disk"]
