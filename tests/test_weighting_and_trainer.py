"""Loss combination (MultiTaskLoss, FixedWeights) and the multi-task trainer ``fit``."""

from __future__ import annotations

import dataclasses
import inspect
import math

import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.tasks import Task
from course_lib.training import trainer
from course_lib.training.options import TrainOptions
from course_lib.training.trainer import FitResult, fit
from course_lib.training.weighting import FixedWeights, MultiTaskLoss, SumOfLosses, TaskWeighting

# The toy logs here have few validation positives on purpose: fit's warning about it is
# expected (tests/test_bad_input.py checks that it is given).
pytestmark = pytest.mark.filterwarnings("ignore:task .* the validation set holds:UserWarning")

NUM_ITEMS = 12
TASKS = [
    Task("click", "binary", "click"),
    Task("buy", "binary", "buy", weight=0.5),
    Task("next_behavior", "multiclass", "next_behavior", 4, only_positives=True),
]


class TinyModel(nn.Module):
    """A stand-in multi-task model: candidate and mean history embeddings, one head per task."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.item = nn.Embedding(NUM_ITEMS, dim)
        self.heads = nn.ModuleDict({"click": nn.Linear(2 * dim, 1), "buy": nn.Linear(2 * dim, 1)})
        self.heads["next_behavior"] = nn.Linear(2 * dim, 4)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = torch.cat([self.item(batch["candidate"]), self.item(batch["history_item"]).mean(1)], 1)
        outputs = {name: head(x) for name, head in self.heads.items()}  # (B, 2D) -> (B, K)
        return outputs | {name: outputs[name].squeeze(-1) for name in ("click", "buy")}


def make_batch(size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Labels that are functions of the candidate, so a model can fit them exactly."""
    generator = torch.Generator().manual_seed(seed)
    candidate = torch.randint(2, NUM_ITEMS, (size,), generator=generator)
    return {
        "history_item": torch.randint(2, NUM_ITEMS, (size, 5), generator=generator),
        "candidate": candidate,
        "click": (candidate % 2).float(),
        "buy": (candidate % 4 == 1).float(),
        "next_behavior": candidate % 4,
    }


def test_multitask_loss_gives_each_task_loss_and_the_weightings_combine_them() -> None:
    model, batch = TinyModel(), make_batch()
    outputs = model(batch)
    losses = MultiTaskLoss(TASKS)(outputs, batch)
    assert set(losses) == {"click", "buy", "next_behavior"}
    for task in TASKS:
        torch.testing.assert_close(losses[task.name], task.loss(outputs[task.name], batch))
    from_tasks = FixedWeights({task.name: task.weight for task in TASKS})  # fit's default
    torch.testing.assert_close(
        from_tasks.combine(losses), losses["click"] + 0.5 * losses["buy"] + losses["next_behavior"]
    )
    weights = FixedWeights({"click": 2.0, "buy": 0.0, "next_behavior": 1.0})
    torch.testing.assert_close(
        weights.combine(losses), 2 * losses["click"] + losses["next_behavior"]
    )
    torch.testing.assert_close(SumOfLosses().combine(losses), sum(losses.values()))


def test_multitask_loss_refuses_an_out_of_range_label_on_its_first_batch() -> None:
    model, batch = TinyModel(), make_batch()
    batch["next_behavior"][batch["click"] > 0.5] = 7  # four behaviors: classes 0..3
    with pytest.raises(ValueError, match=r"labels in batch\['next_behavior'\] must be in"):
        MultiTaskLoss(TASKS)(model(batch), batch)


def test_fixed_weights_and_the_loss_name_what_is_missing() -> None:
    with pytest.raises(KeyError, match="no weight for tasks"):
        FixedWeights({"click": 1.0}).combine(
            {"click": torch.tensor(1.0), "buy": torch.tensor(1.0)}
        )
    with pytest.raises(KeyError, match="no output for tasks"):
        MultiTaskLoss(TASKS)({"click": torch.zeros(3)}, make_batch(3))


