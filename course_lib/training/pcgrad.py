"""PCGrad, gradient surgery for multi-task learning (Yu et al., NeurIPS 2020), notebook 05.

When two tasks' gradients on the shared parameters point against each other (negative dot
product), a step along their sum helps one task and hurts the other. PCGrad removes the
conflict before summing: each task's gradient is projected onto the normal plane of every other
task's gradient it conflicts with, visiting the others in random order,
``g_i <- g_i - (g_i . g_j / |g_j|^2) g_j`` when ``g_i . g_j < 0``. Gradients that agree are left
alone. Task-specific parameters get their ordinary gradients.

Cost: one backward pass per task on the shared parameters, plus one on the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.training.weighting import Scale, TaskWeighting, backward_per_task


def project_conflicting(gradients: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """PCGrad's projection of every task gradient against the others it conflicts with.

    Each row is projected against the *original* gradients of the other tasks, in a random
    order drawn from ``generator``.

    Shape:
        gradients: (T, P) -> (T, P)
    """
    projected = gradients.clone()
    squared_norms = (gradients * gradients).sum(dim=1).clamp(min=1e-20)  # (T,)
    for i in range(len(gradients)):
        order = torch.randperm(len(gradients), generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            dot = projected[i] @ gradients[j]
            projected[i] -= torch.clamp(dot, max=0.0) / squared_norms[j] * gradients[j]
    return projected


class PCGrad(TaskWeighting):
    """Summed losses, with the shared gradient built from conflict-free task gradients.

    Args:
        task_names: the tasks (all weights are 1).
        seed: seeds the random order of the projections.
    """

    def __init__(self, task_names: Sequence[str], seed: int = 0) -> None:
        super().__init__()
        self.names = list(task_names)
        self.generator = torch.Generator().manual_seed(seed)

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The plain sum of the losses."""
        return sum(losses[name] for name in self.names)

    def backward(
        self,
        losses: dict[str, torch.Tensor],
        shared: Sequence[nn.Parameter],
        others: Sequence[nn.Parameter],
        scale: Scale | None = None,
    ) -> torch.Tensor:
        """Projected per-task gradients on ``shared``; ordinary gradients on ``others``."""
        total = self.combine(losses)
        projected_sum = lambda g: project_conflicting(g, self.generator).sum(dim=0)  # noqa: E731
        backward_per_task(losses, self.names, shared, others, total, projected_sum, scale)
        return total.detach()

    def weights(self) -> dict[str, float]:
        """All ones: PCGrad changes directions, not weights."""
        return dict.fromkeys(self.names, 1.0)
