"""Tests for list metrics, calibration and evaluation protocols (``course_lib.metrics``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import ndcg_score

from course_lib.data.vocab import NUM_RESERVED
from course_lib.metrics import (
    calibration_table,
    catalogue_coverage,
    compare_protocols,
    expected_calibration_error,
    history_mask,
    list_metrics,
    metrics_by_history_length,
    per_user_list_metrics,
    popularity_bias,
    rank_of_target,
    ranking_metrics,
    sampled_negatives,
    sampled_rank,
)


def lists_frame(lists: dict[str, list[str]]) -> pd.DataFrame:
    """Recommendation lists {user: [best item, ...]} as recommend's frame."""
    rows = [
        (user, rank, item) for user, items in lists.items() for rank, item in enumerate(items, 1)
    ]
    return pd.DataFrame(rows, columns=["user_id", "rank", "item_id"])


def relevant_frame(relevant: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(user, item) for user, items in relevant.items() for item in items]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.fixture
def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three users, lists of 3: u1 hits b at rank 2 of 2 relevant, u2 hits x at rank 1, u3
    misses."""
    recommendations = lists_frame(
        {"u1": ["a", "b", "c"], "u2": ["x", "y", "z"], "u3": ["a", "x", "q"]}
    )
    relevant = relevant_frame({"u1": ["b", "d", "d"], "u2": ["x"], "u3": ["s"]})
    return recommendations, relevant


def test_list_metrics_by_hand(tiny):
    per_user = per_user_list_metrics(*tiny, k=3)
    assert per_user["num_relevant"].tolist() == [2, 1, 1]  # the repeated d counts once
    assert per_user["hits"].tolist() == [1, 1, 0]
    np.testing.assert_allclose(per_user["precision@3"], [1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(per_user["recall@3"], [1 / 2, 1, 0])
    np.testing.assert_allclose(per_user["HR@3"], [1, 1, 0])
    ndcg_u1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))  # hit at rank 2; ideal: ranks 1, 2
    np.testing.assert_allclose(per_user["NDCG@3"], [ndcg_u1, 1, 0])
    means = list_metrics(*tiny, k=3)
    assert means["recall@3"] == pytest.approx(1 / 2)
    assert means["NDCG@3"] == pytest.approx((ndcg_u1 + 1) / 3)


def test_a_shorter_cut_off_only_reads_the_top_of_the_lists(tiny):
    per_user = per_user_list_metrics(*tiny, k=1)
    assert per_user["hits"].tolist() == [0, 1, 0]
    np.testing.assert_allclose(per_user["precision@1"], [0, 1, 0])


def test_ndcg_matches_scikit_learn_with_several_relevant_items():
    rng = np.random.default_rng(0)
    relevance = (rng.random((6, 20)) < 0.25).astype(float)
    relevance[:, 0] = 1.0  # every user has at least one relevant item
    scores = rng.random((6, 20))
    top = np.argsort(-scores, axis=1)[:, :5]
    recommendations = lists_frame({user: list(top[user]) for user in range(6)})
    relevant = relevant_frame({u: list(np.flatnonzero(relevance[u])) for u in range(6)})
    ours = list_metrics(recommendations, relevant, k=5)["NDCG@5"]
    assert ours == pytest.approx(ndcg_score(relevance, scores, k=5))


def test_one_relevant_item_gives_the_ranking_metrics_of_the_scores():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(50, 30, generator=generator)
    target = torch.randint(NUM_RESERVED, 30, (50,), generator=generator)
    valid = scores.clone()
    valid[:, :NUM_RESERVED] = -torch.inf
    top = valid.topk(10, dim=1).indices.numpy()
    recommendations = lists_frame({user: list(top[user]) for user in range(50)})
    relevant = relevant_frame({user: [int(target[user])] for user in range(50)})
    ours = list_metrics(recommendations, relevant, k=10)
    reference = ranking_metrics(scores, target, ks=(10,))
    assert ours["HR@10"] == pytest.approx(reference["HR@10"])
    assert ours["NDCG@10"] == pytest.approx(reference["NDCG@10"])


def test_list_metrics_refuse_a_cut_off_beyond_the_lists_and_users_without_a_list(tiny):
    recommendations, relevant = tiny
    with pytest.raises(ValueError, match="hold at most 3 items"):
        per_user_list_metrics(recommendations, relevant, k=4)
    with pytest.raises(ValueError, match="no list"):
        per_user_list_metrics(recommendations, relevant_frame({"u9": ["a"]}), k=3)


def test_catalogue_coverage_counts_each_item_once(tiny):
    recommendations, _ = tiny  # a, b, c, x, y, z, q: 7 distinct items
    assert catalogue_coverage(recommendations, catalogue_size=14) == pytest.approx(0.5)


def test_popularity_bias_by_hand():
    popularity = pd.Series({"a": 1, "b": 2, "c": 3, "d": 4})  # percentiles 12.5 .. 87.5
    recommendations = lists_frame({"u1": ["a", "d"], "u2": ["d", "c"]})
    relevant = relevant_frame({"u1": ["b"], "u2": ["b", "b"]})
    bias = popularity_bias(recommendations, relevant, popularity)
    assert bias["recommended"] == pytest.approx((12.5 + 87.5 + 87.5 + 62.5) / 4)
    assert bias["relevant"] == pytest.approx(37.5)
    assert bias["bias"] == pytest.approx(62.5 - 37.5)
    with pytest.raises(ValueError, match="no popularity"):
        popularity_bias(lists_frame({"u1": ["zz"]}), relevant, popularity)


def test_metrics_by_history_length_buckets_by_hand():
    per_user = pd.DataFrame({"HR@10": [1.0, 0.0, 1.0, 1.0]}, index=["u1", "u2", "u3", "u4"])
    lengths = pd.Series({"u1": 2, "u2": 7, "u3": 9, "u4": 30})
    table = metrics_by_history_length(per_user, lengths)
    assert table.index.tolist() == ["1–4", "5–9", "10–19", "20+"]
    assert table["users"].tolist() == [1, 2, 0, 1]
    np.testing.assert_allclose(table["HR@10"], [1.0, 0.5, np.nan, 1.0])
    with pytest.raises(ValueError, match="history_length"):
        metrics_by_history_length(per_user, lengths.drop("u4"))


def test_calibration_of_a_calibrated_sample_lies_on_the_diagonal():
    rng = np.random.default_rng(0)
    probability = rng.random(20_000)
    label = rng.random(20_000) < probability  # P(label = 1 | p) = p: calibrated
    table = calibration_table(label, probability, n_bins=10)
    assert len(table) == 10
    assert table["count"].sum() == 20_000
    np.testing.assert_allclose(table["observed_rate"], table["mean_predicted"], atol=0.03)
    assert expected_calibration_error(label, probability) < 0.02
    assert expected_calibration_error(label, probability**3) > 0.1  # overconfident in "no"


def test_quantile_bins_hold_equal_counts():
    rng = np.random.default_rng(1)
    probability = rng.random(1_000) ** 4  # crowded near 0, like a rare label
    label = rng.random(1_000) < probability
    table = calibration_table(label, probability, n_bins=5, strategy="quantile")
    assert table["count"].tolist() == [200] * 5


@pytest.fixture
def ranking_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores of 40 users over 60 items, their targets, and a history to exclude."""
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(40, 60, generator=generator)
    target = torch.randint(NUM_RESERVED, 60, (40,), generator=generator)
    history = torch.randint(NUM_RESERVED, 60, (40, 5), generator=generator)
    return scores, target, history_mask(history, 60, target)


