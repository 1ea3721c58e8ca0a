"""GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, ICML 2018), taught in notebook 05.

GradNorm balances the tasks by the size of their gradients on the shared parameters. With
task weights ``w_t`` and ``g_t`` the norm of task t's unweighted gradient there, the weighted
norms are ``G_t = w_t * g_t``. Their target is the mean norm, raised for the tasks that train
slowest: ``target_t = mean(G) * r_t ** alpha``, where ``r_t`` is the task's loss relative to its
first loss, divided by the mean of those ratios. Each step moves every ``w_t`` down the gradient
of ``|G_t - target_t|`` (the target held constant, as in the paper), then renormalises the
weights to sum to the number of tasks. ``alpha = 0`` asks for equal gradient norms. The L1
objective gives steps of constant size, so the weights hover around the target rather than
settle exactly.

Cost: one backward pass per task on the shared parameters, plus one on the rest. The combined
shared gradient is assembled from the per-task ones, not computed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.training.weighting import Scale, VectorWeights, backward_per_task


class GradNorm(VectorWeights):
    """Task weights that steer the tasks' gradient norms on the shared parameters.

    Args:
        task_names: the tasks; all weights start at 1.
        alpha: how strongly slow tasks get larger target norms (the paper uses 0.5 to 3).
        lr: step size of the weight update, relative: the update's gradient is divided by the
            mean gradient norm, so a weight moves by at most about ``lr`` per step.
    """

    def __init__(self, task_names: Sequence[str], alpha: float = 1.5, lr: float = 0.025) -> None:
        super().__init__(task_names)
        self.alpha, self.lr = alpha, lr
        self.register_buffer("initial_losses", torch.zeros(len(self.names)))  # 0: no step yet

    def backward(
        self,
        losses: dict[str, torch.Tensor],
        shared: Sequence[nn.Parameter],
        others: Sequence[nn.Parameter],
        scale: Scale | None = None,
    ) -> torch.Tensor:
        """Gradients of the weighted sum, then one update of the weights."""
        total = self.combine(losses)
        stacked = backward_per_task(  # (T, P) unweighted task gradients; shared: sum_t w_t g_t
            losses, self.names, shared, others, total, lambda g: self.task_weights @ g, scale
        )
        current = torch.stack([losses[name].detach().float() for name in self.names])
        self.update_weights(stacked.norm(dim=1), current)
        return total.detach()

    @torch.no_grad()
    def update_weights(self, norms: torch.Tensor, losses: torch.Tensor) -> None:
        """One GradNorm step on the weights from the unweighted gradient norms ``g_t`` (T,)."""
        if not bool(self.initial_losses.any()):
            self.initial_losses.copy_(losses.clamp(min=1e-12))
        weighted = self.task_weights * norms  # G_t
        ratio = losses / self.initial_losses
        target = weighted.mean() * (ratio / ratio.mean()) ** self.alpha
        step = torch.sign(weighted - target) * norms / norms.mean().clamp(min=1e-12)
        weights = (self.task_weights - self.lr * step).clamp(min=1e-3)
        self.task_weights.copy_(weights * len(self.names) / weights.sum())
