"""Checks for the exercises of notebook 05 (task imbalance)."""

from __future__ import annotations

import numpy as np
import torch

from course_lib.exercises.core import check
from course_lib.losses import binary_loss


def check_balancing_pos_weight(answer: object, labels: np.ndarray) -> None:
    """Exercise 5.1: the pos_weight that gives positives and negatives equal total weight."""
    labels = np.asarray(labels)
    positives = int((labels > 0.5).sum())
    check(
        "5.1",
        answer,
        (len(labels) - positives) / positives,
        hint="count the positives and the negatives of the labels; divide negatives by positives",
        rtol=1e-6,
    )


def check_focal_loss(answer: object, logit: float, label: float, gamma: float) -> None:
    """Exercise 5.2: the focal loss of one sample, ``(1 - p_t)^gamma * BCE``."""
    expected = binary_loss(torch.tensor([logit]), torch.tensor([label]), focal_gamma=gamma)
    check(
        "5.2",
        answer,
        float(expected),
        hint="p = sigmoid(logit); p_t = p for a positive; BCE = -log(p_t); "
        "multiply by (1 - p_t) ** gamma",
        rtol=1e-4,
    )


def check_pcgrad_projection(answer: object, g_click: np.ndarray, g_buy: np.ndarray) -> None:
    """Exercise 5.3: the click gradient after PCGrad's projection against the buy gradient."""
    g_click, g_buy = np.asarray(g_click, dtype=float), np.asarray(g_buy, dtype=float)
    dot = float(g_click @ g_buy)
    expected = g_click - min(dot, 0.0) / float(g_buy @ g_buy) * g_buy
    check(
        "5.3",
        None if answer is None else np.asarray(answer, dtype=float),
        expected,
        hint="if g_click . g_buy < 0, subtract (g_click . g_buy / |g_buy|^2) * g_buy; "
        "else leave g_click as it is",
        rtol=1e-6,
    )
