"""Scenarios: the simulator's knob, the truth behind it, the pipeline and the two model designs."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.checkpoint import load_checkpoint, save_checkpoint
from course_lib.data.dataset import BehaviorDataset, make_loader
from course_lib.data.pipeline import prepare
from course_lib.data.schema import LogValidationError
from course_lib.data.split import time_cut
from course_lib.data.vocab import PAD
from course_lib.models import build_model
from course_lib.models.factory import ARCHITECTURES
from course_lib.models.scenarios import StarLinear
from course_lib.recommendation import catalogue_scorer, recommend
from course_lib.simulate import SimulatorConfig, bayes_limit_auc, simulate
from course_lib.simulate.config import SCENARIOS
from course_lib.simulate.limits import true_probabilities
from course_lib.training import evaluate_ranking

SMALL = {"num_users": 300, "num_items": 200, "num_categories": 8, "events_per_user": 30}
SCENARIO_KNOBS = {"num_scenarios": 3, "scenario_shares": (0.6, 0.3, 0.1)}


@pytest.fixture(scope="module")
def world():
    """A small world of three scenarios of unequal traffic that behave differently."""
    return simulate(SimulatorConfig(**SMALL, **SCENARIO_KNOBS, scenario_strength=1.5))


@pytest.fixture(scope="module")
def data(world):
    start, end = world.config.window
    cut = functools.partial(time_cut, valid_start=end - 3 * 86_400, test_start=end - 2 * 86_400)
    return prepare(world.log, start=start, end=end, splitter=cut)


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        ({"num_scenarios": 0}, "num_scenarios"),
        ({"num_scenarios": len(SCENARIOS) + 1}, "num_scenarios"),
        ({"num_scenarios": 3, "scenario_shares": (0.5, 0.5)}, "scenario_shares"),
        ({"num_scenarios": 2, "scenario_shares": (0.7, 0.7)}, "scenario_shares"),
        ({"num_scenarios": 2, "scenario_strength": -0.1}, "scenario_strength"),
        ({"num_scenarios": 2, "rating_rate": 0.5}, "rating_rate"),
    ],
)
def test_config_rejects_impossible_scenario_knobs(knobs, named) -> None:
    with pytest.raises(ValueError, match=named):
        SimulatorConfig(**knobs)


def test_one_scenario_adds_no_column_and_several_change_only_items_and_behaviors(world) -> None:
    plain = simulate(SimulatorConfig(**SMALL))
    assert "scenario" not in plain.log
    same = ["user_id", "category_id", "timestamp"]  # the scenarios' own stream leaves these
    pd.testing.assert_frame_equal(plain.log[same], world.log[same])
    assert (plain.log["item_id"] != world.log["item_id"]).any()


def test_traffic_follows_the_shares(world) -> None:
    shares = world.log["scenario"].value_counts(normalize=True)
    expected = pd.Series(SCENARIO_KNOBS["scenario_shares"], index=list(SCENARIOS[:3]))
    np.testing.assert_allclose(shares[expected.index], expected, atol=0.02)


def test_strength_zero_makes_scenarios_alike() -> None:
    alike = simulate(SimulatorConfig(**SMALL, **SCENARIO_KNOBS, scenario_strength=0.0))
    plain = simulate(SimulatorConfig(**SMALL))
    pd.testing.assert_series_equal(alike.log["item_id"], plain.log["item_id"])
    pd.testing.assert_series_equal(alike.log["behavior"], plain.log["behavior"])


def test_item_proba_is_a_distribution_in_every_scenario(world) -> None:
    truth, items = world.truth, world.items["item_id"].to_numpy()
    for scenario in range(3):
        event = int(np.flatnonzero((truth.event_scenario == scenario) & ~truth.injected)[5])
        proba = truth.item_proba(np.full(len(items), event), items)
        assert proba.sum() == pytest.approx(1.0, abs=1e-6)


def test_buy_proba_is_calibrated_per_scenario(world) -> None:
    log = world.log[~world.truth.injected]
    proba = world.truth.buy_proba(log["user_id"], log["item_id"], log["scenario"])
    observed = log.assign(proba=proba, bought=log["behavior"] == "buy").groupby("scenario")
    rates, counts = observed[["proba", "bought"]].mean(), observed.size()
    assert rates["bought"].max() > 2 * rates["bought"].min()  # scenarios convert differently
    spread = np.sqrt(rates["proba"] * (1 - rates["proba"]) / counts)  # binomial std of a rate
    assert (np.abs(rates["proba"] - rates["bought"]) < 4 * spread).all(), (rates, spread)


def test_truth_needs_the_scenarios_of_a_multi_scenario_world(world) -> None:
    users, items = world.log["user_id"][:3], world.log["item_id"][:3]
    with pytest.raises(ValueError, match="scenarios="):
        world.truth.buy_proba(users, items)
    with pytest.raises(KeyError, match="scenario"):
        world.truth.buy_proba(users, items, np.array(["home", "radio", "home"]))


def test_pipeline_carries_each_events_scenario(world, data) -> None:
    vocabulary = data.vocabularies.scenario
    assert sorted(vocabulary.tokens) == sorted(SCENARIOS[:3])
    logged = world.log.loc[data.test.event_index, "scenario"].to_numpy()
    np.testing.assert_array_equal(vocabulary.decode(data.test.scenario), logged)
    batch = BehaviorDataset(data.sequences, data.test, max_len=10).batch(np.arange(40))
    assert batch["scenario"].tolist() == data.test.scenario[:40].tolist()
    history = batch["history_scenario"]
    assert ((history == PAD) == ~batch["mask"]).all()
    positions = batch["target"][0] - batch["lengths"][0] + torch.arange(int(batch["lengths"][0]))
    expected = data.sequences.scenario[positions.numpy()]
    assert history[0, : len(positions)].tolist() == expected.tolist()


def test_a_missing_scenario_is_named_with_its_row(world) -> None:
    log = world.log.head(50).copy()
    log.loc[7, "scenario"] = None
    with pytest.raises(LogValidationError, match=r"'scenario' has missing values: .*\(row 7\)"):
        prepare(log, source="shop.csv")


def test_bayes_limit_scores_each_sample_in_its_scenario(world, data) -> None:
    limit = bayes_limit_auc(world.truth, data.test, data.vocabularies, num_negatives=4)
    assert 0.8 < limit["click"] <= 1.0 and 0.8 < limit["buy"] <= 1.0
    proba = true_probabilities(world.truth, data.test, data.vocabularies, num_negatives=4)
    assert proba["buy"].shape == proba["click"].shape == (len(data.test),)
    assert (proba["buy"] <= proba["click"]).all()


@pytest.mark.parametrize("design", ["embedding", "star"])
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_aware_designs_start_as_the_scenario_blind_model(data, design, architecture) -> None:
    tasks = ["click", "buy"] if architecture == "esmm" else ["click", "buy", "next_item"]
    torch.manual_seed(0)
    blind = build_model(data, tasks, architecture=architecture, encoder="mean").eval()
    aware = build_model(
        data, tasks, architecture=architecture, encoder="mean", scenario_design=design
    ).eval()
    missing, unexpected = aware.load_state_dict(blind.state_dict(), strict=False)
    assert not unexpected and all(name.startswith("scenarios.") for name in missing)
    batch = BehaviorDataset(data.sequences, data.test).batch(np.arange(16))
    with torch.no_grad():
        expected, actual = blind(batch), aware(batch)
    for name in tasks:
        torch.testing.assert_close(actual[name], expected[name])


def test_star_layer_applies_each_samples_scenario_weights() -> None:
    torch.manual_seed(0)
    layer = StarLinear(4, 3, num_scenarios=5)
    with torch.no_grad():
        layer.scenario_weight[3].mul_(2.0)
        layer.scenario_bias[3].fill_(1.0)
    x, scenario = torch.randn(2, 4), torch.tensor([2, 3])
    out = layer(x, scenario)
    torch.testing.assert_close(out[0], layer.shared(x[0]))
    scaled = 2 * (layer.shared(x[1]) - layer.shared.bias)  # weight doubled, bias + 1
    torch.testing.assert_close(out[1], scaled + layer.shared.bias + 1)


def test_scenario_design_needs_scenarios_in_the_data_and_the_batch(data) -> None:
    plain = prepare(simulate(SimulatorConfig(**SMALL)).log)
    with pytest.raises(ValueError, match="no scenario column"):
        build_model(plain, ["click"], scenario_design="embedding")
    with pytest.raises(ValueError, match="scenario_design must be one of"):
        build_model(data, ["click"], scenario_design="towers")
    model = build_model(data, ["click"], encoder="mean", scenario_design="star")
    batch = BehaviorDataset(data.sequences, data.test).batch(np.arange(4))
    del batch["scenario"]
    with pytest.raises(ValueError, match="needs 'scenario'"):
        model(batch)


@pytest.mark.parametrize("design", ["embedding", "star"])
def test_checkpoint_round_trip_keeps_the_scenarios(tmp_path, data, design) -> None:
    torch.manual_seed(0)
    model = build_model(data, ["click", "buy"], encoder="mean", scenario_design=design).eval()
    with torch.no_grad():  # move the scenario weights away from their neutral start
        for parameter in model.scenarios.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    save_checkpoint(
        tmp_path / "m.pt",
        model,
        architecture="shared_bottom",
        encoder="mean",
        vocabularies=data.vocabularies,
    )
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.vocabularies.scenario.tokens == data.vocabularies.scenario.tokens
    batch = BehaviorDataset(data.sequences, data.test).batch(np.arange(16))
    with torch.no_grad():
        expected, actual = model(batch), loaded.model.eval()(batch)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0)


def test_next_behavior_proba_sums_over_the_items_of_the_events_scenario(world) -> None:
    truth, items = world.truth, world.items["item_id"].to_numpy()
    events = [int(np.flatnonzero(truth.event_scenario == s)[3]) for s in range(3)]
    for event, proba in zip(events, truth.next_behavior_proba(events), strict=True):
        user = np.full(len(items), world.log.loc[event, "user_id"])
        scenario = np.full(len(items), world.log.loc[event, "scenario"])
        item = truth.item_proba(np.full(len(items), event), items)
        expected = item @ truth.behavior_proba(user, items, scenario)
        np.testing.assert_allclose(proba, expected, rtol=1e-6)


def test_items_are_drawn_as_the_truth_says_in_every_scenario(world) -> None:
    """The mean quality and taste match of the drawn items, against their expectation."""
    truth, w = world.truth, world.truth.world
    items = world.items["item_id"].to_numpy()
    positions = truth._items(items)
    for scenario in range(3):
        events = np.flatnonzero((truth.event_scenario == scenario) & ~truth.injected)[:1500]
        proba = np.stack([truth.item_proba(np.full(len(items), e), items) for e in events])
        column = pd.Index(items).get_indexer(world.log.loc[events, "item_id"])  # (E,)
        drawn = positions[column]
        users = truth.event_user[events]
        match = w.user_taste[users] @ w.item_taste[positions].T  # (E, I) taste of every item
        for name, values, chosen in (
            ("quality", np.broadcast_to(w.item_quality[positions], proba.shape), None),
            ("taste", match, match[np.arange(len(events)), column]),
        ):
            expected = (proba * values).sum(axis=1)  # (E,) E[value of the drawn item]
            spread = np.sqrt((proba * values**2).sum(axis=1) - expected**2)
            got = w.item_quality[drawn] if chosen is None else chosen
            error = (got - expected).mean() / (spread.mean() / np.sqrt(len(events)))
            assert abs(error) < 4, (scenario, name, error)


def test_the_truth_as_if_in_one_scenario(world, data) -> None:
    home = world.truth.as_if_in("home")
    assert (home.event_scenario == 0).all() and (world.truth.event_scenario > 0).any()
    scenario = data.test.scenario == data.vocabularies.scenario.encode(np.array(["home"]))[0]
    ours = true_probabilities(world.truth, data.test, data.vocabularies, num_negatives=4)
    theirs = true_probabilities(home, data.test, data.vocabularies, num_negatives=4)
    np.testing.assert_allclose(ours["buy"][scenario], theirs["buy"][scenario])
    assert not np.allclose(ours["buy"][~scenario], theirs["buy"][~scenario])
    with pytest.raises(KeyError, match="scenario"):
        world.truth.as_if_in("radio")


@pytest.mark.parametrize("score_task", ["next_item", "buy"])
def test_recommend_lists_for_a_scenario(world, data, score_task) -> None:
    torch.manual_seed(0)
    tasks = ["click", "buy", "next_item"]
    model = build_model(data, tasks, encoder="mean", scenario_design="star").eval()
    with torch.no_grad():  # scenarios that score differently
        for parameter in model.scenarios.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    users = world.log["user_id"].unique()[:5]
    lists = {
        name: recommend(model, data, users, k=5, score_task=score_task, scenario=name)
        for name in ("home", "item_page")
    }
    assert all(len(frame) == 25 for frame in lists.values())
    home, item_page = (lists[name][["p_click", "p_buy"]].to_numpy() for name in lists)
    if score_task == "buy":  # the scenario changes every candidate score
        assert not np.allclose(home, item_page)
    with pytest.raises(ValueError, match=r"scenario= one of \['home'"):
        recommend(model, data, users, k=5, score_task=score_task)
    with pytest.raises(ValueError, match="unknown scenario 'radio'"):
        recommend(model, data, users, k=5, score_task=score_task, scenario="radio")


def test_ranking_evaluation_of_a_star_model_reads_each_samples_scenario(data) -> None:
    torch.manual_seed(0)
    model = build_model(data, ["click", "buy"], encoder="mean", scenario_design="star").eval()
    loader = make_loader(data.dataset("test", 10), 256)
    result = evaluate_ranking(catalogue_scorer(model, "click"), loader, "cpu")
    assert 0.0 <= result["HR@10"] <= 1.0, result
