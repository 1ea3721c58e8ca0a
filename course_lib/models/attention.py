"""Self-attention encoder: each step attends to every earlier event, near or far.

Taught in notebook 03, after the LSTM. This is SASRec (Kang & McAuley, "Self-Attentive
Sequential Recommendation", ICDM 2018): a Transformer encoder over the history with a causal
mask, so the state after event t is built from events 0..t only.

Positions: histories are right-padded, so position index = step index (0 .. L - 1), counted
from the oldest event kept in the history. The same position therefore means "the i-th oldest
kept event", not "i events ago"; that is what SASRec does, and causality plus right padding
make real steps independent of how much padding follows them.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.encoder_base import (
    EncoderOutput,
    SequenceEncoder,
    last_real_step,
    real_steps,
)


class SelfAttentionEncoder(SequenceEncoder):
    """Causal Transformer encoder (pre-norm) with learned positional embeddings.

    Args:
        input_dim: D, the size of an event's embedding.
        hidden_dim: H, the model width; must be divisible by ``num_heads``.
        num_heads: attention heads per layer.
        num_layers: Transformer layers.
        dropout: dropout on the inputs, the attention weights and the feed-forward block.
        max_len: the longest history it accepts (one positional embedding per position).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        num_heads: int = 2,
        num_layers: int = 1,
        dropout: float = 0.0,
        max_len: int = 200,
    ) -> None:
        super().__init__(hidden_dim)
        self.max_len = max_len
        self.input_proj = nn.Linear(input_dim, hidden_dim)
        self.position = nn.Embedding(max_len, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden_dim,
            num_heads,
            dim_feedforward=4 * hidden_dim,  # torch's default of 2048 is far too wide here
            dropout=dropout,
            batch_first=True,
            norm_first=True,  # pre-norm trains stably without a learning-rate warm-up
        )
        # nested tensors do not support pre-norm layers; saying so up front avoids a warning
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(hidden_dim)  # pre-norm leaves the last output unnormed

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Attend causally over each history.

        Shape:
            embedded: (B, L, D), lengths: (B,) -> state (B, H), steps (B, L, H)
        """
        seq_len = embedded.shape[1]
        if seq_len > self.max_len:
            raise ValueError(
                f"histories of {seq_len} steps exceed max_len={self.max_len}; build the "
                f"encoder with a larger max_len or the dataset with a smaller one"
            )
        positions = torch.arange(seq_len, device=embedded.device)  # (L,)
        x = self.dropout(self.input_proj(embedded) + self.position(positions))  # (B, L, H)
        # bool masks, True = may NOT attend. Causal: step t sees keys <= t. Padding: no query
        # sees a padding key. A query row is never fully masked, since key 0 is always real
        # (lengths >= 1), so softmax never returns NaN, even at padding queries.
        causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=x.device).triu(1)  # (L, L)
        mask = real_steps(lengths, seq_len)  # (B, L)
        x = self.layers(x, mask=causal, src_key_padding_mask=~mask)  # (B, L, H)
        steps = self.final_norm(x) * mask.unsqueeze(-1)  # (B, L, H), zero at padding
        return EncoderOutput(state=last_real_step(steps, lengths), steps=steps)
