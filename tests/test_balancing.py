"""Task balancing: parameter split, gradient diagnostics and each weighting rule's defining
property (PCGrad, GradNorm, uncertainty weighting, DWA, per-task learning rates)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.pipeline import PreparedData
from course_lib.models import MMoESettings, SharedBottomSettings, build_model
from course_lib.tasks import Task
from course_lib.training import (
    DynamicWeightAverage,
    FixedWeights,
    GradNorm,
    PCGrad,
    PerTaskLearningRates,
    TaskWeighting,
    UncertaintyWeighting,
    fit,
    gradient_report,
    project_conflicting,
    split_parameters,
    task_gradients,
)
from course_lib.training.options import TrainOptions
from course_lib.training.weighting import set_gradients

NAMES = ["click", "buy"]
TASKS = [Task("click", "binary", "click"), Task("buy", "binary", "buy")]
Batch = dict[str, torch.Tensor]
Losses = dict[str, torch.Tensor]


class TwoTaskModel(nn.Module):
    """A shared trunk and one linear head per task, in an ``nn.ModuleDict``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Linear(4, 8)
        self.heads = nn.ModuleDict({name: nn.Linear(8, 1) for name in NAMES})

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        hidden = torch.tanh(self.trunk(batch["x"]))  # (B, 4) -> (B, 8)
        return {name: head(hidden).squeeze(-1) for name, head in self.heads.items()}


def make_batch(size: int = 64, seed: int = 0) -> Batch:
    """Random features; the click label is a function of one feature, buy of another."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, 4, generator=generator)
    return {"x": x, "click": (x[:, 0] > 0).float(), "buy": (x[:, 1] > 0.5).float()}


def regression_losses(model: TwoTaskModel, batch: Batch, scale_buy: float = 1.0) -> Losses:
    """Squared errors against two linear targets of the features; buy's scaled by ``scale_buy``."""
    generator = torch.Generator().manual_seed(1)
    targets = batch["x"] @ torch.randn(4, 2, generator=generator)  # (B, 2)
    outputs = model(batch)
    return {
        "click": F.mse_loss(outputs["click"], targets[:, 0]),
        "buy": scale_buy * F.mse_loss(outputs["buy"], targets[:, 1]),
    }


def ids(params: Iterable[nn.Parameter]) -> list[int]:
    """Parameters by identity, for comparing parameter lists."""
    return [id(param) for param in params]


# ------------------------------------------------------------------------ split_parameters


def test_split_parameters_gives_the_trunk_as_shared_and_each_head_to_its_task() -> None:
    model = TwoTaskModel()
    shared, own = split_parameters(model, NAMES)
    assert ids(shared) == ids(model.trunk.parameters())
    for name in NAMES:
        assert ids(own[name]) == ids(model.heads[name].parameters())


def test_split_parameters_skips_frozen_parameters_and_lists_unknown_tasks_empty() -> None:
    model = TwoTaskModel()
    model.trunk.bias.requires_grad_(False)
    shared, own = split_parameters(model, [*NAMES, "absent"])
    assert ids(shared) == [id(model.trunk.weight)]
    assert own["absent"] == []


def tiny_multitask_model(architecture: str, prepared: PreparedData) -> nn.Module:
    """A tiny shared-bottom or MMoE model on the five standard tasks."""
    settings = {
        "shared_bottom": SharedBottomSettings(bottom_dims=(16,)),
        "mmoe": MMoESettings(num_experts=3, expert_dims=(16,)),
    }
    torch.manual_seed(0)
    return build_model(
        prepared,
        ["click", "buy", "next_behavior", "next_item", "next_category"],
        architecture=architecture,
        encoder="lstm",
        embed_dim=8,
        hidden_dim=12,
        tower_dims=(8,),
        settings=settings[architecture],
    )


