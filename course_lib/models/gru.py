"""GRU encoder: the LSTM's lighter sibling, one state vector and two gates instead of three.

Taught in notebook 03 next to the LSTM (Cho et al., 2014; GRU4Rec, Hidasi et al., ICLR 2016).
It has three quarters of the LSTM's weights and often matches it on short behavior sequences.
Histories are packed exactly as in ``lstm.py``, so padding never enters the recurrence.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib.models.encoder_base import EncoderOutput, SequenceEncoder


class GRUEncoder(SequenceEncoder):
    """A stacked GRU over packed histories.

    Args:
        input_dim: D, the size of an event's embedding.
        hidden_dim: H, the size of the hidden state.
        num_layers: stacked GRU layers.
        dropout: dropout between stacked layers (none with a single layer, as in ``nn.GRU``).
    """

    def __init__(
        self, input_dim: int, hidden_dim: int, num_layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__(hidden_dim)
        self.gru = nn.GRU(
            input_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,  # it only acts between layers
        )

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Run the GRU over the real events of each history.

        Shape:
            embedded: (B, L, D), lengths: (B,) -> state (B, H), steps (B, L, H)
        """
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        packed_steps, h_n = self.gru(packed)  # h_n: (num_layers, B, H), original order
        steps, _ = pad_packed_sequence(
            packed_steps, batch_first=True, total_length=embedded.shape[1]
        )  # (B, L, H), zero at padding
        return EncoderOutput(state=h_n[-1], steps=steps)  # state: top layer, (B, H)
