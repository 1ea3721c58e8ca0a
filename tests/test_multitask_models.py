"""Tests for the multi-task models: shared-bottom (and single-task), MMoE, PLE and ESMM."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import NUM_RESERVED
from course_lib.env import set_seed
from course_lib.models import (
    ESMMModel,
    LSTMEncoder,
    MMoEModel,
    MultiTaskConfig,
    MultiTaskModel,
    PLEModel,
    SharedBottomModel,
)
from course_lib.models.esmm import product_logit
from course_lib.tasks import Task, label_rates, standard_tasks

D, H = 8, 12  # embed_dim, hidden_dim of every tiny model
Batch = dict[str, torch.Tensor]
Builder = Callable[[MultiTaskConfig, list[Task], LSTMEncoder, torch.Tensor], MultiTaskModel]
ARCHITECTURES: dict[str, Builder] = {
    "single_task": lambda config, tasks, *rest: SharedBottomModel(config, tasks[:1], *rest),
    "shared_bottom": SharedBottomModel,
    "mmoe": MMoEModel,
    "ple": PLEModel,
    "esmm": ESMMModel,
}
MULTI_TASK = ["shared_bottom", "mmoe", "ple", "esmm"]


def all_tasks(prepared: PreparedData) -> dict[str, Task]:
    vocab = prepared.vocabularies
    return standard_tasks(len(vocab.item), len(vocab.category), 4)


def tiny_config(prepared: PreparedData) -> MultiTaskConfig:
    vocab = prepared.vocabularies
    return MultiTaskConfig(
        num_items=len(vocab.item),
        num_categories=len(vocab.category),
        num_behaviors=len(vocab.behavior),
        embed_dim=D,
        hidden_dim=H,
        bottom_dims=(16,),
        tower_dims=(8,),
        num_experts=3,
        expert_dims=(16,),
        num_levels=2,  # PLE: exercises the shared gate between levels
    )


def build(
    name: str,
    prepared: PreparedData,
    tasks: list[Task] | None = None,
    seed: int = 0,
    **options,
) -> MultiTaskModel:
    """A tiny model of one architecture, on every standard task unless told otherwise.

    ``options`` change fields of the tiny config, e.g. ``next_item_prior=True``.
    """
    torch.manual_seed(seed)
    tasks = list(all_tasks(prepared).values()) if tasks is None else tasks
    config = dataclasses.replace(tiny_config(prepared), **options)
    item_category = torch.as_tensor(prepared.item_category)
    return ARCHITECTURES[name](config, tasks, LSTMEncoder(D, H), item_category)


@pytest.fixture(scope="module")
def batch(small_prepared: PreparedData) -> Batch:
    """40 training samples (positives and their negatives), histories of at most 10 events."""
    return small_prepared.dataset("train", max_len=10).batch(np.arange(40))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_task_has_an_output_of_the_right_shape(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    outputs = model(batch)
    B = len(batch["click"])
    assert list(outputs) == [task.name for task in model.tasks]
    for task in model.tasks:
        expected = (B,) if task.kind == "binary" else (B, task.num_classes)
        assert outputs[task.name].shape == expected, task.name
        assert torch.isfinite(model.predict(batch)[task.name]).all()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_gradients_reach_every_parameter(name, small_prepared, batch):
    model = build(name, small_prepared)
    outputs = model(batch)
    sum(task.loss(outputs[task.name], batch) for task in model.tasks).backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", ["mmoe", "ple"])
def test_gates_are_probabilities(name, small_prepared, batch):
    model = build(name, small_prepared)
    model(batch)
    assert set(model.last_gates) == set(model.candidate_tasks)
    for gate in model.last_gates.values():
        assert not gate.requires_grad
        assert (gate >= 0).all()
        torch.testing.assert_close(gate.sum(dim=-1), torch.ones(len(gate)))


def test_esmm_buy_is_click_times_cvr(small_prepared, batch):
    model = build("esmm", small_prepared).eval()
    outputs = model(batch)
    p_click, p_buy = outputs["click"].sigmoid(), outputs["buy"].sigmoid()
    assert (p_buy <= p_click + 1e-7).all()  # the cascade never lets p(buy) exceed p(click)
    torch.testing.assert_close(p_buy, p_click * model.last_cvr_logit.sigmoid(), atol=1e-5, rtol=0)


def test_product_logit_is_finite_and_exact_at_extremes():
    a = torch.tensor([-50.0, -5.0, 0.0, 3.0, 40.0, 40.0])
    c = torch.tensor([-50.0, 2.0, 0.0, -1.0, 40.0, -3.0])
    logit = product_logit(a, c)
    assert torch.isfinite(logit).all()
    expected = a.double().sigmoid() * c.double().sigmoid()
    torch.testing.assert_close(logit.double().sigmoid(), expected, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", MULTI_TASK)
def test_reserved_items_are_masked(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    logits = model(batch)["next_item"]
    assert (logits[:, :2] == torch.finfo(logits.dtype).min).all()  # PAD and UNK
    assert torch.isfinite(logits[:, 2:]).all()


@pytest.mark.parametrize("name", MULTI_TASK)
def test_candidate_free_heads_ignore_the_candidate(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    other = dict(batch, candidate=batch["candidate"].roll(1))
    other["candidate_category"] = batch["candidate_category"].roll(1)
    before, after = model(batch), model(other)
    for task in model.tasks:
        if not task.uses_candidate:
            torch.testing.assert_close(before[task.name], after[task.name], atol=0, rtol=0)
    assert not torch.allclose(before["click"], after["click"])  # the candidate is seen here


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_padding_changes_nothing(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    padded = dict(batch)
    for key in ("history_item", "history_category", "history_behavior", "mask"):
        padded[key] = F.pad(batch[key], (0, 3))  # three more PAD (0, False) columns
    before, after = model(batch), model(padded)
    for task_name in before:
        torch.testing.assert_close(before[task_name], after[task_name], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_same_seed_same_outputs(name, small_prepared, batch):
    first, second = build(name, small_prepared).eval(), build(name, small_prepared).eval()
    for task_name, output in first(batch).items():
        torch.testing.assert_close(output, second(batch)[task_name], atol=0, rtol=0)
    assert not torch.equal(
        first(batch)["click"], build(name, small_prepared, seed=1)(batch)["click"]
    )


def test_clear_errors(small_prepared):
    tasks = all_tasks(small_prepared)
    with pytest.raises(ValueError, match="ESMM needs a binary candidate task named 'buy'"):
        build("esmm", small_prepared, [tasks["click"], tasks["next_item"]])
    with pytest.raises(ValueError, match="unique"):
        build("mmoe", small_prepared, [tasks["click"], tasks["click"]])
    with pytest.raises(ValueError, match="at least one task"):
        build("shared_bottom", small_prepared, [])
    wrong_size = Task("next_item", "ranking", "next_item", 7, uses_candidate=False)
    with pytest.raises(ValueError, match=r"num_classes must be config\.num_items"):
        build("ple", small_prepared, [tasks["click"], wrong_size])
    item_category = torch.as_tensor(small_prepared.item_category)
    with pytest.raises(ValueError, match=r"encoder\.output_dim"):
        SharedBottomModel(
            tiny_config(small_prepared), [tasks["click"]], LSTMEncoder(D, H + 1), item_category
        )


@pytest.mark.parametrize("name", MULTI_TASK)
def test_it_learns(name, small_prepared):
    tasks = all_tasks(small_prepared)
    model = build(name, small_prepared, [tasks["click"], tasks["buy"]])
    dataset = small_prepared.dataset("train", max_len=10)
    order = np.random.default_rng(0).permutation(len(dataset))
    batches = [dataset.batch(order[i * 64 : (i + 1) * 64]) for i in range(20)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def click_loss() -> float:
        with torch.no_grad():
            return float(np.mean([tasks["click"].loss(model(b)["click"], b) for b in batches]))

    start = click_loss()
    for step in range(100):
        b = batches[step % len(batches)]
        outputs = model(b)
        loss = sum(task.loss(outputs[task.name], b) for task in model.tasks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    labels = torch.cat([b["click"] for b in batches]).float()
    base_rate = labels.mean().expand_as(labels)  # the best constant prediction
    constant_loss = float(F.binary_cross_entropy(base_rate, labels))
    final = click_loss()
    assert final < 0.8 * start
    assert final < 0.85 * constant_loss  # learned more than the share of clicks


@pytest.mark.parametrize("architecture", [SharedBottomModel, MMoEModel, PLEModel, ESMMModel])
def test_output_biases_start_at_the_label_priors(architecture, small_prepared) -> None:
    """After init_output_biases, mean predictions sit near each task's base rate."""
    vocab = small_prepared.vocabularies
    all_tasks = standard_tasks(len(vocab.item), len(vocab.category), 4)
    tasks = [all_tasks[name] for name in ("click", "buy", "next_behavior", "next_item")]
    set_seed(0)
    config = MultiTaskConfig(len(vocab.item), len(vocab.category), len(vocab.behavior), 8, 12)
    model = architecture(
        config, tasks, LSTMEncoder(8, 12), torch.as_tensor(small_prepared.item_category)
    )
    rates = label_rates(tasks, small_prepared.train)
    assert rates["click"].item() == pytest.approx(0.2)
    model.init_output_biases(rates)
    dataset = small_prepared.dataset("train", max_len=10)
    batch = dataset.batch(np.arange(2000))
    probabilities = model.eval().predict(batch)
    for name in ("click", "buy"):
        assert probabilities[name].mean().item() == pytest.approx(rates[name].item(), rel=0.5)
    positives = batch["click"] > 0.5
    behavior = probabilities["next_behavior"][positives].mean(dim=0)
    torch.testing.assert_close(behavior, rates["next_behavior"], atol=0.1, rtol=0.0)
    if architecture is ESMMModel:
        conversion = rates["buy"] / rates["click"]
        assert model.heads["buy"].bias.item() == pytest.approx(
            torch.logit(conversion).item(), rel=1e-5
        )


