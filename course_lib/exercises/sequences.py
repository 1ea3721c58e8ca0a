"""Checks for the exercises of notebook 03 (sequence encoders)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_lib.exercises.compare import difference
from course_lib.exercises.core import check
from course_lib.metrics.ranking import ranking_metrics


def check_lstm_parameters(answer: object, input_dim: int, hidden_dim: int) -> None:
    """Exercise 3.1: the number of trainable numbers in ``nn.LSTM(input_dim, hidden_dim)``."""
    lstm = nn.LSTM(input_dim, hidden_dim)
    check(
        "3.1",
        answer,
        sum(p.numel() for p in lstm.parameters()),
        hint="four gates, each with an input matrix (H x D), a recurrent matrix (H x H) and "
        "two bias vectors of length H",
    )


def check_hit_rate(answer: object, scores: torch.Tensor, target: torch.Tensor) -> None:
    """Exercise 3.2: HR@3 of a small score matrix, computed by hand."""
    check(
        "3.2",
        answer,
        ranking_metrics(scores, target, ks=(3,))["HR@3"],
        hint="for each row, count the real items (columns 2 and up) scoring higher than the "
        "target; the row is a hit when fewer than 3 do",
    )


def check_masked_mean(
    answer: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
) -> None:
    """Exercise 3.3: the mean of each history's real-event embeddings, padding left out."""
    generator = torch.Generator().manual_seed(0)
    embedded = torch.randn(4, 6, 3, generator=generator)  # (B, L, D)
    lengths = torch.tensor([6, 1, 3, 4])
    mask = torch.arange(6) < lengths[:, None]  # (B, L)
    expected = torch.stack([embedded[b, : lengths[b]].mean(dim=0) for b in range(4)])

    def same_means(
        masked_mean: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> str | None:
        return difference(masked_mean(embedded, mask), expected)

    check(
        "3.3",
        answer,
        hint="zero the padded positions with the mask, sum over the time axis, divide by the "
        "number of real events",
        compare=same_means,
    )
