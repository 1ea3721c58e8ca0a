"""MMoE: Multi-gate Mixture-of-Experts (Ma et al., "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018).

Taught in notebook 04. Instead of one shared bottom, E expert MLPs all read the features, and
every task has its own gate: a linear layer and a softmax over the experts, giving each sample
its own mixture weights. Related tasks can share experts, conflicting ones can drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.models.encoder_base import SequenceEncoder
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel, mlp, mlp_output_dim
from course_lib.tasks import Batch, Task


@dataclass(frozen=True)
class MMoESettings:
    """MMoE's own sizes."""

    num_experts: int = 4  # E: experts every task's gate mixes
    expert_dims: tuple[int, ...] = (64,)  # layers of one expert MLP


class MMoEModel(MultiTaskModel):
    """E shared experts, one softmax gate and one tower per candidate task.

    Args:
        config: the sizes every architecture has (``tower_dims``, ``dropout``, ...).
        tasks: the declared tasks.
        encoder: any ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        item_category: the category index of every item index.
        settings: the experts' number and sizes.
    """

    settings_class = MMoESettings

    def __init__(
        self,
        config: MultiTaskConfig,
        tasks: Sequence[Task],
        encoder: SequenceEncoder,
        item_category: torch.Tensor,
        settings: MMoESettings = MMoESettings(),
    ) -> None:
        super().__init__(config, tasks, encoder, item_category)
        if settings.num_experts < 1:
            raise ValueError(f"MMoE needs num_experts >= 1, got {settings.num_experts}")
        self.settings = settings
        self.experts = nn.ModuleList(
            mlp(self.feature_dim, settings.expert_dims, config.dropout)
            for _ in range(settings.num_experts)
        )
        expert_dim = mlp_output_dim(self.feature_dim, settings.expert_dims)
        names = self.candidate_tasks
        self.gates = nn.ModuleDict(
            {name: nn.Linear(self.feature_dim, settings.num_experts) for name in names}
        )
        self.towers = nn.ModuleDict(
            {name: mlp(expert_dim, config.tower_dims, config.dropout) for name in names}
        )

    def gate(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Task ``name``'s mixture weights over the experts: a linear layer and a softmax.

        Shape:
            x: (B, H + 2D) -> (B, E), each row sums to 1
        """
        return self.gates[name](x).softmax(dim=-1)

    def task_representations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every expert once, then per task: gate, weighted sum of the experts, tower.

        Shape (H here is the expert size, ``expert_dims[-1]``):
            x: (B, H + 2D) -> {name: (B, tower_dims[-1])}
        """
        experts = torch.stack([expert(x) for expert in self.experts], dim=1)  # (B, E, H)
        representations = {}
        for name in self.candidate_tasks:
            gate = self.gate(name, x)  # (B, E), each row sums to 1
            mixed = torch.einsum("be,beh->bh", gate, experts)  # (B, H)
            representations[name] = self.towers[name](mixed)  # (B, tower_dims[-1])
        return representations

    @torch.no_grad()
    def gate_weights(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Each candidate task's gate weights on a batch, for plotting expert usage.

        Shape:
            batch -> {name: (B, E)}, every row sums to 1
        """
        _, x = self.features(batch)  # (B, H + 2D)
        return {name: self.gate(name, x) for name in self.candidate_tasks}
