"""The torch side of the pipeline: samples as tensors, histories padded into batches."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from course_lib.data.samples import Samples
from course_lib.data.sequences import Sequences
from course_lib.data.vocab import PAD

HISTORY_FIELDS = ("item", "category", "behavior")
LABEL_FIELDS = ("click", "buy", "next_behavior", "next_item", "next_category")


class BehaviorDataset(Dataset):
    """Samples with their histories: the ``max_len`` events before each target, oldest first.

    Histories are sliced from the flat sequences when an example is read, so memory holds each
    event once however many samples look back at it.
    """

    def __init__(self, sequences: Sequences, samples: Samples, max_len: int = 50) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        self.sequences, self.samples, self.max_len = sequences, samples, max_len
        user_start = sequences.offsets[:-1][sequences.event_user[samples.target]]
        self.history_start = np.maximum(user_start, samples.target - max_len)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """One example: variable-length ``history_*`` tensors, the candidate and the labels."""
        span = slice(self.history_start[index], self.samples.target[index])
        example = {
            f"history_{name}": torch.from_numpy(getattr(self.sequences, name)[span])
            for name in HISTORY_FIELDS
        }
        for name in ("user", "candidate", "candidate_category", *LABEL_FIELDS):
            example[name] = torch.as_tensor(getattr(self.samples, name)[index])
        return example


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
) -> DataLoader:
    """A DataLoader that pads batches, shuffles reproducibly and pins memory for CUDA.

    Args:
        seed: seeds the shuffling order, so the same seed gives the same batches.
        device: where the batches will go; pinned memory makes copies to CUDA asynchronous.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_batch,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=torch.device(device).type == "cuda",
        num_workers=0,
    )
