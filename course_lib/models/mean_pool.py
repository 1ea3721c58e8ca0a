"""Mean pooling: the user is the average of the events they touched (order ignored).

Taught in notebook 03 as the baseline every sequence encoder must beat; it is the "average the
watch history" tower of YouTube's recommender (Covington et al., RecSys 2016). Averaging forgets
order, so it cannot tell "phone then case" from "case then phone".
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


class MeanPoolEncoder(SequenceEncoder):
    """Mean of the real events' embeddings, then a Linear(D, H) and a tanh.

    The projection gives it the same output size H as the other encoders, and tanh keeps the
    state in (-1, 1) like an LSTM's, so the heads see the same scale whichever encoder runs.
    ``steps[:, t]`` is the running mean of events 0..t, projected: the state "so far".

    Args:
        input_dim: D, the size of an event's embedding.
        hidden_dim: H, the size of the user state.
    """

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__(hidden_dim)
        self.project = nn.Linear(input_dim, hidden_dim)

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Running means of the real events, projected.

        Shape:
            embedded: (B, L, D), lengths: (B,) -> state (B, H), steps (B, L, H)
        """
        mask = real_steps(lengths, embedded.shape[1]).unsqueeze(-1)  # (B, L, 1)
        running_sum = (embedded * mask).cumsum(dim=1)  # (B, L, D); padding adds nothing
        # at a real step t exactly t + 1 events have been summed
        count = torch.arange(1, embedded.shape[1] + 1, device=embedded.device)  # (L,)
        running_mean = running_sum / count[:, None]  # (B, L, D)
        steps = torch.tanh(self.project(running_mean)) * mask  # (B, L, H)
        return EncoderOutput(state=last_real_step(steps, lengths), steps=steps)