@pytest.mark.parametrize("name", MULTI_TASK)
def test_next_item_prior_adds_the_weighted_lift_to_the_candidate_logits(
    name, small_prepared, batch
):
    tasks = all_tasks(small_prepared)
    chosen = [tasks["click"], tasks["buy"], tasks["next_item"]]
    model = build(name, small_prepared, chosen, next_item_prior=True).eval()
    assert {key: weight.item() for key, weight in model.prior_weight.items()} == {
        "click": 1.0,
        "buy": 1.0,
    }
    with torch.no_grad():
        with_prior = model(batch)
        lift = model.candidate_log_lift(with_prior["next_item"], batch["candidate"])
        for weight in model.prior_weight.values():
            weight.fill_(0.0)
        without = model(batch)
    assert lift.abs().max() > 0.01  # the next-item head is not uniform: the test can tell
    torch.testing.assert_close(with_prior["click"], without["click"] + lift)
    if name != "esmm":  # ESMM's buy output is the product of click and CVR, checked above
        torch.testing.assert_close(with_prior["buy"], without["buy"] + lift)
    model.train()
    outputs = model(batch)
    sum(task.loss(outputs[task.name], batch) for task in model.tasks).backward()
    assert all(weight.grad.abs() > 0 for weight in model.prior_weight.values())


