"""Metrics of every task of a multi-task model, per task kind (notebook 04).

Each task kind has its own metrics, computed with scikit-learn where it has them:

| kind       | metrics                                                             |
| ---------- | ------------------------------------------------------------------- |
| binary     | roc_auc, pr_auc, log_loss; accuracy, precision, recall, f1 at 0.5    |
| multiclass | accuracy, log_loss, macro f1                                        |
| regression | rmse                                                                |
| ranking    | HR@10, NDCG@10, MRR (streamed: the (N, V) scores are never kept)    |

``course_lib.training.evaluate_tasks`` gathers the outputs over a DataLoader; only the samples
that carry a task's label (``Task.sample_mask``) count. A metric that is not
defined on the data (AUC when every label is the same, anything without samples) is NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from sklearn import metrics as skm

from course_lib.tasks import Task

NAN = math.nan


def binary_metrics(label: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """AUC, PR AUC, log loss, and accuracy, precision, recall and F1 at threshold 0.5."""
    predicted = probability >= 0.5
    two_classes = len(np.unique(label)) == 2  # AUCs are undefined with one class
    return {
        "roc_auc": skm.roc_auc_score(label, probability) if two_classes else NAN,
        "pr_auc": skm.average_precision_score(label, probability) if two_classes else NAN,
        "log_loss": skm.log_loss(label, probability, labels=[0, 1]),
        "accuracy": skm.accuracy_score(label, predicted),
        "precision": skm.precision_score(label, predicted, zero_division=0),
        "recall": skm.recall_score(label, predicted, zero_division=0),
        "f1": skm.f1_score(label, predicted, zero_division=0),
    }


def multiclass_metrics(label: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Accuracy, log loss and macro F1 (over the classes present in labels or predictions).

    Shape:
        label: (N,) class indices; probability: (N, K), rows summing to 1
    """
    predicted = probability.argmax(axis=1)
    return {
        "accuracy": skm.accuracy_score(label, predicted),
        "log_loss": skm.log_loss(label, probability, labels=range(probability.shape[1])),
        "f1": skm.f1_score(label, predicted, average="macro", zero_division=0),
    }


def regression_metrics(label: np.ndarray, value: np.ndarray) -> dict[str, float]:
    """Root mean squared error."""
    return {"rmse": skm.root_mean_squared_error(label, value)}


SKLEARN_METRICS = {
    "binary": binary_metrics,
    "multiclass": multiclass_metrics,
    "regression": regression_metrics,
}
_NAMES = {
    "binary": ["roc_auc", "pr_auc", "log_loss", "accuracy", "precision", "recall", "f1"],
    "multiclass": ["accuracy", "log_loss", "f1"],
    "regression": ["rmse"],
    "ranking": ["HR@10", "NDCG@10", "MRR"],
}
NO_SAMPLES = {kind: dict.fromkeys(names, NAN) for kind, names in _NAMES.items()}  # all NaN


@torch.no_grad()
def task_metrics(task: Task, output: torch.Tensor, label: torch.Tensor) -> dict[str, float]:
    """The metrics of a non-ranking task from all its outputs and labels (on any device)."""
    if len(label) == 0:
        return dict(NO_SAMPLES[task.kind])
    # float64 on the CPU: exact probabilities for sklearn (and MPS has no float64)
    probability = task.probabilities(output.cpu().double()).numpy()
    metrics = SKLEARN_METRICS[task.kind](label.cpu().numpy(), probability)
    return {name: float(value) for name, value in metrics.items()}


def metrics_table(results: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The results of ``evaluate_tasks`` as a table: one row per task, one column per metric.

    A metric that does not apply to a task (AUC of a ranking task) is NaN.
    """
    return pd.DataFrame.from_dict(results, orient="index").rename_axis("task")
