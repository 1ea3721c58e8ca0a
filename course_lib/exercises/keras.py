"""Checks for the exercises of notebook 11 (appendix: from Keras to PyTorch)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from course_lib.exercises.compare import difference
from course_lib.exercises.core import check
from course_lib.training.weighting import TaskWeighting


def _weights_differ(answer: object, keras_weights: Mapping[str, float]) -> str | None:
    """None when ``answer`` sums the task losses with ``keras_weights``, else what differs."""
    if isinstance(answer, Mapping):
        return (
            "a dict of weights is what Keras' compile takes; fit's weighting= takes an object "
            "from course_lib (a TaskWeighting)"
        )
    if not isinstance(answer, TaskWeighting):
        return f"expected a TaskWeighting object, got {type(answer).__name__}"
    names = list(keras_weights)
    for name in names:  # each task's weight: the total when only that task has a loss of 1
        losses = {other: torch.tensor(float(other == name)) for other in names}
        try:
            weight = float(answer.combine(losses))
        except KeyError as error:
            return f"it has no weight for every task ({error})"
        reason = difference(weight, float(keras_weights[name]), rtol=1e-6)
        if reason is not None:
            return f"the weight of the {name} loss: {reason}"
    return None


def check_loss_weights(answer: object, keras_weights: Mapping[str, float]) -> None:
    """Exercise 11.1: the course's weighting object for Keras' ``loss_weights``."""
    check(
        "11.1",
        answer,
        hint="notebook 05 passes fit a weighting with constant weights, one per task name",
        compare=lambda weighting: _weights_differ(weighting, keras_weights),
    )


def _embedding_differs(answer: object, num_items: int, embed_dim: int) -> str | None:
    """None when ``answer`` is the PyTorch twin of ``Embedding(n, d, mask_zero=True)``."""
    if not isinstance(answer, nn.Embedding):
        return f"expected a torch.nn.Embedding, got {type(answer).__name__}"
    for field, value, wanted in (
        ("num_embeddings", answer.num_embeddings, num_items),
        ("embedding_dim", answer.embedding_dim, embed_dim),
    ):
        reason = difference(value, wanted)
        if reason is not None:
            return f"{field}: {reason}"
    if answer.padding_idx is None:
        return (
            "padding_idx is None, so the padding id has an ordinary, trainable row; mask_zero "
            "reserves an id for padding"
        )
    if answer.padding_idx != 0:
        return f"padding_idx={answer.padding_idx} is not the id mask_zero=True reserves"
    return None


def check_masked_embedding(answer: object, num_items: int, embed_dim: int) -> None:
    """Exercise 11.2: ``nn.Embedding`` for Keras' ``Embedding(n, d, mask_zero=True)``."""
    check(
        "11.2",
        answer,
        hint="nn.Embedding(num_embeddings, embedding_dim, ...) has an argument that keeps one "
        "row at zero and out of training",
        compare=lambda embedding: _embedding_differs(embedding, num_items, embed_dim),
    )
