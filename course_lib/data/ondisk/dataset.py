"""A `BehaviorDataset` whose samples stay on disk as a (T, G) table of candidates.

A sample is its place in the table: row = target, column 0 = the true next item, columns 1..
= negatives. Everything else it holds follows from the target, by `label_samples` as for
`make_samples`, when a batch is read, so only the pages a batch touches are loaded from disk.
"""

from __future__ import annotations

import numpy as np

from course_lib.data.dataset import BehaviorDataset
from course_lib.data.samples import Samples, label_samples
from course_lib.data.sequences import Sequences

_LABEL_BLOCK = 1 << 20  # samples per block in `OnDiskDataset.labels`: bounded memory


class OnDiskDataset(BehaviorDataset):
    """The samples of one part, read lazily; examples and batches equal `BehaviorDataset`'s.

    Args:
        sequences: the users' sequences (memory-mapped arrays are fine).
        targets: (T,) flat positions of the part's targets.
        candidates: (T, G) candidate items of each target, the true next item first.
        item_category: (num_items,) category index of every item index.
        conversion_index: behavior index of the buy label (``Vocabularies.conversion_index``).
        max_len: the longest history, as in `BehaviorDataset`.
    """

    def __init__(
        self,
        sequences: Sequences,
        targets: np.ndarray,
        candidates: np.ndarray,
        item_category: np.ndarray,
        conversion_index: int,
        max_len: int = 50,
    ) -> None:
        super().__init__(sequences, None, max_len=max_len)
        self.targets, self.candidates = targets, candidates
        self.item_category, self.conversion_index = item_category, conversion_index

    def __len__(self) -> int:
        return self.candidates.size

    def rows(self, indices: np.ndarray) -> Samples:
        """Some samples as `make_samples` makes them, every field (B,)."""
        row, slot = np.divmod(np.asarray(indices, dtype=np.int64), self.candidates.shape[1])
        return label_samples(
            self.sequences,
            self.targets[row],
            self.candidates[row, slot],
            slot == 0,
            self.item_category,
            self.conversion_index,
        )

    def labels(self, name: str) -> np.ndarray:
        """(N,) one label of every sample, computed ``_LABEL_BLOCK`` samples at a time."""
        starts = range(0, max(len(self), 1), _LABEL_BLOCK)
        blocks = (np.arange(b, min(b + _LABEL_BLOCK, len(self))) for b in starts)
        return np.concatenate([getattr(self.rows(block), name) for block in blocks])
