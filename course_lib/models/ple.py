"""PLE: Progressive Layered Extraction (Tang et al., "Progressive Layered Extraction (PLE): A
Novel Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys 2020).

Taught in notebook 04. MMoE lets every task mix every expert, so a task cannot keep experts
to itself. PLE separates them: at each level (a CGC, Customized Gate Control) some experts are
shared and some belong to one task; a task's gate mixes its own experts and the shared ones.
Levels stack: between two levels a shared gate mixes *all* experts into the next level's shared
input, while each task's mixture becomes that task's next input. Towers sit on top.
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
class PLESettings:
    """PLE's own sizes."""

    num_shared_experts: int = 2  # S: experts every task's gate can use, per level
    num_task_experts: int = 1  # K: experts of each task alone, per level
    num_levels: int = 1  # stacked extraction levels (1 = CGC, Tang et al.)
    expert_dims: tuple[int, ...] = (64,)  # layers of one expert MLP


class ExtractionLevel(nn.Module):
    """One CGC level: shared experts, each task's own experts, and their gates.

    Args:
        in_dim: size of every input of the level.
        names: the candidate tasks.
        settings: ``num_shared_experts``, ``num_task_experts``, ``expert_dims``.
        dropout: dropout after every hidden layer of the experts.
        shared_gate: whether to build the gate feeding the next level's shared input (every
            level but the last).
    """

    def __init__(
        self,
        in_dim: int,
        names: list[str],
        settings: PLESettings,
        dropout: float,
        shared_gate: bool,
    ) -> None:
        super().__init__()
        self.names = names
        S, K = settings.num_shared_experts, settings.num_task_experts

        def experts(count: int) -> nn.ModuleList:
            return nn.ModuleList(mlp(in_dim, settings.expert_dims, dropout) for _ in range(count))

        self.shared_experts = experts(S)
        self.task_experts = nn.ModuleDict({name: experts(K) for name in names})
        self.task_gates = nn.ModuleDict({name: nn.Linear(in_dim, K + S) for name in names})
        self.shared_gate = nn.Linear(in_dim, len(names) * K + S) if shared_gate else None

    def forward(
        self, task_inputs: dict[str, torch.Tensor], shared_input: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, dict[str, torch.Tensor]]:
        """Mix each task's experts with the shared ones.

        Returns:
            Each task's mixture, the next shared input (None at the last level) and each
            task's gate weights.

        Shape (H here is the expert size; K task experts, S shared experts):
            task_inputs: {name: (B, in_dim)}, shared_input: (B, in_dim) ->
            {name: (B, H)}, (B, H) or None, {name: (B, K + S)}
        """
        shared = [expert(shared_input) for expert in self.shared_experts]  # S x (B, H)
        outputs, gates, all_experts = {}, {}, []
        for name in self.names:
            own = [expert(task_inputs[name]) for expert in self.task_experts[name]]  # K x (B, H)
            all_experts += own
            experts = torch.stack(own + shared, dim=1)  # (B, K + S, H)
            gate = self.task_gates[name](task_inputs[name]).softmax(dim=-1)  # (B, K + S)
            outputs[name] = torch.einsum("be,beh->bh", gate, experts)  # (B, H)
            gates[name] = gate
        if self.shared_gate is None:
            return outputs, None, gates
        experts = torch.stack(all_experts + shared, dim=1)  # (B, T K + S, H)
        gate = self.shared_gate(shared_input).softmax(dim=-1)  # (B, T K + S)
        return outputs, torch.einsum("be,beh->bh", gate, experts), gates


class PLEModel(MultiTaskModel):
    """``num_levels`` extraction levels, then one tower per candidate task.

    Args:
        config: the sizes every architecture has (``tower_dims``, ``dropout``, ...).
        tasks: the declared tasks.
        encoder: any ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        item_category: the category index of every item index.
        settings: the levels and experts.
    """

    settings_class = PLESettings

    def __init__(
        self,
        config: MultiTaskConfig,
        tasks: Sequence[Task],
        encoder: SequenceEncoder,
        item_category: torch.Tensor,
        settings: PLESettings = PLESettings(),
    ) -> None:
        super().__init__(config, tasks, encoder, item_category)
        if settings.num_levels < 1:
            raise ValueError(f"PLE needs num_levels >= 1, got {settings.num_levels}")
        if min(settings.num_shared_experts, settings.num_task_experts) < 0 or (
            settings.num_shared_experts + settings.num_task_experts < 1
        ):
            raise ValueError(
                "PLE needs num_shared_experts >= 0, num_task_experts >= 0 and at least one "
                f"expert; got {settings.num_shared_experts} and {settings.num_task_experts}"
            )
        self.settings = settings
        expert_dim = mlp_output_dim(self.feature_dim, settings.expert_dims)
        self.levels = nn.ModuleList(
            ExtractionLevel(
                self.feature_dim if level == 0 else expert_dim,
                self.candidate_tasks,
                settings,
                config.dropout,
                shared_gate=level < settings.num_levels - 1,
            )
            for level in range(settings.num_levels)
        )
        self.towers = nn.ModuleDict(
            {
                name: mlp(expert_dim, config.tower_dims, config.dropout)
                for name in self.candidate_tasks
            }
        )

    def extract(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Every level in turn, each task following its own path.

        Returns:
            Each task's mixture at the top level, and its gate weights there: its own K
            experts first, then the S shared ones.

        Shape (H here is the expert size):
            x: (B, H + 2D) -> {name: (B, H)}, {name: (B, K + S)}
        """
        task_inputs = {name: x for name in self.candidate_tasks}  # all start from x
        shared_input = x
        for level in self.levels:
            task_inputs, shared_input, gates = level(task_inputs, shared_input)
        return task_inputs, gates

    def task_representations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The extraction levels, then the towers.

        Shape:
            x: (B, H + 2D) -> {name: (B, tower_dims[-1])}
        """
        mixtures, _ = self.extract(x)  # {name: (B, H)}
        return {name: self.towers[name](mixtures[name]) for name in self.candidate_tasks}

    @torch.no_grad()
    def gate_weights(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Each candidate task's gate weights at the top level on a batch, for plotting.

        Shape:
            batch -> {name: (B, K + S)}, its own K experts first; every row sums to 1
        """
        _, x = self.features(batch)  # (B, H + 2D)
        return self.extract(x)[1]
