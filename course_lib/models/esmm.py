"""ESMM: Entire Space Multi-task Model (Ma et al., "Entire Space Multi-Task Model: An Effective
Approach for Estimating Post-Click Conversion Rate", SIGIR 2018).

Taught in notebook 04. A conversion model trained only on clicked samples learns p(buy | click)
on a biased sample (selection bias) and from few labels (data sparsity). ESMM never trains it
directly: a CTR tower gives p(click), a CVR tower gives p(buy | click), and their product
p(click and buy) = p(click) · p(buy | click) is trained on the buy label of *every* sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.encoder_base import SequenceEncoder
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel, mlp
from course_lib.tasks import Batch, Task


def product_logit(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The logit of sigmoid(a) · sigmoid(c), computed in log space so it never overflows.

    log p = logsigmoid(a) + logsigmoid(c) and logit = log p - log(1 - p), with
    log(1 - p) = log(-expm1(log p)); log p is kept below -eps so that log(1 - p) stays finite.

    Shape:
        a, c: (B,) -> (B,)
    """
    log_p = F.logsigmoid(a) + F.logsigmoid(c)  # (B,), <= 0
    log_p = log_p.clamp(max=-torch.finfo(log_p.dtype).eps)
    return log_p - torch.log(-torch.expm1(log_p))  # (B,)


@dataclass(frozen=True)
class ESMMSettings:
    """ESMM's own sizes."""

    # first layers of the CTR and CVR towers, before config.tower_dims: the depth of
    # shared-bottom's bottom and tower together, with nothing shared above the encoder
    bottom_dims: tuple[int, ...] = (64,)


class ESMMModel(MultiTaskModel):
    """A CTR tower and a CVR tower whose product predicts click-and-buy on the entire space.

    Needs candidate tasks named "click" and "buy". The output "click" is the CTR logit a; the
    output "buy" is the logit of p(click) · p(buy | click), so its probability can never exceed
    the click probability; ``cvr_logit`` gives the CVR logit c. The buy label (click *and*
    purchase) is defined on every sample, so both losses use all impressions: no selection
    bias. The shared part is the embedding and the encoder, as in the paper; each tower is
    ``mlp(x, bottom_dims + tower_dims)``. Any other candidate task gets a tower of its own.

    Args:
        config: the sizes every architecture has (``tower_dims``, ``dropout``, ...).
        tasks: the declared tasks, with "click" and "buy" among them.
        encoder: any ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        item_category: the category index of every item index.
        settings: the towers' first layers.
    """

    settings_class = ESMMSettings

    def __init__(
        self,
        config: MultiTaskConfig,
        tasks: Sequence[Task],
        encoder: SequenceEncoder,
        item_category: torch.Tensor,
        settings: ESMMSettings = ESMMSettings(),
    ) -> None:
        for name in ("click", "buy"):
            if not any(t.name == name and t.kind == "binary" and t.uses_candidate for t in tasks):
                raise ValueError(
                    f"ESMM needs a binary candidate task named {name!r}; got tasks "
                    f"{[task.name for task in tasks]}"
                )
        super().__init__(config, tasks, encoder, item_category)
        self.settings = settings
        dims = (*settings.bottom_dims, *config.tower_dims)
        # "click" is the CTR tower, "buy" the CVR tower: the base class puts a head on each
        self.towers = nn.ModuleDict(
            {name: mlp(self.feature_dim, dims, config.dropout) for name in self.candidate_tasks}
        )

    def task_representations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each candidate task's own tower on the shared features.

        Shape:
            x: (B, H + 2D) -> {name: (B, tower_dims[-1])}
        """
        return {name: self.towers[name](x) for name in self.candidate_tasks}

    def init_output_biases(self, rates: dict[str, torch.Tensor]) -> None:
        """As the base class, except that the "buy" head predicts conversion given a click:
        its prior is P(buy) / P(click), since a buy on the impression space implies a click."""
        rates = {**rates, "buy": rates["buy"] / rates["click"]}
        super().init_output_biases(rates)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The base model's outputs, with "buy" turned from the CVR logit into the CTCVR logit.

        Shape:
            as ``MultiTaskModel.forward``; "click", "buy": (B,)
        """
        outputs = super().forward(batch)
        ctr_logit, cvr_logit = outputs["click"], outputs["buy"]  # (B,), (B,)
        outputs["buy"] = product_logit(ctr_logit, cvr_logit)  # logit of p(click and buy)
        return outputs

    @torch.no_grad()
    def cvr_logit(self, batch: Batch) -> torch.Tensor:
        """The CVR logit c, logit of p(buy | click); not a declared task, so not an output.

        Shape:
            batch -> (B,)
        """
        return super().forward(batch)["buy"]
