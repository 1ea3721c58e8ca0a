"""Next-item prediction: embed the history, encode it, score every item of the catalogue.

Taught in notebook 03. The model is embedding -> sequence encoder -> one softmax over all
items, the set-up of GRU4Rec and SASRec. The encoder is built by the caller and passed in, so a
notebook compares mean pooling, LSTM, GRU, CNN and self-attention with the rest held fixed.

With ``tie_weights`` the output layer reuses the input embeddings (Press & Wolf, EACL 2017):
an item's score is the dot product of the projected user state with the item's own
item + category vector, plus a per-item bias for popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.vocab import NUM_RESERVED
from course_lib.models.embedding import BehaviorEmbedding
from course_lib.models.encoder_base import SequenceEncoder


@dataclass
class NextItemConfig:
    """Sizes of a ``NextItemModel``; vocabulary sizes include PAD and UNK."""

    num_items: int  # V, also the number of logits
    num_categories: int
    num_behaviors: int
    embed_dim: int = 64  # D: must equal the encoder's input_dim
    hidden_dim: int = 64  # H: must equal the encoder's output_dim
    tie_weights: bool = True  # score items against their input embeddings (fewer weights)


class NextItemModel(nn.Module):
    """Embedding, a sequence encoder and a softmax head over every item.

    Args:
        config: the sizes.
        encoder: any ``SequenceEncoder`` with ``input_dim = embed_dim`` and
            ``output_dim = hidden_dim``.
        item_category: the category index of every item index (``item_category_table``),
            kept as a buffer so it moves with the model and is saved in its state dict.
    """

    def __init__(
        self, config: NextItemConfig, encoder: SequenceEncoder, item_category: torch.Tensor
    ) -> None:
        super().__init__()
        if encoder.output_dim != config.hidden_dim:
            raise ValueError(
                f"encoder.output_dim={encoder.output_dim} but config.hidden_dim="
                f"{config.hidden_dim}; build the encoder with hidden_dim={config.hidden_dim}"
            )
        item_category = torch.as_tensor(item_category, dtype=torch.long)
        if item_category.shape != (config.num_items,):
            raise ValueError(
                f"item_category must have one entry per item, shape ({config.num_items},); "
                f"got {tuple(item_category.shape)}"
            )
        self.config = config
        self.embedding = BehaviorEmbedding(
            config.num_items, config.num_categories, config.num_behaviors, config.embed_dim
        )
        self.encoder = encoder
        if config.tie_weights:
            self.project = nn.Linear(config.hidden_dim, config.embed_dim)  # state -> item space
            self.item_bias = nn.Parameter(torch.zeros(config.num_items))
        else:
            self.output = nn.Linear(config.hidden_dim, config.num_items)
        self.register_buffer("item_category", item_category)
        # PAD and UNK are never valid next items: their logits are masked out
        reserved = torch.arange(config.num_items) < NUM_RESERVED  # (V,)
        self.register_buffer("reserved_items", reserved, persistent=False)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Score every item as the next one of each history.

        Returns:
            ``{"next_item": logits}``; the PAD and UNK columns hold the dtype's most negative
            value, so they get zero probability and are never the argmax.

        Shape:
            batch["history_*"]: (B, L), batch["lengths"]: (B,) -> "next_item": (B, V)
        """
        embedded = self.embedding(
            batch["history_item"], batch["history_category"], batch["history_behavior"]
        )  # (B, L, D)
        state = self.encoder(embedded, batch["lengths"]).state  # (B, H)
        if self.config.tie_weights:
            catalogue = self.embedding.all_items(self.item_category)  # (V, D)
            logits = self.project(state) @ catalogue.T + self.item_bias  # (B, V)
        else:
            logits = self.output(state)  # (B, V)
        logits = logits.masked_fill(self.reserved_items, torch.finfo(logits.dtype).min)
        return {"next_item": logits}

    def loss(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Full-softmax cross entropy of the true next item, averaged over valid targets.

        Targets that are PAD or UNK (an item too rare for the vocabulary) cannot be predicted
        and are left out of the average; a batch without any valid target gives 0, not NaN.
        The loss is keyed by task name, like the outputs, so ``train_one_epoch`` trains this
        model exactly as it trains the multi-task models.

        Shape:
            outputs["next_item"]: (B, V), batch["next_item"]: (B,) -> {"next_item": scalar}
        """
        targets = batch["next_item"]  # (B,)
        valid = targets >= NUM_RESERVED  # (B,)
        ignore = -100  # cross_entropy's ignore_index: these rows add 0 to the sum
        summed = F.cross_entropy(
            outputs["next_item"],
            targets.masked_fill(~valid, ignore),
            ignore_index=ignore,
            reduction="sum",
        )
        return {"next_item": summed / valid.sum().clamp(min=1)}

    @torch.no_grad()
    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Probability of every item being the next one (call ``model.eval()`` first).

        Shape:
            batch -> (B, V), rows sum to 1
        """
        return self.forward(batch)["next_item"].softmax(dim=-1)  # (B, V)
