"""Combining the tasks' losses into one update of the shared model (notebooks 04 and 05).

A multi-task model has one loss per task; the optimizer needs one gradient. *How* the tasks
are balanced is a ``TaskWeighting`` object the trainer receives, never a string switch inside
it. The trainer calls three methods, and a learner can write a new rule by overriding them:

- ``parameter_groups(model, lr)``: the optimizer's parameter groups (per-task learning rates
  give each task's tower its own group);
- ``backward(losses, shared, others, scale)``: fill the parameters' ``.grad``. The default
  backpropagates ``combine(losses)``; GradNorm and PCGrad work on the tasks' separate gradients
  on the shared parameters instead (``backward_per_task``, at the end of this file);
- ``weights()``: the current weight of each task, recorded in the training history.

The rules live in their own files: ``SumOfLosses``, ``FixedWeights`` (and ``VectorWeights``, the
base of the rules that update a weight per task) here, ``PerTaskLearningRates``,
``UncertaintyWeighting``, ``GradNorm``, ``DynamicWeightAverage`` and ``PCGrad`` beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from course_lib.tasks import Batch, Task, check_labels_are_valid

Scale = Callable[[torch.Tensor], torch.Tensor]  # a GradScaler's ``scale``


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


class SumOfLosses(TaskWeighting):
    """The plain sum of the losses, every weight 1: the loop's default for one loss or many."""

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """``sum_t L_t``."""
        return sum(losses.values())


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
    """Every declared task's loss on a batch, keyed by task name: the loss function of ``fit``.

    How the losses are combined into one update is the weighting's job (``TaskWeighting``), so
    the same losses serve every balancing rule.

    Args:
        tasks: the declared tasks; each reads its output from the model's dict by name.

    Example::

        losses = MultiTaskLoss(tasks)(model(batch), batch)  # {"click": ..., "buy": ...}
        total = FixedWeights({"click": 1.0, "buy": 1.0}).combine(losses)
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)
        self.labels_checked = False

    def __call__(self, outputs: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        """Each task's own loss on the batch, with its graph.

        Shape:
            outputs: {name: (B,) or (B, K)} -> {name: scalar}
        """
        missing = [task.name for task in self.tasks if task.name not in outputs]
        if missing:
            raise KeyError(
                f"the model returned no output for tasks {missing}; it returned "
                f"{sorted(outputs)}. Build the model with the same tasks"
            )
        if not self.labels_checked:  # a bad label fails here, clearly, not as a CUDA assert
            for task in self.tasks:
                check_labels_are_valid(task, batch)
            self.labels_checked = True
        return {task.name: task.loss(outputs[task.name], batch) for task in self.tasks}


def task_gradients(
    losses: dict[str, torch.Tensor],
    parameters: Sequence[nn.Parameter],
    scale: Scale | None = None,
) -> dict[str, torch.Tensor]:
    """Each task's gradient on ``parameters``, flattened into one vector; the graph is kept.

    A parameter a task does not reach gets a zero gradient from it.

    Args:
        scale: applied to each loss before differentiating (a GradScaler's ``scale``).

    Shape:
        losses: {name: scalar} -> {name: (P,)}, P the number of values in ``parameters``
    """
    gradients = {}
    for name, loss in losses.items():
        grads = torch.autograd.grad(
            scale(loss) if scale else loss, parameters, retain_graph=True, allow_unused=True
        )
        flat = [
            torch.zeros_like(p).flatten() if g is None else g.flatten()
            for p, g in zip(parameters, grads, strict=True)
        ]
        gradients[name] = torch.cat(flat)
    return gradients


def set_gradients(parameters: Sequence[nn.Parameter], flat: torch.Tensor) -> None:
    """Write one flat gradient vector into the ``.grad`` of each parameter (adding to any)."""
    offset = 0
    for param in parameters:
        piece = flat[offset : offset + param.numel()].view_as(param)
        param.grad = piece.clone() if param.grad is None else param.grad + piece
        offset += param.numel()


def backward_per_task(
    losses: dict[str, torch.Tensor],
    names: Sequence[str],
    shared: Sequence[nn.Parameter],
    others: Sequence[nn.Parameter],
    total: torch.Tensor,
    shared_gradient: Callable[[torch.Tensor], torch.Tensor],
    scale: Scale | None = None,
) -> torch.Tensor:
    """The backward pass of the rules that work on each task's own gradient (GradNorm, PCGrad).

    One pass per task on ``shared``, whose gradients ``shared_gradient`` turns into the one
    written to ``.grad``; one ordinary pass of ``total`` on ``others`` (towers, heads).

    Shape:
        shared_gradient: (T, P) -> (P,), rows in the order of ``names``;
        returns the (T, P) task gradients
    """
    gradients = task_gradients(losses, shared, scale)
    stacked = torch.stack([gradients[name] for name in names])  # (T, P)
    if others:
        torch.autograd.backward(scale(total) if scale else total, inputs=list(others))
    set_gradients(shared, shared_gradient(stacked))
    return stacked
