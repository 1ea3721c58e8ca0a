"""The one interface every sequence encoder follows, and two helpers they share.

Taught in notebook 03 (sequence encoders). An encoder reads the embedded events of a batch of
right-padded histories and returns the user's state after every step. The models never look
inside an encoder, so a notebook can swap mean pooling, an LSTM, a GRU, a CNN or
self-attention without touching anything else.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class EncoderOutput(NamedTuple):
    """What an encoder returns.

    Attributes:
        state: (B, H) the user's state after the last real event of each history.
        steps: (B, L, H) the state after each step; zero at padding positions.
    """

    state: torch.Tensor
    steps: torch.Tensor


class SequenceEncoder(nn.Module):
    """Base class of the encoders: ``output_dim`` and ``forward(embedded, lengths)``.

    Subclasses set ``self.output_dim`` (H) in ``__init__`` and implement ``forward``. Histories
    are right-padded: the real events of row b are ``embedded[b, :lengths[b]]``, oldest first.
    """

    output_dim: int

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Encode a batch of histories.

        Args:
            embedded: the embedded events, right-padded.
            lengths: the number of real events of each history, at least 1.

        Shape:
            embedded: (B, L, D) float, lengths: (B,) int64 -> state (B, H), steps (B, L, H)
        """
        raise NotImplementedError


def real_steps(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """True at the real events of right-padded histories (the batch's ``mask``).

    Shape:
        lengths: (B,) -> (B, L)
    """
    positions = torch.arange(seq_len, device=lengths.device)  # (L,)
    return positions < lengths[:, None]  # (B, L)


def last_real_step(steps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The state after each history's last real event: ``steps[b, lengths[b] - 1]``.

    Shape:
        steps: (B, L, H), lengths: (B,) -> (B, H)
    """
    rows = torch.arange(len(steps), device=steps.device)  # (B,)
    return steps[rows, lengths.to(steps.device) - 1]  # (B, H)
