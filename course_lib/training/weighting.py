"""Combining the tasks' losses into one update of the shared model (notebooks 04 and 05).

A multi-task model has one loss per task; the optimizer needs one gradient. *How* the tasks
are balanced is a ``TaskWeighting`` object the trainer receives, never a string switch inside
it. The trainer calls three methods, and a learner can write a new rule by overriding them:

- ``parameter_groups(model, lr)``: the optimizer's parameter groups (per-task learning rates
  give each task's tower its own group);
- ``backward(losses, shared, others, scale)``: fill the parameters' ``.grad``. The default
  backpropagates ``combine(losses)``; GradNorm and PCGrad work on the tasks' separate gradients
  on the shared parameters instead;
- ``weights()``: the current weight of each task, recorded in the training history.

The rules live in their own files: ``FixedWeights`` (and ``VectorWeights``, the base of the
rules that update a weight per task) here, ``PerTaskLearningRates``,
``UncertaintyWeighting``, ``GradNorm``, ``DynamicWeightAverage`` and ``PCGrad`` beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from course_lib.tasks import Batch, Task
from course_lib.training.diagnostics import Scale


class TaskWeighting(nn.Module):
    """Base class of the task-balancing rules.

    It is an ``nn.Module`` so that rules with learnable weights (uncertainty weighting keeps a
    log-variance per task) hold them as parameters and rules with state (GradNorm's weights,
    DWA's loss history) hold it as buffers: ``fit`` moves the weighting to the device and
    optimises its parameters together with the model's.
    """

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """Combine the per-task losses into the scalar to minimise.

        Args:
            losses: each task's mean loss on the batch, keyed by task name.
        """
        raise NotImplementedError

    def backward(
        self,
        losses: dict[str, torch.Tensor],
        shared: Sequence[nn.Parameter],
        others: Sequence[nn.Parameter],
        scale: Scale | None = None,
    ) -> torch.Tensor:
        """Accumulate the gradients of one training step into ``.grad``; return the total loss.

        Args:
            losses: each task's loss on the batch, with its graph.
            shared: the parameters every task reaches (``split_parameters``).
            others: every other trainable parameter (task towers and heads, the rule's own).
            scale: a GradScaler's ``scale`` for float16 training; None: no scaling.
        """
        total = self.combine(losses)
        (scale(total) if scale else total).backward()
        return total.detach()

    def parameter_groups(self, model: nn.Module, lr: float) -> list[dict]:
        """The optimizer's parameter groups: the model's and this rule's parameters at ``lr``."""
        return [{"params": [*model.parameters(), *self.parameters()], "lr": lr}]

    def weights(self) -> dict[str, float]:
        """Each task's current weight in the combined loss, for the history; {}: none to report."""
        return {}


class FixedWeights(TaskWeighting):
    """A weighted sum with constant weights: ``total = sum_t weights[t] * losses[t]``.

    Args:
        weights: the weight of every task, keyed by task name.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        self.task_weights = {name: float(weight) for name, weight in weights.items()}

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the losses; every task must have a weight."""
        missing = sorted(losses.keys() - self.task_weights.keys())
        if missing:
            raise KeyError(
                f"FixedWeights has no weight for tasks {missing}; it has {self.task_weights}"
            )
        return sum(self.task_weights[name] * loss for name, loss in losses.items())

    def weights(self) -> dict[str, float]:
        """The constant weights."""
        return dict(self.task_weights)

    def extra_repr(self) -> str:
        return f"weights={self.task_weights}"


class VectorWeights(TaskWeighting):
    """Base of the rules that keep one weight per task and update it themselves (GradNorm,
    DWA): ``total = sum_t w_t * L_t`` with the weights in a buffer, all 1 at the start.

    Args:
        task_names: the tasks, in the order of the weight vector.
    """

    def __init__(self, task_names: Sequence[str]) -> None:
        super().__init__()
        self.names = list(task_names)
        self.register_buffer("task_weights", torch.ones(len(self.names)))

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """``sum_t w_t * L_t`` with the current weights."""
        return sum(w * losses[name] for name, w in zip(self.names, self.task_weights, strict=True))

    def weights(self) -> dict[str, float]:
        """The current weights."""
        return dict(zip(self.names, self.task_weights.tolist(), strict=True))


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
        losses = self.task_losses(outputs, batch)
        return self.weighting.combine(losses), losses

    def task_losses(
        self, outputs: dict[str, torch.Tensor], batch: Batch
    ) -> dict[str, torch.Tensor]:
        """Each task's own loss on the batch, with its graph, keyed by task name."""
        missing = [task.name for task in self.tasks if task.name not in outputs]
        if missing:
            raise KeyError(
                f"the model returned no output for tasks {missing}; it returned "
                f"{sorted(outputs)}. Build the model with the same tasks"
            )
        return {task.name: task.loss(outputs[task.name], batch) for task in self.tasks}
