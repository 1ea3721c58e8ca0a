"""Shared-bottom multi-task model: hard parameter sharing (Caruana, Machine Learning 1997).

Taught in notebook 04. Every candidate task reads the same bottom MLP, then its own small
tower: the bottom is pushed by all tasks' gradients at once, which helps when the tasks are
related and hurts when they pull apart (negative transfer), the motivation for MMoE and PLE.
With a single task it is the course's single-task baseline; there is no separate class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.models.encoder_base import SequenceEncoder
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel, mlp, mlp_output_dim
from course_lib.tasks import Task


@dataclass(frozen=True)
class SharedBottomSettings:
    """The shared-bottom model's own sizes."""

    bottom_dims: tuple[int, ...] = (64,)  # the MLP every candidate task reads


class SharedBottomModel(MultiTaskModel):
    """One shared bottom MLP and one tower per candidate task.

    Pass one task to get a single-task model with exactly the same layers.

    Args:
        config: the sizes every architecture has (``tower_dims``, ``dropout``, ...).
        tasks: the declared tasks.
        encoder: any ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        item_category: the category index of every item index.
        settings: the bottom's sizes.
    """

    settings_class = SharedBottomSettings

    def __init__(
        self,
        config: MultiTaskConfig,
        tasks: Sequence[Task],
        encoder: SequenceEncoder,
        item_category: torch.Tensor,
        settings: SharedBottomSettings = SharedBottomSettings(),
    ) -> None:
        super().__init__(config, tasks, encoder, item_category)
        self.settings = settings
        self.bottom = mlp(self.feature_dim, settings.bottom_dims, config.dropout)
        bottom_dim = mlp_output_dim(self.feature_dim, settings.bottom_dims)
        self.towers = nn.ModuleDict(
            {
                name: mlp(bottom_dim, config.tower_dims, config.dropout)
                for name in self.candidate_tasks
            }
        )

    def task_representations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The shared bottom, then each task's tower.

        Shape:
            x: (B, H + 2D) -> {name: (B, tower_dims[-1])}
        """
        shared = self.bottom(x)  # (B, bottom_dims[-1])
        return {name: self.towers[name](shared) for name in self.candidate_tasks}
