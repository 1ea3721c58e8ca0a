"""Per-task metrics: evaluate_tasks against direct scikit-learn calls, masks and NaN cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from torch import nn

from course_lib.metrics import RankingAccumulator, metrics_table
from course_lib.tasks import Task
from course_lib.training import evaluate_tasks

TASKS = [
    Task("click", "binary", "click"),
    Task("next_behavior", "multiclass", "next_behavior", 4, only_positives=True),
    Task("next_item", "ranking", "next_item", 30, uses_candidate=False, only_positives=True),
    Task("rating", "regression", "rating"),
]


class Replay(nn.Module):
    """A 'model' whose outputs are stored in the batch, so the expected metrics are known."""

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {task.name: batch[f"output_{task.name}"] for task in TASKS}


def make_batches(seed: int = 0, sizes: tuple[int, ...] = (40, 25)) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for size in sizes:
        click = torch.rand(size, generator=generator) < 0.4
        batches.append(
            {
                "click": click.float(),
                "output_click": torch.randn(size, generator=generator) + 1.5 * click,
                "next_behavior": torch.randint(0, 4, (size,), generator=generator),
                "output_next_behavior": torch.randn(size, 4, generator=generator),
                "next_item": torch.randint(2, 30, (size,), generator=generator),
                "output_next_item": torch.randn(size, 30, generator=generator),
                "rating": torch.rand(size, generator=generator) * 5,
                "output_rating": torch.rand(size, generator=generator) * 5,
            }
        )
    return batches


def cat(batches: list[dict], key: str) -> torch.Tensor:
    return torch.cat([batch[key] for batch in batches])


def test_metrics_equal_direct_sklearn_calls_on_the_masked_samples() -> None:
    batches = make_batches()
    results = evaluate_tasks(Replay(), TASKS, batches, "cpu")
    click = cat(batches, "click").numpy()
    p_click = torch.sigmoid(cat(batches, "output_click").double()).numpy()
    expected = {
        "roc_auc": skm.roc_auc_score(click, p_click),
        "pr_auc": skm.average_precision_score(click, p_click),
        "log_loss": skm.log_loss(click, p_click),
        "accuracy": skm.accuracy_score(click, p_click >= 0.5),
        "precision": skm.precision_score(click, p_click >= 0.5),
        "recall": skm.recall_score(click, p_click >= 0.5),
        "f1": skm.f1_score(click, p_click >= 0.5),
    }
    assert results["click"] == pytest.approx(expected)
    positive = click > 0.5  # next_behavior counts only clicked samples
    label = cat(batches, "next_behavior").numpy()[positive]
    p_behavior = cat(batches, "output_next_behavior").double().softmax(-1).numpy()[positive]
    assert results["next_behavior"] == pytest.approx(
        {
            "accuracy": skm.accuracy_score(label, p_behavior.argmax(1)),
            "log_loss": skm.log_loss(label, p_behavior, labels=range(4)),
            "f1": skm.f1_score(label, p_behavior.argmax(1), average="macro"),
        }
    )
    rmse = skm.root_mean_squared_error(cat(batches, "rating"), cat(batches, "output_rating"))
    assert results["rating"] == pytest.approx({"rmse": rmse})


def test_ranking_metrics_match_the_accumulator_over_clicked_samples() -> None:
    batches = make_batches(seed=1)
    accumulator = RankingAccumulator((10,))
    for batch in batches:
        mask = batch["click"] > 0.5
        accumulator.update(batch["output_next_item"][mask], batch["next_item"][mask])
    results = evaluate_tasks(Replay(), TASKS, batches, "cpu")
    assert results["next_item"] == pytest.approx(accumulator.compute())
    assert set(results["next_item"]) == {"HR@10", "NDCG@10", "MRR"}


def test_one_class_labels_give_nan_aucs_without_warnings() -> None:
    batches = make_batches(seed=2)
    for batch in batches:
        batch["click"] = torch.zeros_like(batch["click"])  # no positives anywhere
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = evaluate_tasks(Replay(), TASKS, batches, "cpu")
    assert math.isnan(results["click"]["roc_auc"]) and math.isnan(results["click"]["pr_auc"])
    assert results["click"]["log_loss"] > 0 and results["click"]["f1"] == 0.0
    for task in ("next_behavior", "next_item"):  # only_positives tasks: no samples at all
        assert all(math.isnan(value) for value in results[task].values())


def test_metrics_table_has_a_row_per_task_and_nan_where_not_applicable() -> None:
    table = metrics_table(evaluate_tasks(Replay(), TASKS, make_batches(), "cpu"))
    assert table.index.tolist() == [task.name for task in TASKS]
    assert {"roc_auc", "HR@10", "rmse", "f1"} <= set(table.columns)
    assert np.isnan(table.loc["next_item", "roc_auc"]) and np.isnan(table.loc["click", "rmse"])
    assert table.loc["click", "roc_auc"] > 0.5
