"""The input module for side features: who the user is and what the item is (notebook 07).

Every multi-task architecture reads side features the same way, through this one module:

- an item feature (a genre, a price) is embedded to D and added to the item's vector wherever
  an item is embedded: each history event, the candidate, and the catalogue that a ranking
  head scores, just as the category already is;
- a user feature (the id, an age group) is embedded to H and added to the user state the
  encoder read from the history: the state says what the user did, the features who they are.

A categorical feature is an ``nn.Embedding``, a multi-valued one the mean of its values'
embeddings, a numeric one a learned direction scaled by the (standardised) number. Every PAD
row gives the zero vector, so padding stays zero; every UNK row starts at zero, so a value
never seen in training (a cold-start user's id) adds nothing. The feature tables
(``data.SideFeatures``) are buffers: they move with the model to its device and are saved in
its checkpoint, so a model looks features up from the user and item indices every batch
carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.data.features import SideFeatures
from course_lib.data.vocab import PAD, UNK
from course_lib.models.embedding import init_embedding_


@dataclass(frozen=True)
class FeatureSpec:
    """The sizes a model needs for one side feature; ``feature_specs`` reads them from data."""

    name: str
    source: str  # "user" or "item": the index that looks the feature up
    kind: str  # "categorical", "multi" or "numeric"
    num_rows: int  # the user or item vocabulary's size: the table's rows
    num_codes: int = 1  # the feature's vocabulary (PAD and UNK included); 1 for numeric
    width: int = 1  # multi: the most values of one item; 1 otherwise


def feature_specs(side_features: SideFeatures) -> tuple[FeatureSpec, ...]:
    """The `FeatureSpec` of every feature of encoded side features, in declaration order."""
    specs = []
    for feature in side_features.features:
        table = side_features.tables[feature.name]
        vocabulary = side_features.vocabularies.get(feature.name)
        num_codes = len(vocabulary) if vocabulary is not None else 1
        if feature.is_user_id:
            num_codes = len(table)  # the user vocabulary itself
        width = table.shape[1] if table.ndim == 2 else 1
        specs.append(
            FeatureSpec(feature.name, feature.source, feature.kind, len(table), num_codes, width)
        )
    return tuple(specs)


class SideFeatureEmbedding(nn.Module):
    """One embedding per side feature, summed per user and per item (see the module doc).

    Args:
        specs: the features' sizes.
        item_dim: D, the size of item vectors (the behavior embedding's).
        user_dim: H, the size of the user state (the encoder's output).
    """

    def __init__(self, specs: tuple[FeatureSpec, ...], item_dim: int, user_dim: int) -> None:
        super().__init__()
        self.specs = tuple(specs)
        self.embeddings = nn.ModuleDict()
        for spec in self.specs:
            dim = user_dim if spec.source == "user" else item_dim
            numeric = spec.kind == "numeric"
            shape = (spec.num_rows, spec.width) if spec.kind == "multi" else (spec.num_rows,)
            dtype = torch.float32 if numeric else torch.long
            self.register_buffer(self.table_name(spec.name), torch.zeros(shape, dtype=dtype))
            if numeric:  # no bias: a missing number (0, the mean) adds nothing
                self.embeddings[spec.name] = nn.Linear(1, dim, bias=False)
            else:
                table = nn.Embedding(spec.num_codes, dim, padding_idx=PAD)
                init_embedding_(table)
                with torch.no_grad():  # an unknown value starts as no information
                    table.weight[UNK].zero_()
                self.embeddings[spec.name] = table

    @staticmethod
    def table_name(name: str) -> str:
        """The buffer holding feature ``name``'s table."""
        return f"table_{name}"

    @torch.no_grad()
    def set_tables(self, side_features: SideFeatures) -> None:
        """Copy the encoded tables in; their shapes must be the specs'."""
        for spec in self.specs:
            buffer = getattr(self, self.table_name(spec.name))
            table = torch.as_tensor(side_features.tables[spec.name], dtype=buffer.dtype)
            if table.shape != buffer.shape:
                raise ValueError(
                    f"side feature {spec.name!r}: table of shape {tuple(table.shape)}, the "
                    f"model was built for {tuple(buffer.shape)}"
                )
            buffer.copy_(table)

    def has(self, source: str) -> bool:
        """Whether any feature is looked up by ``source`` ("user" or "item")."""
        return any(spec.source == source for spec in self.specs)

    def users(self, user: torch.Tensor) -> torch.Tensor | float:
        """The sum of the user features' vectors; zero if there are none.

        Shape:
            user: (B,) user indices -> (B, H)
        """
        return self._sum("user", user)

    def items(self, item: torch.Tensor) -> torch.Tensor | float:
        """The sum of the item features' vectors; zero at PAD and if there are none.

        Shape:
            item: (...) item indices -> (..., D)
        """
        return self._sum("item", item)

    def _sum(self, source: str, index: torch.Tensor) -> torch.Tensor | float:
        total: torch.Tensor | float = 0.0
        for spec in self.specs:
            if spec.source == source:
                total = total + self._embed(spec, index)
        return total

    def _embed(self, spec: FeatureSpec, index: torch.Tensor) -> torch.Tensor:
        """One feature's vectors for the indices. Shape: (...) -> (..., dim)"""
        values = getattr(self, self.table_name(spec.name))[index]  # (...) or (..., W)
        embedding = self.embeddings[spec.name]
        if spec.kind == "numeric":
            return embedding(values[..., None])  # (..., dim): the number times a direction
        vectors = embedding(values)  # (..., dim) or (..., W, dim)
        if spec.kind == "categorical":
            return vectors
        count = (values != PAD).sum(-1, keepdim=True).clamp(min=1)  # (..., 1) values per item
        return vectors.sum(-2) / count  # (..., dim): the mean of the item's values
