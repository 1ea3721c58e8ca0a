"""The one interface every sequence encoder follows, and two helpers they share.

Taught in notebook 03 (sequence encoders). An encoder reads the embedded events of a batch of
right-padded histories and returns the user's state after every step. The models never look
inside an encoder, so a notebook can swap mean pooling, an LSTM, a GRU, a CNN or
self-attention without touching anything else.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
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
    """Base class of the encoders: ``output_dim``, ``empty_state`` and ``encode``.

    Subclasses call ``super().__init__(hidden_dim)`` and implement ``encode`` for histories of
    at least one event. Histories are right-padded: the real events of row b are
    ``embedded[b, :lengths[b]]``, oldest first.

    A history may also be empty: a user's first event has nothing before it. Such a user gets
    ``empty_state``, a vector learned like any weight (zero at the start, so a model that never
    sees an empty history trains exactly as without it), and no steps.

    Args:
        output_dim: H, the size of the state the encoder returns.
    """

    def __init__(self, output_dim: int) -> None:
        super().__init__()
        self.output_dim = output_dim
        self.empty_state = nn.Parameter(torch.zeros(output_dim))  # (H,)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Encode a batch of histories, empty ones included.

        Args:
            embedded: the embedded events, right-padded.
            lengths: the number of real events of each history, 0 for an empty one.

        Shape:
            embedded: (B, L, D) float, lengths: (B,) int64 -> state (B, H), steps (B, L, H)
        """
        seq_len = embedded.shape[1]
        empty = (lengths == 0).to(embedded.device)  # (B,)
        # an empty history is read as one event of padding, whose output is then replaced
        # (a batch of empty histories only has no column to read: it gets one)
        readable = F.pad(embedded, (0, 0, 0, 1)) if seq_len == 0 else embedded  # (B, >=1, D)
        output = self.encode(readable, lengths.clamp(min=1))
        # torch.where keeps empty_state in the graph for every batch (a zero gradient when no
        # history is empty), which DistributedDataParallel requires of every parameter
        empty_state = self.empty_state.to(output.state.dtype).expand_as(output.state)
        state = torch.where(empty[:, None], empty_state, output.state)  # (B, H)
        steps = output.steps[:, :seq_len].masked_fill(empty[:, None, None], 0.0)  # (B, L, H)
        return EncoderOutput(state=state, steps=steps)

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Encode histories of at least one event each; subclasses implement this.

        Shape:
            embedded: (B, L, D), lengths: (B,), each >= 1 -> state (B, H), steps (B, L, H)
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
