"""Per-task learning rates: each task's tower and head get their own step size (notebook 05).

The simplest remedy for a rare task whose parameters learn too slowly: the losses are summed as
they are, but the optimizer moves the parameters that belong to one task alone (its tower and
head, see ``split_parameters``) with ``lr * multiplier``. Unlike a loss weight, this leaves the
shared layers' gradient untouched, so the rare task cannot disturb the others through them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from course_lib.training.parameters import split_parameters
from course_lib.training.weighting import TaskWeighting


class PerTaskLearningRates(TaskWeighting):
    """Summed losses; each task's own parameters at ``lr * multipliers[task]``.

    Args:
        multipliers: learning-rate multiplier of each task's own parameters; tasks left out,
            and the shared parameters, keep the base learning rate.

    Example::

        fit(model, tasks, train, valid, weighting=PerTaskLearningRates({"buy": 3.0}))
    """

    def __init__(self, multipliers: Mapping[str, float]) -> None:
        super().__init__()
        self.multipliers = {name: float(value) for name, value in multipliers.items()}
        if any(value <= 0 for value in self.multipliers.values()):
            raise ValueError(f"learning-rate multipliers must be positive: {self.multipliers}")

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The plain sum of the losses."""
        return sum(losses.values())

    def parameter_groups(self, model: nn.Module, lr: float) -> list[dict]:
        """One group for the shared parameters and one per task, at its multiplied rate."""
        shared, own = split_parameters(model, list(self.multipliers))
        empty = [name for name, params in own.items() if not params]
        if empty:
            raise ValueError(
                f"the model has no parameters of its own for tasks {empty}: per-task learning "
                "rates need task towers or heads kept in an nn.ModuleDict under the task's name"
            )
        groups = [{"params": shared, "lr": lr}]
        groups += [{"params": own[name], "lr": lr * m} for name, m in self.multipliers.items()]
        return groups

    def weights(self) -> dict[str, float]:
        """The learning-rate multipliers (the loss weights are all 1)."""
        return dict(self.multipliers)

    def extra_repr(self) -> str:
        return f"multipliers={self.multipliers}"
