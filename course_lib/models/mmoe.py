"""MMoE: Multi-gate Mixture-of-Experts (Ma et al., "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018).

Taught in notebook 04. Instead of one shared bottom, E expert MLPs all read the features, and
every task has its own gate: a linear layer and a softmax over the experts, giving each sample
its own mixture weights. Related tasks can share experts, conflicting ones can drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.models.encoder_base import SequenceEncoder
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel, mlp, mlp_output_dim
from course_lib.tasks import Task


class MMoEModel(MultiTaskModel):
    """E shared experts, one softmax gate and one tower per candidate task.

    Attributes:
        last_gates: each candidate task's gate weights from the last forward pass, detached,
            ``{name: (B, E)}``; every row sums to 1 (for plotting expert usage).

    Args:
        config: the sizes (``num_experts``, ``expert_dims``, ``tower_dims``, ``dropout``).
        tasks: the declared tasks.
        encoder: any ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        item_category: the category index of every item index.
    """

    def __init__(
        self,
        config: MultiTaskConfig,
        tasks: Sequence[Task],
        encoder: SequenceEncoder,
        item_category: torch.Tensor,
    ) -> None:
        super().__init__(config, tasks, encoder, item_category)
        if config.num_experts < 1:
            raise ValueError(f"MMoE needs num_experts >= 1, got {config.num_experts}")
        self.experts = nn.ModuleList(
            mlp(self.feature_dim, config.expert_dims, config.dropout)
            for _ in range(config.num_experts)
        )
        expert_dim = mlp_output_dim(self.feature_dim, config.expert_dims)
        names = self.candidate_tasks
        self.gates = nn.ModuleDict(
            {name: nn.Linear(self.feature_dim, config.num_experts) for name in names}
        )
        self.towers = nn.ModuleDict(
            {name: mlp(expert_dim, config.tower_dims, config.dropout) for name in names}
        )
        self.last_gates: dict[str, torch.Tensor] = {}

    def task_representations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every expert once, then per task: gate, weighted sum of the experts, tower.

        Shape (H here is the expert size, ``expert_dims[-1]``):
            x: (B, H + 2D) -> {name: (B, tower_dims[-1])}
        """
        experts = torch.stack([expert(x) for expert in self.experts], dim=1)  # (B, E, H)
        representations = {}
        for name in self.candidate_tasks:
            gate = self.gates[name](x).softmax(dim=-1)  # (B, E), each row sums to 1
            mixed = torch.einsum("be,beh->bh", gate, experts)  # (B, H)
            representations[name] = self.towers[name](mixed)  # (B, tower_dims[-1])
            self.last_gates[name] = gate.detach()
        return representations
