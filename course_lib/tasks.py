"""Tasks declared once, as data: what to predict, from which label, with which loss (notebook 04).

A ``Task`` names a model output, the batch key of its label, its kind and its loss. Models build
one head per declared task and return a dict of outputs keyed by task name; the trainer sums the
tasks' losses and the evaluation computes each task's metrics from the same dict. Adding a task
to an exercise is one more ``Task`` in the list, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data.samples import Samples
from course_lib.data.vocab import NUM_RESERVED
from course_lib.losses import binary_loss

TaskKind = Literal["binary", "multiclass", "regression", "ranking"]
Batch = dict[str, torch.Tensor]  # one batch of a DataLoader: tensors by name (the one alias)


@dataclass(frozen=True)
class Task:
    """One prediction task of a multi-task model.

    Attributes:
        name: key of the task's output in the model's output dict, and of its metrics.
        kind: "binary" (one logit), "multiclass" (``num_classes`` logits), "regression" (one
            value) or "ranking" (a logit for every item of the catalogue).
        label: batch key of the label: 0/1 floats (binary), class indices (multiclass), item
            indices (ranking) or floats (regression).
        num_classes: outputs per sample: 1 for binary and regression, K for multiclass, the
            item vocabulary size for ranking.
        uses_candidate: whether the head sees the candidate item. Tasks about the next event
            itself (next item, next category) must not: on positive samples the candidate *is*
            the next item, so seeing it would leak the answer.
        only_positives: the label is defined on click = 1 samples only (the true next item);
            other samples are left out of the task's loss and metrics.
        weight: the task's weight when losses are summed with fixed weights.
        pos_weight: binary tasks: the loss weight of a positive sample (``losses.binary_loss``).
        focal_gamma: binary tasks: the focal-loss exponent; 0 gives plain cross-entropy.
    """

    name: str
    kind: TaskKind
    label: str
    num_classes: int = 1
    uses_candidate: bool = True
    only_positives: bool = False
    weight: float = 1.0
    pos_weight: float = 1.0
    focal_gamma: float = 0.0

    def sample_mask(self, batch: Batch) -> torch.Tensor:
        """(B,) bool: the samples that carry this task's label (a NaN label is none)."""
        label = batch[self.label]
        mask = (
            ~torch.isnan(label)
            if label.is_floating_point()
            else torch.ones_like(label, dtype=torch.bool)
        )
        if self.only_positives:
            return mask & (batch["click"] > 0.5)
        return mask

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean loss over the samples that carry the label (0 if none does).

        Binary tasks use binary cross-entropy on the logit (weighted by ``pos_weight`` and
        modulated by ``focal_gamma``, see ``course_lib.losses``), multiclass and ranking tasks
        cross-entropy on the logits (for ranking: a softmax over the whole catalogue), and
        regression the squared error.

        Shape:
            output: (B,) for binary and regression, (B, num_classes) otherwise -> scalar
        """
        mask = self.sample_mask(batch)  # (B,)
        output, label = output[mask], batch[self.label][mask]
        if label.numel() == 0:
            return output.sum() * 0.0  # keeps the graph; no NaN from an empty mean
        if self.kind == "binary":
            return binary_loss(output, label, self.pos_weight, self.focal_gamma)
        return LOSSES[self.kind](output, label)

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """The output as probabilities (binary: sigmoid; multiclass, ranking: softmax)."""
        if self.kind == "binary":
            return torch.sigmoid(output)
        if self.kind == "regression":
            return output
        return output.softmax(dim=-1)


def _cross_entropy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), label.long())


LOSSES: dict[TaskKind, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "multiclass": _cross_entropy,
    "ranking": _cross_entropy,
    "regression": lambda value, label: F.mse_loss(value.float(), label.float()),
}


def standard_tasks(num_items: int, num_categories: int, num_behaviors: int) -> dict[str, Task]:
    """The course's five tasks on a behavior log (see ``course_lib.data.samples``).

    Args:
        num_items, num_categories: vocabulary sizes, PAD and UNK included.
        num_behaviors: number of behavior classes (4 for pv, fav, cart, buy).
    """
    return {
        "click": Task("click", "binary", "click"),
        "buy": Task("buy", "binary", "buy"),  # click and purchase, on every sample (as ESMM)
        "next_behavior": Task(
            "next_behavior", "multiclass", "next_behavior", num_behaviors, only_positives=True
        ),
        "next_item": Task(
            "next_item", "ranking", "next_item", num_items, False, only_positives=True
        ),
        "next_category": Task(
            "next_category", "multiclass", "next_category", num_categories, False, True
        ),
    }


def explicit_tasks() -> dict[str, Task]:
    """The tasks of explicit feedback, whose labels come from the log's ``value`` column
    (a rating): like (rating >= the threshold of ``prepare``) and the rating itself."""
    return {
        "like": Task("like", "binary", "like"),
        "rating": Task("rating", "regression", "rating"),
    }


def label_rates(tasks: Sequence[Task], samples: Samples) -> dict[str, torch.Tensor]:
    """Each task's label distribution on the samples that carry its label.

    Binary tasks get P(label = 1), shape (1,); multiclass and ranking tasks the frequency of
    every class, shape (num_classes,); regression tasks the mean label, shape (1,). Used to
    start each output layer at its prior (``MultiTaskModel.init_output_biases``).
    """
    positives = samples.click > 0.5
    rates = {}
    for task in tasks:
        label = getattr(samples, task.label)
        if label is None:
            raise ValueError(
                f"task {task.name!r} reads the label {task.label!r}, which these samples do not "
                "have: rating and like need a log with a value column (explicit feedback)"
            )
        label = label[positives] if task.only_positives else label
        if label.dtype.kind == "f":
            label = label[~np.isnan(label)]  # samples without the label (unrated ones)
        if task.kind in ("multiclass", "ranking"):
            counts = np.bincount(label, minlength=task.num_classes)
            rates[task.name] = torch.as_tensor(counts / max(len(label), 1), dtype=torch.float32)
        else:
            rates[task.name] = torch.tensor([float(np.mean(label))])
    return rates


def check_labels_are_valid(task: Task, batch: Batch) -> None:
    """Raise a clear error when a ranking or class label is out of range for its task."""
    if task.kind not in ("multiclass", "ranking"):
        return
    label = batch[task.label][task.sample_mask(batch)]
    low = NUM_RESERVED if task.kind == "ranking" else 0
    bad = label[(label < low) | (label >= task.num_classes)]
    if bad.numel():
        raise ValueError(
            f"task {task.name!r}: labels in batch[{task.label!r}] must be in "
            f"[{low}, {task.num_classes}); got {bad[:5].tolist()}"
        )
