"""Vocabularies: raw ids to dense indices, with 0 kept for padding and 1 for unknown ids."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

PAD = 0  # index of padding positions in a history; its embedding stays zero
UNK = 1  # index of every id the vocabulary has not seen (new users and items at inference)
NUM_RESERVED = 2


class Vocabulary:
    """A fixed mapping from raw ids (ints or strings) to indices 2, 3, ...; 0 = PAD, 1 = UNK.

    Args:
        tokens: the raw ids in index order; ``tokens[0]`` gets index 2.
        name: what the ids are ("item_id", ...), used in messages and when saved.
    """

    def __init__(self, tokens: Sequence, name: str) -> None:
        self.name = name
        self._index = pd.Index(list(tokens))
        if self._index.has_duplicates:
            repeated = self._index[self._index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"Vocabulary {name!r}: tokens must be unique; repeated: {repeated}")

    @classmethod
    def build(cls, values: Sequence | pd.Series, name: str, min_count: int = 1) -> Vocabulary:
        """Vocabulary of the ids seen at least ``min_count`` times, most frequent first.

        Ties are broken by the id itself, so the same data always gives the same indices.
        """
        return cls.from_counts(pd.Series(values).value_counts(), name, min_count)

    @classmethod
    def from_counts(cls, counts: pd.Series, name: str, min_count: int = 1) -> Vocabulary:
        """Vocabulary from ids already counted (index: id, value: count), ordered as ``build``.

        Counts from any source (e.g. summed chunk by chunk) give exactly what ``build`` gives.
        """
        counts = counts[counts >= min_count]
        frame = pd.DataFrame({"token": counts.index, "count": counts.to_numpy()})
        ordered = frame.sort_values(["count", "token"], ascending=[False, True], kind="stable")
        return cls(ordered["token"].tolist(), name)

    def __len__(self) -> int:
        """Number of indices, the two reserved ones included (the embedding table's size)."""
        return len(self._index) + NUM_RESERVED

    def __repr__(self) -> str:
        return f"Vocabulary({self.name!r}, {len(self._index)} ids + PAD + UNK)"

    @property
    def tokens(self) -> list:
        """The raw ids in index order, starting at index 2."""
        return self._index.tolist()

    def encode(self, values: Sequence | pd.Series | np.ndarray) -> np.ndarray:
        """Indices of raw ids; ids the vocabulary has not seen map to UNK. Shape (n,)."""
        positions = self._index.get_indexer(np.asarray(values))
        return np.where(positions < 0, UNK, positions + NUM_RESERVED).astype(np.int64)

    def decode(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Raw ids of indices; PAD and UNK decode to None. Shape (n,), dtype object."""
        indices = np.asarray(indices, dtype=np.int64)
        if ((indices < 0) | (indices >= len(self))).any():
            bad = indices[(indices < 0) | (indices >= len(self))][:5].tolist()
            raise IndexError(f"Vocabulary {self.name!r} has indices 0..{len(self) - 1}; got {bad}")
        table = np.array([None, None, *self.tokens], dtype=object)
        return table[indices]

    def to_dict(self) -> dict:
        """Plain dict (JSON- and ``torch.load(weights_only=True)``-safe) to rebuild it."""
        tokens = [t.item() if isinstance(t, np.generic) else t for t in self.tokens]
        return {"name": self.name, "pad": PAD, "unk": UNK, "tokens": tokens}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        """Inverse of ``to_dict``; refuses data saved with other reserved indices."""
        if data.get("pad") != PAD or data.get("unk") != UNK:
            raise ValueError(
                f"Vocabulary {data.get('name')!r} was saved with pad={data.get('pad')}, "
                f"unk={data.get('unk')}; this version uses pad={PAD}, unk={UNK}"
            )
        return cls(data["tokens"], data["name"])

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by ``save``."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.name == other.name
            and self._index.equals(other._index)
        )
