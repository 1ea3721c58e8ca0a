"""Samples stored on disk as a (T, G) table of candidates, and the Dataset that reads them.

A sample is its place in the table: row = target, column 0 = the true next item, columns 1..
= negatives. Everything else it holds follows from the target, by `label_samples` as for
`make_samples`, when it is read, so only the pages a batch touches are loaded from disk.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from course_lib.data.dataset import BehaviorDataset
from course_lib.data.samples import Samples, label_samples
from course_lib.data.sequences import Sequences

_FIELDS = {field.name for field in fields(Samples)}
_BLOCK = 1 << 20  # samples per block when a field of all samples is read: bounded memory


class StoredSamples:
    """One part's samples, read from disk: ``take(indices)`` gives the `Samples` of some,
    and a field (``samples.buy``) is computed for all of them, a block at a time.

    Args:
        sequences: the users' sequences (memory-mapped arrays are fine).
        targets: (T,) flat positions of the part's targets.
        candidates: (T, G) candidate items of each target, the true next item first.
        item_category: (num_items,) category index of every item index.
        buy_index: behavior index of the buy label (``Vocabularies.conversion_index``).
    """

    def __init__(
        self,
        sequences: Sequences,
        targets: np.ndarray,
        candidates: np.ndarray,
        item_category: np.ndarray,
        buy_index: int,
    ) -> None:
        self.sequences, self.targets, self.candidates = sequences, targets, candidates
        self.item_category, self.buy_index = item_category, buy_index

    def __len__(self) -> int:
        return self.candidates.size

    def take(self, indices: np.ndarray) -> Samples:
        """Some samples as `make_samples` makes them, every field (B,)."""
        row, slot = np.divmod(np.asarray(indices, dtype=np.int64), self.candidates.shape[1])
        target, candidate = self.targets[row], self.candidates[row, slot]
        return label_samples(
            self.sequences, target, candidate, slot == 0, self.item_category, self.buy_index
        )

    def __getattr__(self, name: str) -> np.ndarray | None:
        if name not in _FIELDS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        starts = range(0, max(len(self), 1), _BLOCK)
        blocks = (np.arange(b, min(b + _BLOCK, len(self))) for b in starts)
        parts = [getattr(self.take(block), name) for block in blocks]
        return None if parts[0] is None else np.concatenate(parts)  # None: a field without values


class OnDiskDataset(BehaviorDataset):
    """A `BehaviorDataset` of `StoredSamples`: the same examples and batches, read lazily."""
