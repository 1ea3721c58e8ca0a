"""Gradient diagnostics: how large each task's gradient is, and whether the tasks agree.

Taught in notebook 05. On the shared parameters every task pushes in its own direction. Three
numbers per training step tell whether one task dominates or the tasks fight:

- each task's loss (its *scale*: a multiclass cross-entropy of 1.2 next to a buy loss of 0.03);
- the norm of each task's gradient on the shared parameters (who moves the shared layers);
- the cosine similarity of every pair of task gradients (negative: a step that helps one task
  hurts the other, the *gradient conflict* that PCGrad removes).

Each needs one backward pass per task, so the trainer computes them every few steps only
(``fit(..., diagnose_every=...)``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Scale = Callable[[torch.Tensor], torch.Tensor]


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


def gradient_report(
    losses: dict[str, torch.Tensor], gradients: dict[str, torch.Tensor]
) -> dict[str, float]:
    """Loss, gradient norm and pairwise gradient cosines as one flat row of floats.

    Returns:
        ``{"loss/<task>", "grad_norm/<task>", "cosine/<task a>~<task b>"}`` for every task and
        every pair of tasks; a cosine with a zero gradient is 0.
    """
    values: dict[str, torch.Tensor] = {}
    for name, loss in losses.items():
        values[f"loss/{name}"] = loss.detach().float()
        values[f"grad_norm/{name}"] = gradients[name].norm()
    for a, b in itertools.combinations(gradients, 2):
        values[f"cosine/{a}~{b}"] = F.cosine_similarity(gradients[a], gradients[b], dim=0)
    numbers = torch.stack(list(values.values())).tolist()  # one synchronisation per report
    return dict(zip(values, numbers, strict=True))


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
