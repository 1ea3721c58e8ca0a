"""The torch side of the pipeline: samples as tensors, histories padded into batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    WeightedRandomSampler,
)

from course_lib.data.samples import Samples
from course_lib.data.sequences import Sequences
from course_lib.data.vocab import PAD

HISTORY_FIELDS = ("item", "category", "behavior")
LABEL_FIELDS = ("click", "buy", "next_behavior", "next_item", "next_category")
VALUE_LABELS = ("rating", "like")  # in batches when the log has a value column
CONTEXT_FIELDS = ("scenario",)  # where the request comes from, when the log says so


class BehaviorDataset(Dataset):
    """Samples with their histories: the ``max_len`` events before each target, oldest first.

    Histories are sliced from the flat sequences when an example is read, so memory holds each
    event once however many samples look back at it. ``samples`` may be any object with the
    fields of `Samples`, ``len()`` and ``take(indices)``, e.g. samples stored on disk.
    """

    def __init__(self, sequences: Sequences, samples: Samples, max_len: int = 50) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        self.sequences, self.samples, self.max_len = sequences, samples, max_len
        self._user_start = np.asarray(sequences.offsets[:-1])  # (U,) searched for every batch

    def __len__(self) -> int:
        return len(self.samples)

    def labels(self, name: str) -> np.ndarray:
        """(N,) one label (a ``Samples`` field, e.g. "buy") of every sample, without batches."""
        return getattr(self.samples, name)

    def history_starts(self, target: np.ndarray) -> np.ndarray:
        """(B,) flat position of the first history event of each target: at most ``max_len``
        events back, and never before the first event of the target's user."""
        sequence = np.searchsorted(self._user_start, target, side="right") - 1
        return np.maximum(self._user_start[sequence], target - self.max_len)

    @property
    def history_start(self) -> np.ndarray:
        """(N,) ``history_starts`` of every sample."""
        return self.history_starts(self.samples.target)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """One example: variable-length ``history_*`` tensors, the candidate and the labels."""
        batch = self.batch([index])
        length = int(batch.pop("lengths")[0])
        del batch["mask"]
        return {
            name: value[0, :length] if name.startswith("history_") else value[0]
            for name, value in batch.items()
        }

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """Many examples at once, padded: the same as ``collate_batch`` of ``self[i]`` for
        each index, built with one gather per field instead of a Python loop.

        Shape:
            histories and ``mask``: (B, L) with L the longest history of the batch;
            ``lengths`` and every other field: (B,). ``target`` is the flat position of each
            sample's target event in the sequences (to look further back than the history).
        """
        rows = self.samples.take(np.asarray(indices, dtype=np.int64))
        batch = padded_histories(self.sequences, self.history_starts(rows.target), rows.target)
        names = ("user", "candidate", "candidate_category", *CONTEXT_FIELDS)
        for name in (*names, *LABEL_FIELDS, *VALUE_LABELS):
            if getattr(rows, name, None) is not None:  # stored samples may lack the context
                batch[name] = torch.from_numpy(getattr(rows, name))
        batch["target"] = torch.from_numpy(np.asarray(rows.target, dtype=np.int64))
        return batch


def padded_histories(
    sequences: Sequences, start: np.ndarray, end: np.ndarray
) -> dict[str, torch.Tensor]:
    """The events ``start[b]:end[b]`` of the flat sequences as right-padded int64 batches.

    The sequences' arrays may be stored in narrower integer types (memory maps, say).

    With values in the sequences (ratings), ``history_value`` holds each event's value as
    float32: NaN at an event without one, 0 at padding (as ``collate_batch`` pads). With
    scenarios, ``history_scenario`` holds each event's scenario index (PAD at padding).

    Shape:
        ``history_*`` and ``mask``: (B, L) with L the longest history; ``lengths``: (B,).
    """
    lengths = np.asarray(end, dtype=np.int64) - start  # (B,)
    steps = np.arange(lengths.max(initial=0))  # (L,)
    mask = steps < lengths[:, None]  # (B, L)
    positions = np.where(mask, start[:, None] + steps, 0)  # (B, L), 0 where padded
    batch = {
        f"history_{name}": torch.from_numpy(
            np.where(mask, getattr(sequences, name)[positions], PAD).astype(np.int64, copy=False)
        )
        for name in HISTORY_FIELDS
    }
    if sequences.value is not None:
        value = np.where(mask, sequences.value[positions], 0.0).astype(np.float32)
        batch["history_value"] = torch.from_numpy(value)
    if sequences.scenario is not None:
        scenario = np.where(mask, sequences.scenario[positions], PAD).astype(np.int64)
        batch["history_scenario"] = torch.from_numpy(scenario)
    batch["lengths"] = torch.from_numpy(lengths)
    batch["mask"] = torch.from_numpy(mask)
    return batch


