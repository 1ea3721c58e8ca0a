"""Next-item baselines: popularity and repeat-last-category, by hand and on a simulated log."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.baselines import PopularityBaseline, RepeatLastCategoryBaseline
from course_lib.data import PreparedData, make_loader, prepare
from course_lib.metrics import RankingAccumulator, rank_of_target
from course_lib.simulate import SimulatorConfig, simulate

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