def owned_by(model: nn.Module, name: str) -> set[int]:
    """Ids of the parameters the course model keeps under ``name`` in its task dicts."""
    owned = set()
    for container in ("towers", "gates", "heads"):
        modules = getattr(model, container, {})
        if name in modules:
            owned |= set(ids(modules[name].parameters()))
    if name in model.item_bias:
        owned.add(id(model.item_bias[name]))
    return owned


@pytest.mark.parametrize(
    ("architecture", "trunk"), [("shared_bottom", "bottom"), ("mmoe", "experts")]
)
def test_split_parameters_of_the_course_models(
    architecture: type, trunk: str, small_prepared: PreparedData
) -> None:
    model = tiny_multitask_model(architecture, small_prepared)
    names = [task.name for task in model.tasks]
    shared, own = split_parameters(model, names)
    every = ids(shared) + [i for name in names for i in ids(own[name])]
    assert sorted(every) == sorted(ids(model.parameters()))  # each exactly once
    for name in names:
        assert set(ids(own[name])) == owned_by(model, name) != set()
    assert len(own["click"]) > len(own["next_category"]) == 2  # tower + head; head only
    assert ids(own["next_item"]) == [id(model.item_bias["next_item"])]
    for module in (model.embedding, model.encoder, model.project, getattr(model, trunk)):
        assert set(ids(module.parameters())) <= set(ids(shared))


# ----------------------------------------------------------------------------- diagnostics


def test_gradient_report_of_linear_losses_gives_their_norms_and_cosine() -> None:
    w = nn.Parameter(torch.tensor([1.0, 2.0, -1.0]))
    u, v = torch.tensor([3.0, 4.0, 0.0]), torch.tensor([-4.0, 0.0, 3.0])
    losses = {"a": w @ u, "b": w @ v, "c": w.sum() * 0.0}  # gradients u, v and 0
    gradients = task_gradients(losses, [w])
    torch.testing.assert_close(gradients["a"], u)
    torch.testing.assert_close(gradients["b"], v)
    report = gradient_report(losses, gradients)
    expected = {
        "loss/a": 11.0,
        "loss/b": -7.0,
        "loss/c": 0.0,
        "grad_norm/a": 5.0,
        "grad_norm/b": 5.0,
        "grad_norm/c": 0.0,
        "cosine/a~b": -12 / 25,
        "cosine/a~c": 0.0,  # a zero gradient has cosine 0 with anything
        "cosine/b~c": 0.0,
    }
    assert report.keys() == expected.keys()
    for key, value in expected.items():
        assert report[key] == pytest.approx(value, abs=1e-6), key


def test_task_gradients_are_zero_on_parameters_a_task_does_not_reach() -> None:
    first, second = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(3))
    gradients = task_gradients({"a": (2 * first).sum(), "b": second.sum()}, [first, second])
    torch.testing.assert_close(gradients["a"], torch.tensor([2.0, 2, 0, 0, 0]))
    torch.testing.assert_close(gradients["b"], torch.tensor([0.0, 0, 1, 1, 1]))


