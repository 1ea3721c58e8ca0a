"""Scenario awareness: one model serving several surfaces (home feed, search, item page).

Taught in notebook 10. Users click and buy differently on each surface, and a small surface
has too few events for a model of its own. A multi-task model can learn what scenarios share
and still tell them apart in two ways, chosen by ``MultiTaskConfig.scenario_design``:

- ``"embedding"``: the scenario is an input. Each history event adds an embedding of its
  scenario, and the user state adds an embedding of the scenario the request comes from, so
  the shared layers, the experts and the gates of every architecture all see it
  (``ScenarioEmbedding``).
- ``"star"``: the scenario picks weights. After the sharing architecture, every candidate
  task's representation goes through a star-topology layer whose weight is the elementwise
  product of a shared weight and the scenario's own, and whose bias is their sum; a small
  auxiliary part adds a per-scenario offset to each task's logit (``ScenarioStar``). This
  follows STAR (Sheng et al., "One Model to Serve All: Star Topology Adaptive Recommender for
  Multi-Domain CTR Prediction", CIKM 2021), without its partitioned normalization.

Both start as the scenario-blind model would: the scenario embeddings at 0; STAR's layers at
the identity (shared weight I, scenario weights 1, biases 0) and its offsets at 0. Training
moves them only as far as the scenarios' data asks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.data.vocab import PAD

SCENARIO_DESIGNS = ("none", "embedding", "star")


class ScenarioEmbedding(nn.Module):
    """The scenario as an input: one table for history events, one for the request.

    Args:
        num_scenarios: the scenario vocabulary's size (PAD and UNK included).
        embed_dim: D, the size of an event vector.
        hidden_dim: H, the size of the user state.
    """

    def __init__(self, num_scenarios: int, embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.event = nn.Embedding(num_scenarios, embed_dim, padding_idx=PAD)
        self.request = nn.Embedding(num_scenarios, hidden_dim)
        for table in (self.event, self.request):  # start as the scenario-blind model
            nn.init.zeros_(table.weight)

    def events(self, history_scenario: torch.Tensor) -> torch.Tensor:
        """Each history event's scenario vector, zero at padding. (B, L) -> (B, L, D)."""
        return self.event(history_scenario)

    def requests(self, scenario: torch.Tensor) -> torch.Tensor:
        """The vector of the scenario each request comes from. (B,) -> (B, H)."""
        return self.request(scenario)


class StarLinear(nn.Module):
    """A linear layer whose weights combine a shared part and the sample's scenario's part.

    weight = W_shared * W_scenario (elementwise), bias = b_shared + b_scenario. The scenario
    parts start at 1 and 0, so the layer starts as an ordinary ``nn.Linear``; a scenario with
    few samples keeps close to the shared weights every scenario trains.

    Shape:
        x: (B, in_dim), scenario: (B,) -> (B, out_dim)
    """

    def __init__(self, in_dim: int, out_dim: int, num_scenarios: int) -> None:
        super().__init__()
        self.shared = nn.Linear(in_dim, out_dim)
        self.scenario_weight = nn.Parameter(torch.ones(num_scenarios, out_dim, in_dim))
        self.scenario_bias = nn.Parameter(torch.zeros(num_scenarios, out_dim))

    def forward(self, x: torch.Tensor, scenario: torch.Tensor) -> torch.Tensor:
        weight = self.shared.weight * self.scenario_weight[scenario]  # (B, out, in)
        bias = self.shared.bias + self.scenario_bias[scenario]  # (B, out)
        return torch.einsum("boi,bi->bo", weight, x) + bias


class ScenarioStar(nn.Module):
    """STAR for the candidate tasks: a star-topology layer per task, and per-scenario offsets.

    Args:
        task_names: the candidate tasks, each with a star layer.
        offset_names: the single-output ones among them, which get a logit offset.
        dim: the size of a task representation (``tower_dims[-1]``).
        num_scenarios: the scenario vocabulary's size (PAD and UNK included).
    """

    def __init__(
        self,
        task_names: Sequence[str],
        offset_names: Sequence[str],
        dim: int,
        num_scenarios: int,
    ) -> None:
        super().__init__()
        self.task_names, self.offset_names = list(task_names), list(offset_names)
        self.layers = nn.ModuleDict(
            {name: StarLinear(dim, dim, num_scenarios) for name in self.task_names}
        )
        with torch.no_grad():  # identity: a tower's output (after its ReLU) passes unchanged
            for layer in self.layers.values():
                layer.shared.weight.copy_(torch.eye(dim))
                layer.shared.bias.zero_()
        self.offsets = nn.Embedding.from_pretrained(  # STAR's auxiliary network, at zero
            torch.zeros(num_scenarios, len(self.offset_names)), freeze=False
        )

    def forward(
        self, representations: dict[str, torch.Tensor], scenario: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Each task's representation through its star layer and a ReLU.

        Shape:
            {name: (B, dim)}, scenario: (B,) -> {name: (B, dim)}
        """
        return {
            name: torch.relu(self.layers[name](representations[name], scenario))
            for name in self.task_names
        }

    def logit_offsets(self, scenario: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each single-output task's offset for the request's scenario. (B,) -> {name: (B,)}."""
        offsets = self.offsets(scenario)  # (B, offset tasks)
        return {name: offsets[:, column] for column, name in enumerate(self.offset_names)}
