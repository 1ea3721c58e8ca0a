"""Tests for the multi-task models: shared-bottom (and single-task), MMoE, PLE and ESMM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import NUM_RESERVED, PAD
from course_lib.env import set_seed
from course_lib.models import (
    ARCHITECTURES,
    ESMMSettings,
    LSTMEncoder,
    MMoESettings,
    MultiTaskModel,
    PLESettings,
    SharedBottomSettings,
    build_model,
)
from course_lib.models.esmm import product_logit
from course_lib.tasks import Task, label_rates, standard_tasks

D, H = 8, 12  # embed_dim, hidden_dim of every tiny model
Batch = dict[str, torch.Tensor]
MULTI_TASK = list(ARCHITECTURES)
NAMES = ["single_task", *MULTI_TASK]  # single-task: shared-bottom on the first task alone
TINY = {  # each architecture's own sizes, tiny
    "shared_bottom": SharedBottomSettings(bottom_dims=(16,)),
    "mmoe": MMoESettings(num_experts=3, expert_dims=(16,)),
    "ple": PLESettings(num_levels=2, expert_dims=(16,)),  # 2: the shared gate between levels
    "esmm": ESMMSettings(bottom_dims=(16,)),
}


def all_tasks(prepared: PreparedData) -> dict[str, Task]:
    vocab = prepared.vocabularies
    return standard_tasks(len(vocab.item), len(vocab.category), 4)


def build(
    name: str,
    prepared: PreparedData,
    tasks: list[Task] | None = None,
    seed: int = 0,
    next_item_prior: bool = False,
    pair_biases: bool = False,
) -> MultiTaskModel:
    """A tiny model of one architecture (or "single_task"), on every standard task unless told
    otherwise."""
    torch.manual_seed(seed)
    tasks = list(all_tasks(prepared).values()) if tasks is None else tasks
    architecture = "shared_bottom" if name == "single_task" else name
    return build_model(
        prepared,
        tasks[:1] if name == "single_task" else tasks,
        architecture=architecture,
        encoder="lstm",
        embed_dim=D,
        hidden_dim=H,
        tower_dims=(8,),
        next_item_prior=next_item_prior,
        pair_biases=pair_biases,
        settings=TINY[architecture],
    )


@pytest.fixture(scope="module")
def batch(small_prepared: PreparedData) -> Batch:
    """40 training samples (positives and their negatives), histories of at most 10 events."""
    return small_prepared.dataset("train", max_len=10).batch(np.arange(40))


def with_an_empty_history(batch: Batch) -> Batch:
    """The batch with its first history emptied: a user's first event, with nothing before it."""
    emptied = {key: value.clone() for key, value in batch.items()}
    for key in ("history_item", "history_category", "history_behavior"):
        emptied[key][0] = PAD
    emptied["mask"][0] = False
    emptied["lengths"][0] = 0
    return emptied