def test_set_gradients_fills_empty_grads_and_adds_to_existing_ones() -> None:
    first, second = nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(3))
    second.grad = torch.ones(3)
    set_gradients([first, second], torch.arange(7.0))
    torch.testing.assert_close(first.grad, torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    torch.testing.assert_close(second.grad, torch.tensor([5.0, 6.0, 7.0]))


def test_fit_records_one_diagnostics_row_per_step() -> None:
    result = fit(
        TwoTaskModel(),
        TASKS,
        [make_batch(seed=seed) for seed in range(3)],
        [make_batch(seed=9)],
        epochs=2,
        patience=None,
        options=TrainOptions(device="cpu", diagnose_every=1, progress=False),
    )
    diagnostics = result.diagnostics
    assert set(diagnostics.columns) == {
        "step",
        "epoch",
        "loss/click",
        "loss/buy",
        "grad_norm/click",
        "grad_norm/buy",
        "cosine/click~buy",
    }
    assert diagnostics["step"].tolist() == [0, 1, 2, 0, 1, 2]
    assert diagnostics["epoch"].tolist() == [1, 1, 1, 2, 2, 2]
    assert (diagnostics["grad_norm/click"] > 0).all()
    assert diagnostics["cosine/click~buy"].between(-1, 1).all()


def test_fit_diagnoses_every_nth_step_and_none_by_default() -> None:
    train, valid = [make_batch(seed=seed) for seed in range(5)], [make_batch(seed=9)]
    every_two = fit(
        TwoTaskModel(),
        TASKS,
        train,
        valid,
        epochs=1,
        options=TrainOptions(device="cpu", diagnose_every=2, progress=False),
    )
    assert every_two.diagnostics["step"].tolist() == [0, 2, 4]
    plain = fit(
        TwoTaskModel(),
        TASKS,
        train,
        valid,
        epochs=1,
        options=TrainOptions(device="cpu", progress=False),
    )
    assert plain.diagnostics.empty


# ---------------------------------------------------------------------------------- PCGrad


def test_pcgrad_projects_two_conflicting_gradients_onto_each_others_normal_plane() -> None:
    gradients = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # dot product -1
    projected = project_conflicting(gradients, torch.Generator().manual_seed(0))
    # g1 - (g1.g2 / |g2|^2) g2 = (1, 0) + (-1, 1) / 2; g2 - (g2.g1 / |g1|^2) g1 = (0, 1)
    torch.testing.assert_close(projected, torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    assert (projected[0] @ gradients[1]).item() >= -1e-6
    assert (projected[1] @ gradients[0]).item() >= -1e-6


def test_pcgrad_leaves_agreeing_gradients_unchanged() -> None:
    gradients = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, -0.5], [0.0, 3.0, 1.0]])
    assert (gradients @ gradients.T >= 0).all()
    projected = project_conflicting(gradients, torch.Generator().manual_seed(0))
    torch.testing.assert_close(projected, gradients)


def test_pcgrad_two_random_tasks_never_conflict_after_projection() -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        gradients = torch.randn(2, 50, generator=generator)
        projected = project_conflicting(gradients, generator)
        assert (projected[0] @ gradients[1]).item() >= -1e-5
        assert (projected[1] @ gradients[0]).item() >= -1e-5


def sequential_projection(
    g: torch.Tensor, first: torch.Tensor, second: torch.Tensor
) -> torch.Tensor:
    """PCGrad's projection of ``g`` against ``first`` then ``second``, written out by hand."""
    for other in (first, second):
        dot = g @ other
        if dot < 0:
            g = g - dot / (other @ other) * other
    return g


def test_pcgrad_with_three_tasks_projects_against_the_others_in_some_order() -> None:
    """With three tasks only the last projection is guaranteed to leave no conflict: the
    next one may reintroduce a conflict with an earlier task. Each row must be one of the
    two sequential projections, and so agree with at least one other task."""
    generator = torch.Generator().manual_seed(1)
    conflicts_remaining = 0
    for _ in range(20):
        gradients = torch.randn(3, 50, generator=generator)
        projected = project_conflicting(gradients, generator)
        for i in range(3):
            j, k = (other for other in range(3) if other != i)
            candidates = [
                sequential_projection(gradients[i], gradients[j], gradients[k]),
                sequential_projection(gradients[i], gradients[k], gradients[j]),
            ]
            assert any(torch.allclose(projected[i], c, atol=1e-5) for c in candidates)
            dots = [projected[i] @ gradients[j], projected[i] @ gradients[k]]
            assert max(dots).item() >= -1e-5
            conflicts_remaining += min(dots).item() < -1e-5
    assert conflicts_remaining > 0  # the guarantee is really only for the last one


