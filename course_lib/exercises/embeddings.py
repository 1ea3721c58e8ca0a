"""Checks for the exercises of notebook 02 (embeddings)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from course_lib.exercises.compare import difference
from course_lib.exercises.core import check
from course_lib.models.matrix_factorization import MatrixFactorization


def check_one_hot_megabytes(answer: object, batch_size: int, seq_len: int, num_items: int) -> None:
    """Exercise 2.1: megabytes (10**6 bytes) of a float32 one-hot batch of histories."""
    check(
        "2.1",
        answer,
        batch_size * seq_len * num_items * 4 / 1e6,
        hint="one float32 (4 bytes) per item, per position, per history",
        rtol=1e-3,
    )


def check_mf_score(answer: object, model: MatrixFactorization, user: int, item: int) -> None:
    """Exercise 2.2: the matrix-factorisation logit of one (user, item) pair, by hand."""
    batch = {"user": torch.tensor([user]), "candidate": torch.tensor([item])}
    with torch.no_grad():
        expected = model(batch)["click"].item()
    check(
        "2.2",
        answer,
        expected,
        hint="dot product of the two vectors, plus the user's bias, the item's bias and the "
        "global bias",
        rtol=1e-4,
        atol=1e-5,
    )


def check_nearest_items(
    answer: Callable[[int, int], np.ndarray] | None, item_vectors: np.ndarray
) -> None:
    """Exercise 2.3: a function returning the k most cosine-similar items, most similar first."""
    unit = item_vectors / np.linalg.norm(item_vectors, axis=1, keepdims=True).clip(1e-12)

    def same_neighbours(nearest_items: Callable[[int, int], np.ndarray]) -> str | None:
        for item, k in ((2, 5), (10, 3), (len(unit) - 1, 8)):
            similarity = unit @ unit[item]
            similarity[[0, 1, item]] = -np.inf  # PAD, UNK and the item itself
            expected = np.argsort(-similarity, kind="stable")[:k]
            reason = difference(np.asarray(nearest_items(item, k)), expected)
            if reason is not None:
                return f"for item {item} and k={k}: {reason}"
        return None

    check(
        "2.3",
        answer,
        hint="normalise the vectors to length 1, then a matrix-vector product gives every "
        "cosine similarity; leave out PAD (0), UNK (1) and the item itself",
        compare=same_neighbours,
    )
