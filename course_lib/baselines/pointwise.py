"""Floors for a label per (user, item) pair: global mean, per-user or per-item rates, biases.

The classic baseline of rating prediction (Koren, "Factor in the Neighbors", TKDD 2010) is
``mean + user bias + item bias``, each bias the average deviation of the user's (the item's)
labels, shrunk towards 0 by a damping term: a user with 2 ratings gets a small bias, a user
with 200 their own average. It is hard to beat: a model that scores below it on a rating or
a like task has not learned who is generous and what is good. Switching either bias off gives
the per-item or the per-user rate, both off the global mean; the same code serves a 0/1 label
(a like rate) and a rating.
"""

from __future__ import annotations

import numpy as np
import torch


class BiasBaseline:
    """Predict ``mean + b_user + b_item``, with biases damped towards 0 (see the module doc).

    With n labels of an item and deviations d from the mean, its bias is
    ``sum(d) / (n + damping)``; the user biases are then fitted the same way on what the mean
    and the item biases leave. An id never seen in training gets bias 0.

    Args:
        users: learn a bias per user (False: no user bias).
        items: learn a bias per item (False: no item bias).
        damping: pseudo-count of zero-deviation labels each bias starts from (>= 0).
    """

    def __init__(self, users: bool = True, items: bool = True, damping: float = 10.0) -> None:
        if not damping >= 0:
            raise ValueError(f"damping must be a number >= 0, got {damping}")
        self.use_users, self.use_items, self.damping = users, items, damping
        self.mean: float | None = None  # set by fit
        self.user_bias = np.zeros(0)  # (num users seen,) by user index
        self.item_bias = np.zeros(0)  # (num items seen,) by item index

    def fit(self, user: np.ndarray, item: np.ndarray, label: np.ndarray) -> BiasBaseline:
        """Learn the mean and the biases from training pairs; returns ``self``.

        Args:
            user, item: encoded indices (>= 0) of each training pair, e.g.
                ``prepared.train.user`` and ``prepared.train.candidate``.
            label: the pair's label (0/1 for a like, stars for a rating).

        Shape:
            user, item, label: (S,)
        """
        user, item, label = _pairs(user, item, label)
        if len(label) == 0:
            raise ValueError("BiasBaseline.fit needs at least one labelled pair; got none")
        self.mean = float(label.mean())
        residual = label - self.mean
        self.item_bias = self._damped(item, residual) if self.use_items else np.zeros(0)
        residual = residual - _lookup(self.item_bias, item)
        self.user_bias = self._damped(user, residual) if self.use_users else np.zeros(0)
        return self

    def predict(self, user: np.ndarray, item: np.ndarray) -> np.ndarray:
        """The predicted label of each pair, float64. Shape: (n,), (n,) -> (n,)."""
        if self.mean is None:
            raise RuntimeError("BiasBaseline is not fitted: call fit() first")
        user, item, _ = _pairs(user, item, None)
        return self.mean + _lookup(self.user_bias, user) + _lookup(self.item_bias, item)

    def scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``predict`` for a batch's ``user`` and ``candidate``, on the batch's device. (B,)."""
        user, candidate = batch["user"], batch["candidate"]
        predicted = self.predict(user.cpu().numpy(), candidate.cpu().numpy())
        return torch.as_tensor(predicted, dtype=torch.float32, device=candidate.device)

    def _damped(self, index: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """Per index: the sum of its residuals over (its count + damping)."""
        sums = np.bincount(index, weights=residual)
        counts = np.bincount(index, minlength=len(sums))
        with np.errstate(invalid="ignore", divide="ignore"):  # damping 0 and an unseen index
            bias = sums / (counts + self.damping)
        return np.nan_to_num(bias, nan=0.0)


def _pairs(
    user: np.ndarray, item: np.ndarray, label: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays as int64 indices and float64 labels, checked for length and sign."""
    user, item = np.asarray(user).astype(np.int64), np.asarray(item).astype(np.int64)
    values = np.zeros(len(user)) if label is None else np.asarray(label, dtype=np.float64)
    if not len(user) == len(item) == len(values):
        raise ValueError(
            f"user, item and label need one entry per pair; got {len(user)}, {len(item)} and "
            f"{len(values)}"
        )
    if (user < 0).any() or (item < 0).any():
        raise ValueError("user and item must be encoded indices (>= 0); encode raw ids first")
    if not np.isfinite(values).all():
        raise ValueError("label holds missing or infinite values; drop those pairs first")
    return user, item, values


def _lookup(bias: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``bias[index]``, 0 for an index beyond the fitted ones (an id never seen in training)."""
    known = index < len(bias)
    return np.where(known, bias[np.where(known, index, 0)] if len(bias) else 0.0, 0.0)