def test_the_lift_is_zero_for_a_uniform_guess_and_finite_for_unknown_items():
    V = NUM_RESERVED + 4  # four predictable items
    logits = torch.zeros(3, V)
    logits[:, :NUM_RESERVED] = torch.finfo(logits.dtype).min  # PAD and UNK, as forward masks
    logits[1, NUM_RESERVED] = math.log(2.0)  # twice as likely as each other item
    candidate = torch.tensor([NUM_RESERVED, NUM_RESERVED, 1])  # the last is UNK
    lift = MultiTaskModel.candidate_log_lift(logits, candidate)
    expected = torch.tensor([0.0, math.log(4 * 2 / 5), -20.0])  # p = 2/5 of 4 items
    torch.testing.assert_close(lift, expected)


def test_next_item_prior_needs_the_next_item_task(small_prepared):
    tasks = all_tasks(small_prepared)
    with pytest.raises(ValueError, match="add the next_item task or set next_item_prior=False"):
        build("shared_bottom", small_prepared, [tasks["click"]], next_item_prior=True)
    rating = Task("rating", "multiclass", "rating", 3, uses_candidate=True)
    with pytest.raises(ValueError, match=r"\['rating'\] are not binary"):
        build("shared_bottom", small_prepared, [rating, tasks["next_item"]], next_item_prior=True)
