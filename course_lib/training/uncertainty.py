"""Uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018), taught in notebook 05.

Each task t gets a learnable log-variance ``s_t`` and the combined loss is
``sum_t exp(-s_t) * L_t + s_t``. The first term down-weights a task the model is uncertain
about; the second stops every ``s_t`` from growing without bound. Setting the derivative in
``s_t`` to zero gives ``exp(-s_t) = 1 / L_t``: at equilibrium each task's weight is the inverse
of its loss scale, so every weighted loss is about 1 and no task dominates by its units alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.training.weighting import TaskWeighting


class UncertaintyWeighting(TaskWeighting):
    """Learned weights ``exp(-s_t)`` with the regulariser ``s_t``.

    Args:
        task_names: the tasks, in any order; each gets one log-variance, starting at 0
            (weight 1).
        lr: learning rate of the log-variances; None: the model's. The weights move by about
            ``lr`` in log space per step with Adam, so a larger rate settles them sooner.
    """

    def __init__(self, task_names: Sequence[str], lr: float | None = 0.01) -> None:
        super().__init__()
        self.names = list(task_names)
        self.log_variances = nn.Parameter(torch.zeros(len(self.names)))
        self.lr = lr

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """``sum_t exp(-s_t) * L_t + s_t``."""
        stacked = torch.stack([losses[name].float() for name in self.names])  # (T,)
        return (torch.exp(-self.log_variances) * stacked + self.log_variances).sum()

    def parameter_groups(self, model: nn.Module, lr: float) -> list[dict]:
        """The model at ``lr``, the log-variances at their own rate and without weight decay."""
        own = {"params": [self.log_variances], "lr": self.lr or lr, "weight_decay": 0.0}
        return [{"params": list(model.parameters()), "lr": lr}, own]

    def weights(self) -> dict[str, float]:
        """The current weights ``exp(-s_t)``."""
        values = torch.exp(-self.log_variances.detach()).tolist()
        return dict(zip(self.names, values, strict=True))