def test_fit_overfits_a_small_batch_and_records_its_history() -> None:
    batch = make_batch()
    model = TinyModel()
    result = fit(
        model,
        TASKS,
        [batch] * 20,
        [batch],
        epochs=6,
        lr=0.05,
        patience=None,
        options=TrainOptions(device="cpu", progress=False),
    )
    history = result.history
    assert len(history) == 6 and history["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    losses = [f"train_loss/{name}" for name in ("click", "buy", "next_behavior", "total")]
    assert list(history.columns[:5]) == ["epoch", *losses]
    assert {"click/roc_auc", "buy/f1", "next_behavior/accuracy"} <= set(history.columns)
    assert list(history.columns[-2:]) == ["train_seconds", "seconds"]
    assert (history["train_seconds"] > 0).all()
    assert (history["train_seconds"] < history["seconds"]).all()  # validation takes time too
    assert result.train_seconds == pytest.approx(history["train_seconds"].sum())
    assert result.train_seconds < history["seconds"].sum() <= result.seconds
    assert history["train_loss/click"].iloc[-1] < 0.05
    assert result.best_score == history["click/roc_auc"].max() == 1.0
    assert result.seconds > 0


def test_same_seed_gives_the_same_history_and_no_output_without_progress(capsys) -> None:
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # the same initial weights; fit's seed covers the rest
        result = fit(
            TinyModel(),
            TASKS,
            [make_batch(seed=1)] * 3,
            [make_batch(seed=2)],
            epochs=2,
            seed=5,
            options=TrainOptions(device="cpu", progress=False),
        )
        runs.append(result.history.drop(columns=["train_seconds", "seconds"]))
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("metric", "scores", "best_epoch", "epochs_run"),
    [("roc_auc", [0.6, 0.9, 0.7, 0.5, 0.95], 2, 4), ("log_loss", [0.5, 0.4, 0.3, 0.6, 0.7], 3, 5)],
)
def test_early_stopping_restores_the_best_epoch(
    monkeypatch, metric, scores, best_epoch, epochs_run
) -> None:
    """A scripted validation curve: fit must stop after ``patience`` epochs without
    improvement and hand back the weights of the best epoch."""
    model = TinyModel()
    states = []

    def scripted(model, tasks, loader, device):
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"click": {metric: scores[len(states) - 1]}}

    monkeypatch.setattr(trainer, "evaluate_tasks", scripted)
    result = fit(
        model,
        TASKS,
        [make_batch()] * 3,
        [],
        epochs=5,
        lr=0.05,
        monitor=("click", metric),
        patience=2,
        options=TrainOptions(device="cpu", progress=False),
    )
    assert (result.best_epoch, result.best_score) == (best_epoch, scores[best_epoch - 1])
    assert len(result.history) == epochs_run
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, states[best_epoch - 1][key])


def test_a_weighted_monitor_picks_the_best_combination(monkeypatch) -> None:
    """Click AUC peaks at epoch 2 and log loss bottoms at epoch 3; AUC - log loss at epoch 4."""
    auc, log_loss = [0.70, 0.90, 0.60, 0.85, 0.50], [0.60, 0.60, 0.20, 0.30, 0.90]

    def scripted(model, tasks, loader, device):
        epoch = len(scripted.calls)
        scripted.calls.append(epoch)
        return {"click": {"roc_auc": auc[epoch], "log_loss": log_loss[epoch]}}

    scripted.calls = []
    monkeypatch.setattr(trainer, "evaluate_tasks", scripted)
    monitor = {("click", "roc_auc"): 1.0, ("click", "log_loss"): -1.0}
    result = fit(
        TinyModel(),
        TASKS,
        [make_batch()] * 2,
        [],
        epochs=5,
        monitor=monitor,
        patience=None,
        options=TrainOptions(device="cpu", progress=False),
    )
    assert result.best_epoch == 4
    assert result.best_score == pytest.approx(0.85 - 0.30)


