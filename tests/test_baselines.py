"""Baselines: popularity and repeat-last-category for the next item; damped biases for pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.baselines import BiasBaseline, PopularityBaseline, RepeatLastCategoryBaseline
from course_lib.data import PreparedData, make_loader, prepare
from course_lib.metrics import RankingAccumulator, rank_of_target
from course_lib.simulate import SimulatorConfig, rating_limits, simulate

# Items 2..6; items 2, 3 are in category 2 and items 4, 5, 6 in category 3.
ITEM_CATEGORY = np.array([0, 1, 2, 2, 3, 3, 3])
TRAIN_TARGETS = np.array([5, 5, 5, 3, 3, 2, 4, 4, 6, 5])  # popularity 5 > 3 = 4 > 2 = 6


def hand_batch(history_category: list[list[int]], lengths: list[int]) -> dict:
    """A batch with just the fields the baselines read."""
    categories = torch.tensor(history_category, dtype=torch.int64)
    return {
        "history_item": torch.full_like(categories, 2),
        "history_category": categories,
        "lengths": torch.tensor(lengths),
    }


def descending(row: torch.Tensor) -> list[int]:
    """Item indices by decreasing score, ties by index."""
    return torch.sort(row, descending=True, stable=True).indices.tolist()


def test_popularity_ranks_the_most_frequent_item_first_and_pad_unk_last() -> None:
    baseline = PopularityBaseline().fit(TRAIN_TARGETS, num_items=7)
    scores = baseline.scores(hand_batch([[2, 3], [3, 0]], [2, 1]))
    assert scores.shape == (2, 7)
    assert torch.equal(scores[0], scores[1])  # the same list for everybody
    assert descending(scores[0]) == [5, 3, 4, 2, 6, 0, 1]
    assert torch.isneginf(scores[:, :2]).all()
    assert rank_of_target(scores, torch.tensor([5, 6])).tolist() == [0, 3]  # 6 ties with 2


def test_popularity_accepts_tensors_and_rejects_out_of_range_items() -> None:
    from_tensor = PopularityBaseline().fit(torch.as_tensor(TRAIN_TARGETS), 7).popularity
    assert torch.equal(from_tensor, PopularityBaseline().fit(TRAIN_TARGETS, 7).popularity)
    with pytest.raises(ValueError, match=r"must lie in \[0, 7\)"):
        PopularityBaseline().fit(np.array([2, 7]), num_items=7)
    with pytest.raises(RuntimeError, match="call fit"):
        PopularityBaseline().scores(hand_batch([[2]], [1]))


def test_repeat_last_category_puts_that_category_first_then_popularity() -> None:
    baseline = RepeatLastCategoryBaseline().fit(TRAIN_TARGETS, ITEM_CATEGORY)
    # Last real events: category 2 (position 2, before padding), category 3, no history.
    batch = hand_batch([[3, 3, 2, 0], [2, 2, 2, 3], [0, 0, 0, 0]], [3, 4, 0])
    scores = baseline.scores(batch)
    assert descending(scores[0]) == [3, 2, 5, 4, 6, 0, 1]  # category 2 first, 3 beats 2
    assert descending(scores[1]) == [5, 4, 6, 3, 2, 0, 1]  # category 3 first, then popularity
    assert descending(scores[2]) == [5, 3, 4, 2, 6, 0, 1]  # empty history: plain popularity
    assert torch.isneginf(scores[:, :2]).all()
    # The least popular in-category item still beats the most popular item outside it.
    assert scores[0, 2] > scores[0, 5]


def test_repeat_last_category_handles_a_batch_of_empty_histories() -> None:
    baseline = RepeatLastCategoryBaseline().fit(TRAIN_TARGETS, ITEM_CATEGORY)
    batch = hand_batch([[], []], [0, 0])
    popularity = PopularityBaseline().fit(TRAIN_TARGETS, 7).scores(batch)
    assert torch.equal(baseline.scores(batch), popularity)


@pytest.fixture(scope="module")
def simulated() -> PreparedData:
    """A small simulated log (300 users, 200 items, 8 categories), leave-last-out split."""
    config = SimulatorConfig(num_users=300, num_items=200, num_categories=8, seed=1)
    start, end = config.window
    return prepare(simulate(config).log, num_negatives=0, start=start, end=end)


def test_repeat_last_category_beats_popularity_on_a_simulated_log(
    simulated: PreparedData,
) -> None:
    num_items = len(simulated.vocabularies.item)
    baselines = {
        "popularity": PopularityBaseline().fit(simulated.train.next_item, num_items),
        "repeat": RepeatLastCategoryBaseline().fit(
            simulated.train.next_item, simulated.item_category
        ),
    }
    accumulators = {name: RankingAccumulator(ks=(10,)) for name in baselines}
    for batch in make_loader(simulated.dataset("test"), batch_size=64):
        for name, baseline in baselines.items():
            accumulators[name].update(baseline.scores(batch), batch["next_item"])
    hr = {name: accumulator.compute()["HR@10"] for name, accumulator in accumulators.items()}
    assert accumulators["repeat"].count == len(simulated.test) > 250
    # Seeds 0..5 give popularity 0.15-0.24 and repeat-last-category 0.54-0.61 (300 test users).
    assert hr["repeat"] > hr["popularity"] + 0.2
    assert hr["popularity"] > 10 / num_items  # popularity itself beats a random list


# ----------------------------------------------------------------------------- pointwise


def planted_ratings(num_users: int, num_items: int, per_user: int, seed: int = 0):
    """Ratings = 3 + user effect + item effect + noise(0.3), every user rating random items."""
    rng = np.random.default_rng(seed)
    user_effect, item_effect = rng.normal(0, 0.5, num_users), rng.normal(0, 0.8, num_items)
    user = np.repeat(np.arange(num_users), per_user)
    item = rng.integers(0, num_items, len(user))
    label = 3 + user_effect[user] + item_effect[item] + rng.normal(0, 0.3, len(user))
    return user, item, label, user_effect, item_effect


def test_biases_recover_planted_user_and_item_effects() -> None:
    user, item, label, user_effect, item_effect = planted_ratings(200, 50, 100)
    baseline = BiasBaseline(damping=1.0).fit(user, item, label)
    # one pass (items, then users on what items leave) finds each effect up to a little noise
    assert np.corrcoef(baseline.item_bias, item_effect)[0, 1] > 0.99
    assert np.corrcoef(baseline.user_bias, user_effect)[0, 1] > 0.97
    residual = label - baseline.predict(user, item)
    assert np.sqrt(np.mean(residual**2)) == pytest.approx(0.3, abs=0.02)  # the noise is left


def test_switching_biases_off_gives_the_mean_and_the_per_item_or_per_user_rates() -> None:
    user = np.array([0, 0, 1, 1, 1, 2])
    item = np.array([0, 1, 0, 1, 1, 1])
    label = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    mean = label.mean()
    np.testing.assert_allclose(
        BiasBaseline(users=False, items=False).fit(user, item, label).predict([0, 2], [1, 0]),
        [mean, mean],
    )
    per_item = BiasBaseline(users=False, damping=0.0).fit(user, item, label)
    np.testing.assert_allclose(per_item.predict([2, 2], [0, 1]), [1.0, 0.5])  # item like rates
    per_user = BiasBaseline(items=False, damping=0.0).fit(user, item, label)
    np.testing.assert_allclose(per_user.predict([0, 1, 2], [5, 5, 5]), [0.5, 1.0, 0.0])


def test_damping_shrinks_the_bias_of_a_user_with_few_labels() -> None:
    user = np.array([0] * 100 + [1] * 2 + [2] * 100)
    label = np.array([4.0] * 100 + [5.0] * 2 + [2.0] * 100)
    item = np.zeros(len(user), dtype=int)
    mean = label.mean()
    undamped = BiasBaseline(items=False, damping=0.0).fit(user, item, label)
    damped = BiasBaseline(items=False, damping=10.0).fit(user, item, label)
    assert undamped.predict([1], [0])[0] == pytest.approx(5.0)
    assert damped.predict([1], [0])[0] == pytest.approx(mean + 2 * (5.0 - mean) / 12)
    assert damped.predict([0], [0])[0] == pytest.approx(mean + 100 * (4.0 - mean) / 110)


def test_unseen_ids_get_no_bias_and_batches_are_scored_on_their_device() -> None:
    baseline = BiasBaseline().fit([0, 1], [0, 1], [5.0, 1.0])
    prediction = baseline.predict([7], [9])  # neither id was in training
    np.testing.assert_allclose(prediction, [baseline.mean])
    batch = {"user": torch.tensor([0, 7]), "candidate": torch.tensor([0, 9])}
    scores = baseline.scores(batch)
    assert scores.dtype == torch.float32 and scores.shape == (2,)
    np.testing.assert_allclose(scores.numpy(), baseline.predict([0, 7], [0, 9]), rtol=1e-6)


def test_bias_baseline_refuses_bad_input() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasBaseline().predict([0], [0])
    with pytest.raises(ValueError, match="damping must be a number >= 0"):
        BiasBaseline(damping=-1.0)
    with pytest.raises(ValueError, match="one entry per pair; got 2, 1 and 2"):
        BiasBaseline().fit([0, 1], [0], [1.0, 2.0])
    with pytest.raises(ValueError, match="encoded indices"):
        BiasBaseline().fit([-1], [0], [1.0])
    with pytest.raises(ValueError, match="missing or infinite"):
        BiasBaseline().fit([0], [0], [np.nan])
    with pytest.raises(ValueError, match="at least one labelled pair"):
        BiasBaseline().fit([], [], [])


def test_bias_baseline_beats_the_mean_but_not_the_truth_on_simulated_ratings() -> None:
    config = SimulatorConfig(num_users=800, num_items=300, num_categories=10, rating_rate=1.0)
    simulation = simulate(config)
    log = simulation.log[~simulation.truth.injected]
    user = log["user_id"].to_numpy() - 1  # the simulator's users are 1..U
    item = pd.factorize(log["item_id"])[0]
    stars = log["value"].to_numpy()
    train = np.arange(len(log)) % 4 != 0
    rmse = {}
    for name, baseline in {
        "mean": BiasBaseline(users=False, items=False),
        "user + item": BiasBaseline(),
    }.items():
        baseline.fit(user[train], item[train], stars[train])
        error = stars[~train] - baseline.predict(user[~train], item[~train])
        rmse[name] = float(np.sqrt(np.mean(error**2)))
    limit = rating_limits(
        simulation.truth,
        log["user_id"].to_numpy()[~train],
        log["item_id"].to_numpy()[~train],
        stars[~train],
    )["rating_rmse"]
    assert limit < rmse["user + item"] < rmse["mean"] - 0.05