@pytest.mark.parametrize("name", NAMES)
def test_every_task_has_an_output_of_the_right_shape(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    outputs = model(batch)
    B = len(batch["click"])
    assert list(outputs) == [task.name for task in model.tasks]
    for task in model.tasks:
        expected = (B,) if task.kind == "binary" else (B, task.num_classes)
        assert outputs[task.name].shape == expected, task.name
        assert torch.isfinite(model.predict(batch)[task.name]).all()


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_history_is_a_normal_input(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    before, after = model(batch), model(with_an_empty_history(batch))
    for task_name in before:
        assert torch.isfinite(after[task_name]).all(), task_name
        torch.testing.assert_close(after[task_name][1:], before[task_name][1:])


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name, small_prepared, batch):
    model = build(name, small_prepared)
    batch = with_an_empty_history(batch)  # so that the encoder's empty state is used too
    outputs = model(batch)
    sum(task.loss(outputs[task.name], batch) for task in model.tasks).backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", ["mmoe", "ple"])
def test_gates_are_probabilities(name, small_prepared, batch):
    model = build(name, small_prepared)
    gates = model.gate_weights(batch)
    assert set(gates) == set(model.candidate_tasks)
    for gate in gates.values():
        assert not gate.requires_grad
        assert (gate >= 0).all()
        torch.testing.assert_close(gate.sum(dim=-1), torch.ones(len(gate)))


def test_esmm_buy_is_click_times_cvr(small_prepared, batch):
    model = build("esmm", small_prepared).eval()
    outputs = model(batch)
    p_click, p_buy = outputs["click"].sigmoid(), outputs["buy"].sigmoid()
    assert (p_buy <= p_click + 1e-7).all()  # the cascade never lets p(buy) exceed p(click)
    p_conversion = model.cvr_logit(batch).sigmoid()  # p(buy | click)
    torch.testing.assert_close(p_buy, p_click * p_conversion, atol=1e-5, rtol=0)


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


@pytest.mark.parametrize("name", NAMES)
def test_padding_changes_nothing(name, small_prepared, batch):
    model = build(name, small_prepared).eval()
    padded = dict(batch)
    for key in ("history_item", "history_category", "history_behavior", "mask"):
        padded[key] = F.pad(batch[key], (0, 3))  # three more PAD (0, False) columns
    before, after = model(batch), model(padded)
    for task_name in before:
        torch.testing.assert_close(before[task_name], after[task_name], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
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
    with pytest.raises(ValueError, match=r"encoder\.output_dim"):
        build_model(small_prepared, ["click"], encoder=LSTMEncoder(D, H + 1), hidden_dim=H)


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


@pytest.mark.parametrize("name", MULTI_TASK)
def test_output_biases_start_at_the_label_priors(name, small_prepared) -> None:
    """Built with label_rates, mean predictions sit near each task's base rate."""
    names = ["click", "buy", "next_behavior", "next_item"]
    rates = label_rates([all_tasks(small_prepared)[name] for name in names], small_prepared.train)
    assert rates["click"].item() == pytest.approx(0.2)
    set_seed(0)
    model = build_model(
        small_prepared, names, architecture=name, embed_dim=8, hidden_dim=12, label_rates=rates
    )
    dataset = small_prepared.dataset("train", max_len=10)
    batch = dataset.batch(np.arange(2000))
    probabilities = model.eval().predict(batch)
    for name in ("click", "buy"):
        assert probabilities[name].mean().item() == pytest.approx(rates[name].item(), rel=0.5)
    positives = batch["click"] > 0.5
    behavior = probabilities["next_behavior"][positives].mean(dim=0)
    torch.testing.assert_close(behavior, rates["next_behavior"], atol=0.1, rtol=0.0)
    if name == "esmm":
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
    rating = Task("rating", "regression", "rating")
    with pytest.raises(ValueError, match=r"have none; add one \(click, say\)"):
        build("shared_bottom", small_prepared, [rating, tasks["next_item"]], next_item_prior=True)


def test_next_item_prior_lifts_binary_logits_and_leaves_a_rating_alone(small_prepared, batch):
    tasks = all_tasks(small_prepared)
    rating = Task("rating", "regression", "rating")
    chosen = [tasks["click"], rating, tasks["next_item"]]
    model = build("shared_bottom", small_prepared, chosen, next_item_prior=True).eval()
    assert list(model.prior_weight) == ["click"]
    with torch.no_grad():
        before = model(batch)
        model.prior_weight["click"].fill_(3.0)
        after = model(batch)
    torch.testing.assert_close(after["rating"], before["rating"], atol=0, rtol=0)
    assert not torch.allclose(after["click"], before["click"])


@pytest.mark.parametrize("name", MULTI_TASK)
def test_pair_biases_start_at_zero_and_shift_single_output_candidate_tasks(
    name, small_prepared, batch
):
    plain, biased = build(name, small_prepared), build(name, small_prepared, pair_biases=True)
    assert biased.offset_tasks == ["click", "buy"]  # next_behavior has 4 outputs
    assert biased.user_offset.weight.shape == (len(small_prepared.vocabularies.user), 2)
    with torch.no_grad():
        before = biased.eval()(batch)
        for task_name, output in plain.eval()(batch).items():  # zero offsets: the same model
            torch.testing.assert_close(before[task_name], output, atol=0, rtol=0)
        user, candidate = batch["user"][0], batch["candidate"][0]
        biased.user_offset.weight[user, 0] = 0.5  # click
        biased.item_offset.weight[candidate, 0] = 0.25
        after = biased(batch)
    shifted = (batch["user"] == user).float() * 0.5 + (batch["candidate"] == candidate) * 0.25
    torch.testing.assert_close(after["click"], before["click"] + shifted)
    if name != "esmm":  # ESMM's buy is built from its click logit, so it moves with it
        torch.testing.assert_close(after["buy"], before["buy"], atol=0, rtol=0)
    torch.testing.assert_close(after["next_behavior"], before["next_behavior"], atol=0, rtol=0)
    model = build(name, small_prepared, pair_biases=True)
    outputs = model(batch)
    sum(task.loss(outputs[task.name], batch) for task in model.tasks).backward()
    seen = torch.zeros(len(small_prepared.vocabularies.user), dtype=torch.bool)
    seen[batch["user"]] = True
    gradient = model.user_offset.weight.grad
    assert (gradient[seen].abs().sum(dim=1) > 0).all() and (gradient[~seen] == 0).all()


def test_pair_biases_need_a_single_output_candidate_task(small_prepared):
    tasks = all_tasks(small_prepared)
    with pytest.raises(ValueError, match="pair_biases=True adds a user and an item offset"):
        build("shared_bottom", small_prepared, [tasks["next_item"]], pair_biases=True)


def test_the_factory_picks_tasks_by_name_and_sizes_from_the_data(small_prepared):
    vocab = small_prepared.vocabularies
    item_category = torch.zeros(len(vocab.item), dtype=torch.long)
    model = build_model(vocab, ["click", "next_item"], item_category=item_category)
    assert model.config.num_items == len(vocab.item) == model.tasks[1].num_classes
    assert torch.equal(model.item_category, item_category)
    conversion = Task("conversion", "binary", "buy", only_positives=True)
    mixed = build_model(small_prepared, ["click", conversion], architecture="mmoe")
    assert mixed.tasks == [all_tasks(small_prepared)["click"], conversion]
    assert isinstance(mixed.settings, MMoESettings) and mixed.encoder.output_dim == 32


def test_the_factory_refuses_what_does_not_fit(small_prepared):
    with pytest.raises(ValueError, match=r"unknown architecture 'moe'; choose from \['esmm'"):
        build_model(small_prepared, ["click"], architecture="moe")
    with pytest.raises(ValueError, match=r"unknown encoder 'rnn'"):
        build_model(small_prepared, ["click"], encoder="rnn")
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['clicks'\]"):
        build_model(small_prepared, ["clicks"])
    with pytest.raises(ValueError, match="'ple' takes PLESettings, got MMoESettings"):
        build_model(small_prepared, ["click"], architecture="ple", settings=MMoESettings())
    with pytest.raises(ValueError, match="needs item_category="):
        build_model(small_prepared.vocabularies, ["click"])
