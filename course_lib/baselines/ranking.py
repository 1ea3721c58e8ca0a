"""Floors for the next-item task: rankings every model must beat to have learned anything.

A baseline scores a batch like a model's next-item head, ``scores(batch) -> (B, V)``, so the
same metrics (``course_lib.metrics.ranking_metrics``) apply to both. PAD and UNK score -inf.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.data.vocab import NUM_RESERVED


def item_popularity(next_items: np.ndarray | torch.Tensor, num_items: int) -> torch.Tensor:
    """How often each item is a training target; PAD and UNK get -inf.

    Args:
        next_items: the target item of every training sample, e.g. ``prepared.train.next_item``
            (negatives repeat each target the same number of times, which scales all counts
            alike and leaves the ranking unchanged).
        num_items: the item vocabulary size V (PAD and UNK included).

    Shape:
        next_items: (S,) int; returns (V,) float32.
    """
    items = torch.as_tensor(next_items, dtype=torch.int64)
    if items.numel() and (int(items.min()) < 0 or int(items.max()) >= num_items):
        raise ValueError(
            f"next_items must lie in [0, {num_items}); got values from {int(items.min())} "
            f"to {int(items.max())}"
        )
    counts = torch.bincount(items, minlength=num_items).float()  # (V,)
    counts[:NUM_RESERVED] = -torch.inf
    return counts


class PopularityBaseline:
    """Recommend the best sellers: every user gets the same list, most frequent targets first.

    Captures how unequal item popularity is (in the simulator: item quality, and category
    size). Misses everything personal: the user's interests, their history, the order of it.
    Items never seen as a training target tie at score 0 (see the tie rule of the metrics).
    """

    def __init__(self) -> None:
        self.popularity: torch.Tensor | None = None  # (V,) set by fit

    def fit(self, next_items: np.ndarray | torch.Tensor, num_items: int) -> PopularityBaseline:
        """Count the training targets (see ``item_popularity``); returns ``self``."""
        self.popularity = item_popularity(next_items, num_items)
        return self

    def scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The popularity row for every example, on the batch's device.

        Shape:
            batch["history_item"]: (B, L); returns (B, V) float32.
        """
        if self.popularity is None:
            raise RuntimeError("PopularityBaseline is not fitted: call fit() first")
        history = batch["history_item"]  # (B, L)
        popularity = self.popularity.to(history.device)  # (V,)
        return popularity.expand(history.shape[0], -1).clone()  # (B, V)


class RepeatLastCategoryBaseline:
    """The "users keep browsing the same category" heuristic: the last event's category first.

    Items of the category of the user's last history event are ranked first, by popularity;
    all other items follow, by popularity. The score is
    ``popularity + offset * in_last_category``, with ``offset`` larger than any count.

    Captures the short-term momentum of browsing (the simulator keeps a user in the current
    category with probability ``category_stickiness``) and popularity within a category.
    Misses the user's long-term interests, their taste within a category, and every event but
    the last; a user with an empty history gets plain popularity.
    """

    def __init__(self) -> None:
        self.popularity: torch.Tensor | None = None  # (V,) set by fit
        self.item_category: torch.Tensor | None = None  # (V,) set by fit
        self.offset = 0.0

    def fit(
        self, next_items: np.ndarray | torch.Tensor, item_category: np.ndarray | torch.Tensor
    ) -> RepeatLastCategoryBaseline:
        """Count the training targets and keep the item -> category table; returns ``self``.

        Args:
            next_items: the target item of every training sample (see ``item_popularity``).
            item_category: category index of every item index, e.g. ``prepared.item_category``;
                its length is the item vocabulary size V.

        Shape:
            next_items: (S,); item_category: (V,).
        """
        self.item_category = torch.as_tensor(item_category, dtype=torch.int64)  # (V,)
        self.popularity = item_popularity(next_items, len(self.item_category))  # (V,)
        self.offset = float(self.popularity.clamp(min=0.0).max()) + 1.0  # above any count
        return self

    def scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Popularity, lifted above all others for items in the last event's category.

        Shape:
            batch["history_category"]: (B, L); batch["lengths"]: (B,); returns (B, V) float32.
        """
        if self.popularity is None or self.item_category is None:
            raise RuntimeError("RepeatLastCategoryBaseline is not fitted: call fit() first")
        # One PAD column on the right, so an empty history (length 0) reads PAD as its last
        # category, which no real item has.
        history_category = torch.nn.functional.pad(batch["history_category"], (0, 1))  # (B, L+1)
        device = history_category.device
        last_position = (batch["lengths"].to(device) - 1).clamp(min=0)[:, None]  # (B, 1)
        last_category = history_category.gather(1, last_position)  # (B, 1)
        in_last = self.item_category.to(device)[None, :] == last_category  # (B, V)
        return self.popularity.to(device)[None, :] + self.offset * in_last.float()  # (B, V)
