"""A torch Dataset that reads samples lazily from memory-mapped sequences and candidates.

`BehaviorDataset` keeps every sample's fields in memory (72 bytes per sample, five samples per
target). Here a sample is only its place in a (T, G) candidate table: row = target, column 0 =
the true next item, columns 1.. = negatives. Its user, labels and history follow from the
target when a batch is read, so only the pages a batch touches are loaded from disk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from course_lib.data.dataset import LABEL_FIELDS, padded_histories
from course_lib.data.samples import Samples
from course_lib.data.sequences import Sequences
from course_lib.data.vocab import NUM_RESERVED

_LABEL_BLOCK = 1 << 20  # samples per block in `OnDiskDataset.labels`: bounded memory


class OnDiskDataset(Dataset):
    """The samples of one part, read lazily; batches equal `BehaviorDataset`'s.

    Works with `make_loader` and the models unchanged: ``batch(indices)`` returns the same keys,
    dtypes and values as ``BehaviorDataset.batch`` on the in-memory data, and ``self[i]`` the
    same as ``BehaviorDataset[i]``.

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
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        self.sequences, self.targets, self.candidates = sequences, targets, candidates
        self.item_category, self.conversion_index = item_category, conversion_index
        self.max_len = max_len
        self._user_start = np.asarray(sequences.offsets[:-1])  # (U,) in memory: searched often

    def __len__(self) -> int:
        return self.candidates.size

    def fields(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Every `Samples` field of some samples, in `make_samples`' dtypes. Shape (B,) each."""
        row, slot = np.divmod(np.asarray(indices, dtype=np.int64), self.candidates.shape[1])
        target = np.asarray(self.targets[row], dtype=np.int64)
        sequence = np.searchsorted(self._user_start, target, side="right") - 1
        behavior = np.asarray(self.sequences.behavior[target], dtype=np.int64)
        candidate = np.asarray(self.candidates[row, slot], dtype=np.int64)
        click = slot == 0
        return {
            "target": target,
            "event_index": np.asarray(self.sequences.event_index[target], dtype=np.int64),
            "user": np.asarray(self.sequences.users[sequence], dtype=np.int64),
            "candidate": candidate,
            "candidate_category": np.asarray(self.item_category[candidate], dtype=np.int64),
            "click": click.astype(np.float32),
            "buy": (click & (behavior == self.conversion_index)).astype(np.float32),
            "next_behavior": behavior - NUM_RESERVED,
            "next_item": np.asarray(self.sequences.item[target], dtype=np.int64),
            "next_category": np.asarray(self.sequences.category[target], dtype=np.int64),
        }

    def labels(self, name: str) -> np.ndarray:
        """(N,) one label (a ``Samples`` field, e.g. "buy") of every sample, as `make_samples`
        makes it; computed ``_LABEL_BLOCK`` samples at a time, without reading histories."""
        starts = range(0, max(len(self), 1), _LABEL_BLOCK)
        blocks = (np.arange(b, min(b + _LABEL_BLOCK, len(self))) for b in starts)
        return np.concatenate([self.fields(block)[name] for block in blocks])

    def samples(self, indices: Sequence[int] | np.ndarray | None = None) -> Samples:
        """Some samples (all by default) as an in-memory `Samples`, as `make_samples` makes
        them. All of a large part needs 72 bytes per sample: pass indices for a slice."""
        indices = np.arange(len(self)) if indices is None else indices
        return Samples(**self.fields(indices))

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """Many samples at once, padded, exactly as `BehaviorDataset.batch` builds them.

        Shape:
            histories and ``mask``: (B, L) with L the longest history of the batch;
            ``lengths`` and every other field: (B,).
        """
        fields = self.fields(indices)
        target = fields["target"]
        sequence = np.searchsorted(self._user_start, target, side="right") - 1
        start = np.maximum(self._user_start[sequence], target - self.max_len)
        batch = padded_histories(self.sequences, start, target)
        for name in ("user", "candidate", "candidate_category", *LABEL_FIELDS):
            batch[name] = torch.from_numpy(fields[name])
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """One example: variable-length ``history_*`` tensors, the candidate and the labels."""
        batch = self.batch([index])
        length = int(batch.pop("lengths")[0])
        del batch["mask"]
        return {
            name: value[0, :length] if name.startswith("history_") else value[0]
            for name, value in batch.items()
        }
