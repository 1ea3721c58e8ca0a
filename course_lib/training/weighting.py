"""Combining the tasks' losses into one number to minimise (notebooks 05 and 06).

A multi-task model has one loss per task; the optimizer needs one scalar. *How* the losses are
combined is a ``TaskWeighting`` object the trainer receives, never a string switch inside it:
fixed weights here; uncertainty weighting, GradNorm or DWA later, as further subclasses that
a learner can write and pass to ``fit`` without touching the trainer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from course_lib.tasks import Batch, Task


class TaskWeighting(nn.Module):
    """Base class of the loss-combination rules: ``combine(losses) -> total``.

    It is an ``nn.Module`` so that rules with learnable weights (uncertainty weighting keeps a
    log-variance per task) hold them as parameters: ``fit`` moves the weighting to the device
    and optimises its parameters together with the model's. Rules without any, such as
    ``FixedWeights``, simply have none.
    """

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """Combine the per-task losses into the scalar to minimise.

        Args:
            losses: each task's mean loss on the batch, keyed by task name.
        """
        raise NotImplementedError


class FixedWeights(TaskWeighting):
    """A weighted sum with constant weights: ``total = sum_t weights[t] * losses[t]``.

    Args:
        weights: the weight of every task, keyed by task name.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        self.weights = {name: float(weight) for name, weight in weights.items()}

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the losses; every task must have a weight."""
        missing = sorted(losses.keys() - self.weights.keys())
        if missing:
            raise KeyError(
                f"FixedWeights has no weight for tasks {missing}; it has {self.weights}"
            )
        return sum(self.weights[name] * loss for name, loss in losses.items())

    def extra_repr(self) -> str:
        return f"weights={self.weights}"


class MultiTaskLoss:
    """Every task's loss on a batch, and their combination by a ``TaskWeighting``.

    Args:
        tasks: the declared tasks; each reads its output from the model's dict by name.
        weighting: how to combine the losses; None: ``FixedWeights`` from each ``Task.weight``.

    Example::

        loss_fn = MultiTaskLoss(tasks)
        total, losses = loss_fn(model(batch), batch)  # losses: {"click": ..., "buy": ...}
    """

    def __init__(self, tasks: Sequence[Task], weighting: TaskWeighting | None = None) -> None:
        self.tasks = list(tasks)
        self.weighting = weighting or FixedWeights({task.name: task.weight for task in tasks})

    def __call__(
        self, outputs: dict[str, torch.Tensor], batch: Batch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The combined loss and each task's own loss (both keep their graphs).

        Shape:
            outputs: {name: (B,) or (B, K)} -> total: scalar, losses: {name: scalar}
        """
        missing = [task.name for task in self.tasks if task.name not in outputs]
        if missing:
            raise KeyError(
                f"the model returned no output for tasks {missing}; it returned "
                f"{sorted(outputs)}. Build the model with the same tasks"
            )
        losses = {task.name: task.loss(outputs[task.name], batch) for task in self.tasks}
        return self.weighting.combine(losses), losses
