"""The closed loop (`course_lib.loop`, `simulate.slates`): slates, answers, policies, rounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.data.pipeline import PreparedData, prepare
from course_lib.loop import (
    Boltzmann,
    EpsilonGreedy,
    LoopSettings,
    ModelPolicy,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    gini,
    run_loop,
    top_k,
)
from course_lib.models import build_model
from course_lib.recommendation import recommend
from course_lib.simulate import Simulation, SimulatorConfig, simulate
from course_lib.simulate.slates import answer_slates, expected_outcomes, pick_proba

CONFIG = SimulatorConfig(num_users=200, num_items=120, num_categories=6, seed=11)
K = 5


@pytest.fixture(scope="module")
def world() -> Simulation:
    return simulate(CONFIG)


@pytest.fixture(scope="module")
def data(world: Simulation) -> PreparedData:
    return prepare(world.log, start=CONFIG.window[0])


@pytest.fixture(scope="module")
def users(world: Simulation, data: PreparedData) -> np.ndarray:
    """World indices of the users the prepared data kept."""
    return np.searchsorted(world.truth.world.user_ids, data.vocabularies.user.tokens)


def test_gini_is_zero_for_equal_exposure_and_near_one_for_one_item() -> None:
    assert gini(np.full(10, 3.0)) == 0.0
    assert gini(np.r_[np.zeros(9), 5.0]) == pytest.approx(0.9)
    counts = np.array([1.0, 2.0, 3.0, 10.0])
    pairs = np.abs(counts[:, None] - counts[None, :]).mean()
    assert gini(counts) == pytest.approx(pairs / (2 * counts.mean()))
    assert gini(np.zeros(4)) == 0.0


def test_top_k_is_the_k_largest_best_first() -> None:
    scores = np.random.default_rng(0).random((6, 40))
    np.testing.assert_array_equal(top_k(scores, 7), np.argsort(-scores, axis=1)[:, :7])


def test_expected_outcomes_are_the_mean_of_drawn_answers(world, users) -> None:
    truth, rng = world.truth, np.random.default_rng(0)
    slates = RandomPolicy(truth.world.num_items).slates(users[:20], K, rng)
    many_users = np.repeat(users[:20], 4_000)
    many_slates = np.repeat(slates, 4_000, axis=0)
    answers = answer_slates(truth, many_users, many_slates, rng)
    clicks, buys = expected_outcomes(truth, users[:20], slates)
    drawn_clicks = (answers.position > 0).reshape(20, -1).mean(1)
    drawn_buys = (answers.behavior == 3).reshape(20, -1).mean(1)
    np.testing.assert_allclose(drawn_clicks, clicks, atol=0.03)
    np.testing.assert_allclose(drawn_buys, buys, atol=0.01)
    picked = answers.position > 0
    np.testing.assert_array_equal(
        answers.item[picked], many_slates[picked, answers.position[picked] - 1]
    )
    assert (answers.item[~picked] == -1).all() and (answers.behavior[~picked] == -1).all()


def test_position_bias_makes_the_first_place_pay(world, users) -> None:
    truth = world.truth
    slates = RandomPolicy(truth.world.num_items).slates(users[:50], K, np.random.default_rng(1))
    plain = pick_proba(truth, users[:50], slates)
    biased = pick_proba(truth, users[:50], slates, position_bias=1.0)
    assert (plain.sum(1) < 1).all() and (biased.sum(1) < plain.sum(1)).all()
    share = biased / plain  # each place's pull, relative to no bias
    assert (np.diff(share, axis=1) < 0).all()  # falls with the place


def test_the_oracle_beats_popularity_and_random(world, users) -> None:
    truth, rng = world.truth, np.random.default_rng(2)
    buys = {}
    for policy in (
        OraclePolicy(truth),
        PopularityPolicy(world.log, truth),
        RandomPolicy(truth.world.num_items),
    ):
        buys[policy.name] = expected_outcomes(truth, users, policy.slates(users, K, rng))[1].mean()
    assert buys["oracle"] > buys["popularity"] > buys["random"]


def test_exploring_wrappers_change_only_what_they_promise(world, users) -> None:
    truth = world.truth
    oracle = OraclePolicy(truth)
    best = oracle.slates(users, K, np.random.default_rng(0))
    same = EpsilonGreedy(oracle, 0.0, truth.world.num_items)
    np.testing.assert_array_equal(same.slates(users, K, np.random.default_rng(0)), best)
    always = EpsilonGreedy(oracle, 1.0, truth.world.num_items).slates(
        users, K, np.random.default_rng(0)
    )
    assert not (always[:, :, None] == best[:, None, :]).any()  # every place explores
    assert all(len(set(row)) == K for row in always)  # and no item twice
    cold = Boltzmann(oracle, 1e-6).slates(users, K, np.random.default_rng(0))
    np.testing.assert_array_equal(cold, best)  # a frozen Boltzmann is greedy
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(oracle, 1.5, 10)


def test_a_model_policy_shows_what_recommend_lists(world, data, users) -> None:
    torch.manual_seed(0)
    model = build_model(data, ["click", "buy", "next_item"], embed_dim=8, hidden_dim=8).eval()
    policy = ModelPolicy(model, data, world.truth, "buy")
    slates = policy.slates(users[:3], K, np.random.default_rng(0))
    lists = recommend(model, data, world.truth.world.user_ids[users[:3]], k=K, score_task="buy",
                      exclude="none", max_len=20)  # fmt: skip
    shown = world.truth.world.item_ids[slates].reshape(-1)
    assert shown.tolist() == lists["item_id"].tolist()


def test_the_loop_logs_every_round_and_the_same_seed_repeats_it(world, users) -> None:
    settings = LoopSettings(k=K, sessions=2)

    def popularity(log: pd.DataFrame, round_number: int) -> PopularityPolicy:
        return PopularityPolicy(log, world.truth)

    first = run_loop(world, popularity, users, rounds=2, settings=settings, seed=3)
    again = run_loop(world, popularity, users, rounds=2, settings=settings, seed=3)
    pd.testing.assert_frame_equal(first.log, again.log)
    assert first.metrics["round"].tolist() == [1, 2]
    added = first.log[first.log["round"] > 0]
    assert added["position"].between(1, K).all() and len(added) > 0
    assert (first.log.loc[first.log["round"] == 0, "position"] == 0).all()
    prepared = prepare(first.log, start=CONFIG.window[0])  # the loop's log is a valid log
    assert prepared.sequences.num_events > world.log.shape[0] - 2 * len(added)
    oracle = run_loop(world, lambda log, r: OraclePolicy(world.truth), users, rounds=1)
    assert oracle.metrics["regret"].abs().max() < 1e-9
    assert (first.metrics["regret"] > 0).all()
    assert first.metrics[["coverage", "gini"]].stack().between(0, 1).all()


def test_the_loop_runs_a_scenario_aware_model_in_a_world_of_scenarios() -> None:
    config = SimulatorConfig(
        num_users=150, num_items=100, num_categories=5, seed=4, num_scenarios=2
    )
    shop = simulate(config)
    kept = prepare(shop.log, start=config.window[0]).vocabularies.user.tokens  # after cleaning
    users = np.flatnonzero(np.isin(shop.truth.world.user_ids, kept))[:40]

    def star_policy(log: pd.DataFrame, round_number: int) -> ModelPolicy:
        data = prepare(log, start=config.window[0])
        torch.manual_seed(round_number)
        model = build_model(data, ["click", "buy"], embed_dim=8, hidden_dim=8,
                            scenario_design="star")  # fmt: skip
        return ModelPolicy(model, data, shop.truth, "buy")

    result = run_loop(shop, star_policy, users, rounds=2, settings=LoopSettings(k=K), seed=0)
    added = result.log[result.log["round"] > 0]
    assert len(added) > 0 and (added["scenario"] == "home").all()  # slates are on the home feed
    assert result.log["scenario"].notna().all() and result.metrics["round"].tolist() == [1, 2]
