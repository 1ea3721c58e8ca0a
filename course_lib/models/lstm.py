"""LSTM encoder: the user state is carried step by step through a recurrent cell.

Taught in notebook 03, the course's main sequence encoder (Hochreiter & Schmidhuber 1997; over
session histories as in GRU4Rec, Hidasi et al., ICLR 2016). Histories are packed before the LSTM
reads them (``pack_padded_sequence``), so padding never enters the recurrence: the final state
of a short history is the state after its own last event, not after a run of padding.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib.models.encoder_base import EncoderOutput, SequenceEncoder


class LSTMEncoder(SequenceEncoder):
    """A stacked LSTM over packed histories.

    Args:
        input_dim: D, the size of an event's embedding.
        hidden_dim: H, the size of the hidden state.
        num_layers: stacked LSTM layers.
        dropout: dropout between stacked layers (none with a single layer, as in ``nn.LSTM``).
    """

    def __init__(
        self, input_dim: int, hidden_dim: int, num_layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__(hidden_dim)
        self.lstm = nn.LSTM(
            input_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            # nn.LSTM warns when given dropout with one layer: it only acts between layers
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Run the LSTM over the real events of each history.

        Shape:
            embedded: (B, L, D), lengths: (B,) -> state (B, H), steps (B, L, H)
        """
        # packing needs the lengths on the CPU; enforce_sorted=False sorts and unsorts for us
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        packed_steps, (h_n, _) = self.lstm(packed)  # h_n: (num_layers, B, H), original order
        steps, _ = pad_packed_sequence(
            packed_steps, batch_first=True, total_length=embedded.shape[1]
        )  # (B, L, H), zero at padding
        return EncoderOutput(state=h_n[-1], steps=steps)  # state: top layer, (B, H)