class _Batches(Dataset):
    """Adapter so a DataLoader asks ``BehaviorDataset.batch`` for whole batches at once."""

    def __init__(self, dataset: BehaviorDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.dataset.batch(indices)

    def labels(self, name: str) -> np.ndarray:
        """The dataset's labels, for code that holds only the loader (``fit``'s checks)."""
        return self.dataset.labels(name)


def collate_batch(examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack examples into a batch; histories are right-padded with PAD to the longest one.

    Returns:
        ``history_item``, ``history_category``, ``history_behavior``: (B, L) int64;
        ``lengths``: (B,) number of real events; ``mask``: (B, L) True at real events;
        every other field stacked to (B,).
    """
    batch = {
        key: pad_sequence([e[key] for e in examples], batch_first=True, padding_value=PAD)
        for key in examples[0]
        if key.startswith("history_")
    }
    batch["lengths"] = torch.tensor([len(e["history_item"]) for e in examples])
    batch["mask"] = torch.arange(batch["history_item"].shape[1]) < batch["lengths"][:, None]
    for key in examples[0]:
        if not key.startswith("history_"):
            batch[key] = torch.stack([e[key] for e in examples])
    return batch


def make_loader(
    dataset: BehaviorDataset,
    batch_size: int = 256,
    shuffle: bool = False,
    seed: int = 0,
    device: torch.device | str = "cpu",
    sample_weights: np.ndarray | None = None,
) -> DataLoader:
    """A DataLoader of padded batches that shuffles reproducibly and pins memory for CUDA.

    Each batch is built in one vectorised call (``BehaviorDataset.batch``): the loader's
    sampler hands over a whole batch of indices, and automatic collation is switched off.

    Args:
        seed: seeds the shuffling order, so the same seed gives the same batches.
        device: where the batches will go; pinned memory makes copies to CUDA asynchronous.
        sample_weights: (N,) draw samples with replacement in proportion to these weights
            (``oversampling_weights``), ``len(dataset)`` draws per pass; implies shuffling.
    """
    generator = torch.Generator().manual_seed(seed)
    if sample_weights is not None:
        if len(sample_weights) != len(dataset):
            raise ValueError(
                f"sample_weights has {len(sample_weights)} entries for {len(dataset)} samples"
            )
        weights = torch.as_tensor(sample_weights, dtype=torch.double)
        order = WeightedRandomSampler(weights, len(dataset), replacement=True, generator=generator)
    elif shuffle:
        order = RandomSampler(dataset, generator=generator)
    else:
        order = SequentialSampler(dataset)
    return DataLoader(
        _Batches(dataset),
        batch_size=None,  # the sampler below already yields whole batches of indices
        sampler=BatchSampler(order, batch_size, drop_last=False),
        pin_memory=torch.device(device).type == "cuda",
        num_workers=0,
    )


def oversampling_weights(labels: np.ndarray, factor: float) -> np.ndarray:
    """Sampling weights that draw every positive ``factor`` times as often as a negative.

    The "data augmentation" remedy for a rare label: the model sees more positives per batch,
    each repeated (no new information), while the negatives are seen less often. The positive
    rate in the batches becomes about ``factor`` times the true rate (for rare labels), so
    predicted probabilities are inflated; ROC-AUC, a ranking metric, is unaffected by that.

    Args:
        labels: (N,) 0/1 labels of the rare task, e.g. ``data.train.buy``.
        factor: how much more often a positive is drawn than a negative (>= 1).

    Returns:
        (N,) float64 weights for ``make_loader(sample_weights=...)``.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    labels = np.asarray(labels)
    return np.where(labels > 0.5, float(factor), 1.0)
