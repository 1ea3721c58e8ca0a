"""Causal CNN encoder: each step sees a short window of the most recent events.

Taught in notebook 03. A stack of causal 1-D convolutions over the sequence, in the spirit of
NextItNet (Yuan et al., WSDM 2019; without its dilations). Causal means the sequence is padded
on the left only, so the output at step t is computed from steps <= t and never peeks at the
future. Each layer widens the view by ``kernel_size - 1`` events: the last state summarises
the ``num_layers * (kernel_size - 1) + 1`` most recent events, nothing older.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.encoder_base import (
    EncoderOutput,
    SequenceEncoder,
    last_real_step,
    real_steps,
)


class CNNEncoder(SequenceEncoder):
    """Stacked causal convolutions with ReLU, residual where input and output sizes match.

    Args:
        input_dim: D, the size of an event's embedding.
        hidden_dim: H, the number of channels of every layer.
        kernel_size: events each convolution looks at (the current one and k - 1 before).
        num_layers: stacked convolutions.
        dropout: dropout after each layer.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        kernel_size: int = 3,
        num_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(hidden_dim)
        self.kernel_size = kernel_size
        self.convs = nn.ModuleList(
            nn.Conv1d(input_dim if i == 0 else hidden_dim, hidden_dim, kernel_size)
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    @property
    def receptive_field(self) -> int:
        """How many of the most recent events the last state can see: older ones cannot matter."""
        return len(self.convs) * (self.kernel_size - 1) + 1

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Convolve over time, causally, layer by layer.

        Shape:
            embedded: (B, L, D), lengths: (B,) -> state (B, H), steps (B, L, H)
        """
        mask = real_steps(lengths, embedded.shape[1]).unsqueeze(-1)  # (B, L, 1)
        x = embedded  # (B, L, D)
        for conv in self.convs:
            # zero the padding so no layer ever reads garbage from it
            inputs = (x * mask).transpose(1, 2)  # (B, D or H, L): Conv1d wants channels first
            inputs = F.pad(inputs, (self.kernel_size - 1, 0))  # (B, ., L + k - 1), left only
            h = self.dropout(F.relu(conv(inputs))).transpose(1, 2)  # (B, L, H)
            # a residual path helps deeper stacks train; it needs equal sizes
            x = h + x if h.shape == x.shape else h  # (B, L, H)
        steps = x * mask  # (B, L, H)
        return EncoderOutput(state=last_real_step(steps, lengths), steps=steps)