def test_sampled_negatives_are_n_items_of_the_pool(ranking_case):
    _, target, exclude = ranking_case
    drawn = sampled_negatives(target, 60, num_negatives=20, exclude=exclude, seed=5)
    assert (drawn.sum(dim=1) == 20).all()
    assert not (drawn & exclude).any()
    assert not drawn[:, :NUM_RESERVED].any()
    assert not drawn.gather(1, target[:, None]).any()
    assert torch.equal(drawn, sampled_negatives(target, 60, 20, exclude, seed=5))
    assert not torch.equal(drawn, sampled_negatives(target, 60, 20, exclude, seed=6))


def test_sampled_rank_is_never_worse_and_equal_when_the_sample_is_the_pool(ranking_case):
    scores, target, exclude = ranking_case
    full = rank_of_target(scores, target, exclude)
    sampled = sampled_rank(scores, target, num_negatives=10, exclude=exclude)
    assert (sampled <= full).all()
    assert (sampled < full).any()
    everything = sampled_rank(scores, target, num_negatives=60, exclude=exclude)
    assert torch.equal(everything, full)


def test_compare_protocols_shows_both_side_by_side(ranking_case):
    scores, target, exclude = ranking_case
    table = compare_protocols(scores, target, num_negatives=10, ks=(5,), exclude=exclude)
    assert table.index.tolist() == ["full catalogue", "10 sampled negatives"]
    full = ranking_metrics(scores, target, ks=(5,), exclude=exclude)
    assert table.loc["full catalogue"].to_dict() == pytest.approx(full)
    assert table.loc["10 sampled negatives", "HR@5"] > table.loc["full catalogue", "HR@5"]
