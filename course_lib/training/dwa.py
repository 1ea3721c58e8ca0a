"""Dynamic weight average (Liu, Johns and Davison, CVPR 2019), taught in notebook 05.

A task whose loss has stopped falling deserves more weight. DWA compares each task's mean loss
over the last two periods, ``r_t = L_t(k-1) / L_t(k-2)``, and sets
``w_t = T * softmax(r / temperature)_t``: the task that improves slowest (largest ratio) gets
the largest weight; the weights always sum to the number of tasks T. It needs nothing but the
loss values, so it costs no extra backward pass. The paper's period is an epoch; here it is a
number of steps, since the course's epochs are short and of any length.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.training.weighting import Scale, VectorWeights


class DynamicWeightAverage(VectorWeights):
    """Weights from the ratio of each task's last two period-mean losses.

    Args:
        task_names: the tasks; all weights start at 1.
        temperature: softens the softmax; large values give equal weights (the paper uses 2).
        period: training steps per period; the weights change at the end of each period,
            from the second one on.
    """

    def __init__(
        self, task_names: Sequence[str], temperature: float = 2.0, period: int = 20
    ) -> None:
        super().__init__(task_names)
        if temperature <= 0 or period < 1:
            raise ValueError(f"need temperature > 0 and period >= 1; got {temperature}, {period}")
        self.temperature, self.period = temperature, period
        T = len(self.names)
        self.register_buffer("loss_sums", torch.zeros(T))  # of the current period
        self.register_buffer("period_means", torch.zeros(2, T))  # [before last, last]
        self.steps, self.periods = 0, 0  # in the current period; completed periods

    def backward(
        self,
        losses: dict[str, torch.Tensor],
        shared: Sequence[nn.Parameter],
        others: Sequence[nn.Parameter],
        scale: Scale | None = None,
    ) -> torch.Tensor:
        """The weighted sum's backward pass; records the losses and updates the weights."""
        total = super().backward(losses, shared, others, scale)
        self.record(torch.stack([losses[name].detach().float() for name in self.names]))
        return total

    @torch.no_grad()
    def record(self, losses: torch.Tensor) -> None:
        """Add one step's losses (T,); at the end of a period, update the weights."""
        self.loss_sums += losses
        self.steps += 1
        if self.steps < self.period:
            return
        self.period_means = torch.stack([self.period_means[1], self.loss_sums / self.steps])
        self.loss_sums.zero_()
        self.steps, self.periods = 0, self.periods + 1
        if self.periods >= 2:
            ratio = self.period_means[1] / self.period_means[0].clamp(min=1e-12)
            self.task_weights = len(self.names) * (ratio / self.temperature).softmax(dim=0)