def test_pcgrad_with_three_tasks_removes_conflicts_with_orthogonal_others() -> None:
    gradients = torch.tensor([[-1.0, -2.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    projected = project_conflicting(gradients, torch.Generator().manual_seed(0))
    torch.testing.assert_close(projected[0], torch.tensor([0.0, 0.0, 1.0]))
    assert (projected[0] @ gradients[1:].T >= -1e-6).all()


def test_pcgrad_backward_fills_shared_grads_with_the_projected_sum() -> None:
    """Identical heads fitting opposite targets: the tasks' shared gradients conflict."""
    model, batch = TwoTaskModel(), make_batch()
    model.heads["buy"].load_state_dict(model.heads["click"].state_dict())
    shared, own = split_parameters(model, NAMES)
    outputs, target = model(batch), batch["x"][:, 0]
    losses = {
        "click": F.mse_loss(outputs["click"], target),
        "buy": F.mse_loss(outputs["buy"], -target),
    }
    g = task_gradients(losses, shared)
    g_click, g_buy = g["click"], g["buy"]
    dot = g_click @ g_buy
    assert dot < 0  # the case PCGrad exists for
    expected_shared = (
        g_click - dot / (g_buy @ g_buy) * g_buy + g_buy - dot / (g_click @ g_click) * g_click
    )
    expected_heads = torch.autograd.grad(
        losses["click"] + losses["buy"], own["click"] + own["buy"], retain_graph=True
    )
    total = PCGrad(NAMES).backward(losses, shared, own["click"] + own["buy"])
    torch.testing.assert_close(total, (losses["click"] + losses["buy"]).detach())
    torch.testing.assert_close(torch.cat([p.grad.flatten() for p in shared]), expected_shared)
    for param, grad in zip(own["click"] + own["buy"], expected_heads, strict=True):
        torch.testing.assert_close(param.grad, grad)


# -------------------------------------------------------------------------------- GradNorm


def weighted_norm_ratio(
    weighting: GradNorm, losses: Losses, shared: Sequence[nn.Parameter]
) -> float:
    """G_buy / G_click: the weighted gradient norms on the shared parameters."""
    norms = {name: g.norm().item() for name, g in task_gradients(losses, shared).items()}
    weights = weighting.weights()
    return weights["buy"] * norms["buy"] / (weights["click"] * norms["click"])


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_gradnorm_steers_the_weighted_gradient_norms_to_their_target(alpha: float) -> None:
    """Buy's loss is scaled by 10, so its gradient on the shared layer starts ~5x larger;
    GradNorm moves the ratio G_buy / G_click to its target (r_buy / r_click)^alpha, where r is
    each loss relative to its first value: exactly 1 for alpha = 0."""
    model, batch = TwoTaskModel(), make_batch()
    weighting = GradNorm(NAMES, alpha=alpha)
    shared, own = split_parameters(model, NAMES)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    first_ratio = weighted_norm_ratio(
        weighting, regression_losses(model, batch, scale_buy=10.0), shared
    )
    assert first_ratio > 3
    for _ in range(150):
        losses = regression_losses(model, batch, scale_buy=10.0)
        optimizer.zero_grad()
        weighting.backward(losses, shared, own["click"] + own["buy"])
        optimizer.step()
        weights = weighting.task_weights
        assert (weights > 0).all()
        assert weights.sum().item() == pytest.approx(2.0)
    losses = regression_losses(model, batch, scale_buy=10.0)
    relative = torch.stack([losses[name].detach() for name in NAMES]) / weighting.initial_losses
    target = (relative[1] / relative[0]).item() ** alpha
    ratio = weighted_norm_ratio(weighting, losses, shared)
    # The weights take fixed-size steps, so the ratio ends within ~25% of its target, where
    # it started at a factor of more than 3.
    assert abs(math.log(ratio / target)) < math.log(1.5) < abs(math.log(first_ratio / target))
    assert weighting.weights()["buy"] != pytest.approx(1.0, abs=0.1)  # the weights did move


def test_gradnorm_shared_gradient_is_the_weighted_sum_of_the_task_gradients() -> None:
    model, batch = TwoTaskModel(), make_batch()
    weighting = GradNorm(NAMES)
    weighting.task_weights.copy_(torch.tensor([1.5, 0.5]))
    shared, own = split_parameters(model, NAMES)
    losses = regression_losses(model, batch)
    g = task_gradients(losses, shared)
    expected_heads = torch.autograd.grad(
        1.5 * losses["click"] + 0.5 * losses["buy"], own["buy"], retain_graph=True
    )
    weighting.backward(losses, shared, own["click"] + own["buy"])
    flat = torch.cat([p.grad.flatten() for p in shared])
    torch.testing.assert_close(flat, 1.5 * g["click"] + 0.5 * g["buy"])
    for param, grad in zip(own["buy"], expected_heads, strict=True):
        torch.testing.assert_close(param.grad, grad)


# -------------------------------------------------------------------- UncertaintyWeighting


def test_uncertainty_weights_settle_at_the_inverse_losses() -> None:
    """d/ds (exp(-s) L + s) = 0 at exp(-s) = 1 / L: weights 10 and 0.5 for losses 0.1 and 2."""
    weighting = UncertaintyWeighting(NAMES)
    optimizer = torch.optim.Adam([weighting.log_variances], lr=0.05)
    losses = {"click": torch.tensor(0.1), "buy": torch.tensor(2.0)}
    assert weighting.weights() == {"click": 1.0, "buy": 1.0}
    for _ in range(300):
        optimizer.zero_grad()
        weighting.combine(losses).backward()
        optimizer.step()
    weights = weighting.weights()
    assert weights["click"] == pytest.approx(10.0, rel=0.02)
    assert weights["buy"] == pytest.approx(0.5, rel=0.02)


def test_uncertainty_combine_is_the_weighted_losses_plus_the_log_variances() -> None:
    weighting = UncertaintyWeighting(NAMES)
    with torch.no_grad():
        weighting.log_variances.copy_(torch.tensor([0.5, -1.0]))
    losses = {"buy": torch.tensor(3.0), "click": torch.tensor(2.0)}
    expected = math.exp(-0.5) * 2.0 + 0.5 + math.exp(1.0) * 3.0 - 1.0
    assert weighting.combine(losses).item() == pytest.approx(expected)


def test_uncertainty_log_variances_get_their_own_group_without_weight_decay() -> None:
    model, weighting = TwoTaskModel(), UncertaintyWeighting(NAMES, lr=0.05)
    groups = weighting.parameter_groups(model, lr=1e-3)
    assert len(groups) == 2
    assert ids(groups[0]["params"]) == ids(model.parameters())
    assert groups[0]["lr"] == 1e-3
    assert ids(groups[1]["params"]) == [id(weighting.log_variances)]
    assert (groups[1]["lr"], groups[1]["weight_decay"]) == (0.05, 0.0)
    optimizer = torch.optim.Adam(groups, weight_decay=0.1)
    assert optimizer.param_groups[1]["weight_decay"] == 0.0  # the group's own setting wins
    default = UncertaintyWeighting(NAMES, lr=None).parameter_groups(model, lr=1e-3)
    assert default[1]["lr"] == 1e-3


# ----------------------------------------------------------------------------------- DWA


def test_dwa_weights_are_one_until_two_periods_are_complete() -> None:
    weighting = DynamicWeightAverage(NAMES, period=2)
    for step in range(3):
        weighting.record(torch.tensor([1.0, 0.9**step]))
        assert weighting.weights() == {"click": 1.0, "buy": 1.0}


def test_dwa_gives_the_task_that_stopped_improving_the_larger_weight() -> None:
    """Click's loss is constant, buy's falls by 10% per period: ratios 1 and 0.9."""
    weighting = DynamicWeightAverage(NAMES, temperature=2.0, period=3)
    for period in range(2):
        for _ in range(3):
            weighting.record(torch.tensor([1.0, 0.9**period]))
    weights = weighting.weights()
    assert weights["click"] > weights["buy"]
    assert sum(weights.values()) == pytest.approx(2.0)
    expected = 2 * math.exp(1 / 2) / (math.exp(1 / 2) + math.exp(0.9 / 2))
    assert weights["click"] == pytest.approx(expected, rel=1e-5)


def test_dwa_gives_equal_weights_to_equal_loss_ratios_whatever_the_scale() -> None:
    weighting = DynamicWeightAverage(NAMES, period=1)
    weighting.record(torch.tensor([5.0, 0.2]))
    weighting.record(torch.tensor([4.0, 0.16]))  # both fall by 20%
    weights = weighting.weights()
    assert weights["click"] == pytest.approx(1.0) and weights["buy"] == pytest.approx(1.0)


def test_dwa_rejects_a_bad_temperature_or_period() -> None:
    with pytest.raises(ValueError, match="temperature"):
        DynamicWeightAverage(NAMES, temperature=0.0)
    with pytest.raises(ValueError, match="period"):
        DynamicWeightAverage(NAMES, period=0)


# ------------------------------------------------------------------ PerTaskLearningRates


def test_per_task_learning_rates_multiply_the_buy_tower_and_head_only(
    small_prepared: PreparedData,
) -> None:
    model = tiny_multitask_model("shared_bottom", small_prepared)
    groups = PerTaskLearningRates({"buy": 3.0}).parameter_groups(model, lr=0.01)
    assert [group["lr"] for group in groups] == [0.01, pytest.approx(0.03)]
    buy = [*model.towers["buy"].parameters(), *model.heads["buy"].parameters()]
    assert set(ids(groups[1]["params"])) == set(ids(buy))
    others = set(ids(model.parameters())) - set(ids(buy))
    assert set(ids(groups[0]["params"])) == others  # the click tower too: not multiplied
    assert len(groups[0]["params"]) == len(others)


def test_per_task_learning_rates_need_task_owned_parameters() -> None:
    with pytest.raises(ValueError, match=r"no parameters of its own for tasks \['buy'\]"):
        PerTaskLearningRates({"buy": 2.0}).parameter_groups(nn.Linear(3, 1), lr=0.01)
    with pytest.raises(ValueError, match="positive"):
        PerTaskLearningRates({"buy": 0.0})


# ---------------------------------------------------------------------- every rule in fit


def test_fixed_weights_report_their_weights() -> None:
    assert FixedWeights({"click": 1, "buy": 0.25}).weights() == {"click": 1.0, "buy": 0.25}


WEIGHTINGS: dict[str, Callable[[], TaskWeighting]] = {
    "fixed": lambda: FixedWeights({"click": 1.0, "buy": 0.5}),
    "per_task_lr": lambda: PerTaskLearningRates({"click": 1.0, "buy": 3.0}),
    "uncertainty": lambda: UncertaintyWeighting(NAMES),
    "gradnorm": lambda: GradNorm(NAMES),
    "dwa": lambda: DynamicWeightAverage(NAMES, period=2),
    "pcgrad": lambda: PCGrad(NAMES),
}


@pytest.mark.parametrize("name", WEIGHTINGS)
def test_fit_trains_with_every_weighting_and_records_its_weights(name: str) -> None:
    model, weighting = TwoTaskModel(), WEIGHTINGS[name]()
    before = [param.detach().clone() for param in model.parameters()]
    result = fit(
        model,
        TASKS,
        [make_batch(seed=seed) for seed in range(4)],
        [make_batch(seed=9)],
        epochs=1,
        lr=0.01,
        weighting=weighting,
        options=TrainOptions(device="cpu", progress=False),
    )
    row = result.history.iloc[-1]
    for task, weight in weighting.weights().items():
        assert row[f"weight/{task}"] == pytest.approx(weight)
    assert {"weight/click", "weight/buy"} <= set(result.history.columns)
    assert np.isfinite(row["train_loss/total"])
    for old, new in zip(before, model.parameters(), strict=True):
        assert not torch.equal(old, new)  # the trunk and both heads were trained