def fit_one_epoch(train: list, valid: list | None = None, **arguments) -> FitResult:
    """``fit`` of a fresh TinyModel for one epoch on the CPU, without a progress bar."""
    return fit(
        TinyModel(),
        TASKS,
        train,
        [make_batch()] if valid is None else valid,
        epochs=1,
        options=TrainOptions(device="cpu", progress=False),
        **arguments,
    )


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        ({("click", "log_loss"): 1.0}, "log_loss .lower is better. needs a finite negative"),
        ({("click", "roc_auc"): -0.5}, "roc_auc .higher is better. needs a finite positive"),
        ({("click", "roc_auc"): float("nan")}, "needs a finite positive weight"),
        ({}, "names no metric"),
    ],
)
def test_a_weighted_monitor_must_be_higher_is_better(monitor, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit_one_epoch([make_batch()], monitor=monitor)


def test_a_learnable_weighting_is_optimised_with_the_model() -> None:
    class LearnedScale(TaskWeighting):
        def __init__(self) -> None:
            super().__init__()
            self.log_scale = nn.Parameter(torch.zeros(()))

        def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
            return self.log_scale.exp() * sum(losses.values()) + self.log_scale**2

    weighting = LearnedScale()
    fit_one_epoch([make_batch()] * 5, weighting=weighting)
    assert weighting.log_scale.item() < 0  # pulled down by the losses it scales


def test_a_bad_label_or_monitor_fails_clearly() -> None:
    batch = make_batch() | {"next_behavior": torch.full((32,), 7)}
    with pytest.raises(ValueError, match="next_behavior"):
        fit_one_epoch([batch], valid=[batch])
    with pytest.raises(KeyError, match="monitor"):
        fit_one_epoch([make_batch()], monitor=("click", "nope"))


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_the_learning_rate_follows_its_schedule_over_the_planned_steps(schedule) -> None:
    """Cosine: from lr down to zero after epochs x steps (the history holds each epoch's end)."""
    result = fit(
        TinyModel(),
        TASKS,
        [make_batch()] * 10,
        [make_batch(seed=1)],
        epochs=4,
        lr=0.01,
        # the schedule counts the steps actually taken per epoch
        patience=None,
        options=TrainOptions(
            device="cpu", lr_schedule=schedule, max_steps_per_epoch=5, progress=False
        ),
    )
    lrs = result.history["lr"].to_numpy()
    if schedule == "constant":
        assert lrs.tolist() == [0.01] * 4
    else:  # after 5, 10, 15, 20 of 20 steps: 0.01 * (1 + cos(pi * t / 20)) / 2
        expected = [0.01 * (1 + math.cos(math.pi * t / 20)) / 2 for t in (5, 10, 15, 20)]
        assert lrs == pytest.approx(expected, abs=1e-12)


def test_an_unknown_learning_rate_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match=r"lr_schedule='linear': choose from \['constant'"):
        fit(
            TinyModel(),
            TASKS,
            [make_batch()],
            [make_batch()],
            options=TrainOptions(lr_schedule="linear"),
        )


def _fit_steps(steps: int, ema_decay: float | None = None) -> tuple[TinyModel, pd.DataFrame]:
    """``steps`` optimizer steps from the same initial weights, in one epoch."""
    torch.manual_seed(0)
    model = TinyModel()
    result = fit(
        model,
        TASKS,
        [make_batch(seed=step) for step in range(steps)],
        [make_batch(seed=10)],
        epochs=1,
        lr=0.05,
        options=TrainOptions(device="cpu", ema_decay=ema_decay, progress=False),
    )
    return model, result.history


def test_weight_averaging_keeps_and_validates_the_moving_average_of_the_weights() -> None:
    """EMA: the average starts at the first step's weights, then after every step moves a
    fraction 1 - decay towards the new weights; training itself is unchanged."""
    decay, steps = 0.6, 4
    expected = None
    for step in range(1, steps + 1):  # the plain weights after 1, 2, ... steps
        weights = {k: v for k, v in _fit_steps(step)[0].named_parameters()}
        if expected is None:
            expected = weights
        else:
            expected = {k: decay * expected[k] + (1 - decay) * weights[k] for k in weights}
    averaged, history = _fit_steps(steps, ema_decay=decay)
    for name, value in averaged.named_parameters():
        torch.testing.assert_close(value, expected[name])
        assert not torch.allclose(value, weights[name])  # not the last step's weights
    plain_history = _fit_steps(steps)[1]
    losses = [column for column in history.columns if column.startswith("train_loss/")]
    pd.testing.assert_frame_equal(history[losses], plain_history[losses])
    valid = trainer.evaluate_tasks(averaged, TASKS, [make_batch(seed=10)], "cpu")
    assert history["click/log_loss"].item() == pytest.approx(valid["click"]["log_loss"])
    assert history["click/log_loss"].item() != plain_history["click/log_loss"].item()


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_an_ema_decay_outside_zero_to_one_is_refused(decay) -> None:
    with pytest.raises(ValueError, match=f"ema_decay={decay}: choose a value between 0 and 1"):
        fit(
            TinyModel(),
            TASKS,
            [make_batch()],
            [make_batch()],
            options=TrainOptions(ema_decay=decay),
        )


def test_fit_keeps_the_recipe_in_its_arguments_and_the_switches_in_train_options() -> None:
    """A new engineering switch goes into TrainOptions, not into fit's signature."""
    recipe = ["epochs", "lr", "weighting", "monitor", "patience", "seed", "options"]
    data = ["model", "tasks", "train_loader", "valid_loader"]
    assert list(inspect.signature(fit).parameters) == data + recipe
    switches = {field.name for field in dataclasses.fields(TrainOptions)}
    assert {"device", "mixed_precision", "compile", "ema_decay", "distributed"} <= switches
    assert not switches & set(recipe)
