"""Matrix factorization: a user vector and an item vector whose dot product scores a click.

Taught in notebook 02 (Koren, Bell & Volinsky, "Matrix Factorization Techniques for
Recommender Systems", IEEE Computer 2009). It ignores the history's order entirely: every user
is one learned vector, which is the baseline the sequence models of notebook 03 improve on.

Loss: binary cross entropy on the click samples, not BPR. The samples already pair each true
next item with uniformly drawn negatives and label them 1 / 0, so BCE reads exactly the samples
(and reports the same AUC and log loss) as the later click models, and MF slots into the same
comparison table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.vocab import PAD
from course_lib.models.embedding import init_embedding_

# Init N(0, 0.1²): the first scores are near 0 (p ≈ 0.5), yet not so small that training
# stalls. At p = q = 0 the gradient of <p, q> is zero in both, so with std 0.01 the factors
# start on that saddle and barely move for many steps.
FACTOR_STD = 0.1


class MatrixFactorization(nn.Module):
    """score(u, i) = <p_u, q_i> + b_u + b_i + b, a click logit.

    Args:
        num_users: size of the user vocabulary, PAD and UNK included.
        num_items: size of the item vocabulary, PAD and UNK included.
        embed_dim: D, the size of the user and item vectors.
    """

    def __init__(self, num_users: int, num_items: int, embed_dim: int) -> None:
        super().__init__()
        self.user = nn.Embedding(num_users, embed_dim, padding_idx=PAD)  # p_u
        self.item = nn.Embedding(num_items, embed_dim, padding_idx=PAD)  # q_i
        self.user_bias = nn.Embedding(num_users, 1, padding_idx=PAD)  # b_u: how clicky a user is
        self.item_bias = nn.Embedding(num_items, 1, padding_idx=PAD)  # b_i: how popular an item
        self.bias = nn.Parameter(torch.zeros(()))  # b: the overall click rate (as a logit)
        init_embedding_(self.user, FACTOR_STD)
        init_embedding_(self.item, FACTOR_STD)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Click logits of (user, candidate) pairs.

        Shape:
            batch["user"], batch["candidate"]: (B,) -> "click": (B,)
        """
        user, item = batch["user"], batch["candidate"]  # (B,), (B,)
        dot = (self.user(user) * self.item(item)).sum(dim=-1)  # (B, D) -> (B,)
        biases = self.user_bias(user).squeeze(-1) + self.item_bias(item).squeeze(-1)  # (B,)
        return {"click": dot + biases + self.bias}  # (B,)

    def loss(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Binary cross entropy of the click logits against ``batch["click"]`` (1 / 0).

        The loss is keyed by task name, like the outputs, so ``train_one_epoch`` trains this
        model exactly as it trains the multi-task models.

        Shape:
            outputs["click"]: (B,), batch["click"]: (B,) -> {"click": scalar}
        """
        logits, labels = outputs["click"], batch["click"].float()
        return {"click": F.binary_cross_entropy_with_logits(logits, labels)}

    @property
    def user_vectors(self) -> torch.Tensor:
        """The user vectors p_u, a detached copy on the CPU; row = user index (0 PAD, 1 UNK).

        Shape:
            (num_users, D)
        """
        return self.user.weight.detach().cpu().clone()

    @property
    def item_vectors(self) -> torch.Tensor:
        """The item vectors q_i, a detached copy on the CPU; row = item index (0 PAD, 1 UNK).

        Shape:
            (num_items, D)
        """
        return self.item.weight.detach().cpu().clone()
