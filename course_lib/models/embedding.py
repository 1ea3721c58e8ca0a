"""Behavior embeddings: one table per feature of an event, summed into one vector per event.

Taught in notebook 02 (from one-hot vectors to ``nn.Embedding``). An event of a history is an
(item, category, behavior) triple; each feature has its own table and the three rows are added.

Why a sum rather than a concatenation:
- the event vector keeps the size D however many features are added later (a price bucket,
  a time gap), so nothing downstream changes shape;
- every table keeps its PAD row at zero, so a padding event sums to the zero vector;
- item + category is also the natural *output* embedding of an item: the next-item head scores
  the whole catalogue against it (weight tying), and an item seen rarely still borrows the
  vector of its category.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.data.vocab import PAD

INIT_STD = 0.1  # small rows: the first dot products are near 0, so training starts near uniform


def init_embedding_(table: nn.Embedding, std: float = INIT_STD) -> None:
    """Fill an embedding table from N(0, std²), keeping its padding row at zero."""
    nn.init.normal_(table.weight, std=std)
    if table.padding_idx is not None:
        with torch.no_grad():
            table.weight[table.padding_idx].zero_()


class BehaviorEmbedding(nn.Module):
    """Item, category and behavior embeddings, combined by a sum.

    Args:
        num_items: size of the item vocabulary, PAD and UNK included.
        num_categories: size of the category vocabulary, PAD and UNK included.
        num_behaviors: size of the behavior vocabulary, PAD and UNK included.
        embed_dim: D, the size of every vector.
    """

    def __init__(
        self, num_items: int, num_categories: int, num_behaviors: int, embed_dim: int
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        # padding_idx: row 0 starts at zero and never receives a gradient, so it stays zero
        self.item = nn.Embedding(num_items, embed_dim, padding_idx=PAD)
        self.category = nn.Embedding(num_categories, embed_dim, padding_idx=PAD)
        self.behavior = nn.Embedding(num_behaviors, embed_dim, padding_idx=PAD)
        for table in (self.item, self.category, self.behavior):
            init_embedding_(table)

    def forward(
        self,
        history_item: torch.Tensor,
        history_category: torch.Tensor,
        history_behavior: torch.Tensor,
    ) -> torch.Tensor:
        """Embed every event of a batch of histories.

        Returns:
            One vector per event; zero at padding positions.

        Shape:
            history_*: (B, L) int64 -> (B, L, D)
        """
        return (
            self.item(history_item)  # (B, L, D)
            + self.category(history_category)  # (B, L, D)
            + self.behavior(history_behavior)  # (B, L, D)
        )

    def items(self, item: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Embed items on their own (candidates, targets): item + category, no behavior.

        Shape:
            item, category: (...) int64 -> (..., D)
        """
        return self.item(item) + self.category(category)  # (..., D)

    def all_items(self, item_category: torch.Tensor) -> torch.Tensor:
        """The item + category vector of every item index: the catalogue, for tied weights.

        Args:
            item_category: the category index of every item index (``item_category_table``);
                it maps PAD to PAD, so row 0 of the result is zero.

        Shape:
            item_category: (V,) int64 -> (V, D)
        """
        items = torch.arange(len(item_category), device=item_category.device)  # (V,)
        return self.items(items, item_category)  # (V, D)
