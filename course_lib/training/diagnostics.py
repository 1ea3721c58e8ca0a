"""Gradient diagnostics: how large each task's gradient is, and whether the tasks agree.

Taught in notebook 05. On the shared parameters every task pushes in its own direction. Three
numbers per training step tell whether one task dominates or the tasks fight:

- each task's loss (its *scale*: a multiclass cross-entropy of 1.2 next to a buy loss of 0.03);
- the norm of each task's gradient on the shared parameters (who moves the shared layers);
- the cosine similarity of every pair of task gradients (negative: a step that helps one task
  hurts the other, the *gradient conflict* that PCGrad removes).

Each needs one backward pass per task (``weighting.task_gradients``, the same passes GradNorm
and PCGrad take), so the loop computes them every few steps only
(``TrainOptions(diagnose_every=...)``).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


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
