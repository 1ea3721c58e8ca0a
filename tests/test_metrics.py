"""Ranking metrics: hand-computed values, PAD/UNK and exclusion rules, streaming, dtypes."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.metrics import RankingAccumulator, history_mask, rank_of_target, ranking_metrics

NUM_ITEMS = 10  # PAD, UNK and 8 real items 2..9


def scores_with_ranks(ranks: list[int], num_items: int = NUM_ITEMS) -> tuple[torch.Tensor, ...]:
    """Scores where user b's target (item 2 + b) has exactly ``ranks[b]`` real items above it.

    PAD and UNK score highest of all, so they would wreck every rank if they counted.
    """
    scores = torch.zeros(len(ranks), num_items)
    target = torch.arange(len(ranks)) + 2
    for b, rank in enumerate(ranks):
        others = [i for i in range(2, num_items) if i != target[b]]
        scores[b, target[b]] = 1.0
        scores[b, others[:rank]] = 2.0
    scores[:, :2] = 100.0
    return scores, target


def test_hand_computed_ranks_and_metrics() -> None:
    scores, target = scores_with_ranks([0, 2, 7])
    assert rank_of_target(scores, target).tolist() == [0, 2, 7]
    metrics = ranking_metrics(scores, target, ks=(1, 3))
    assert list(metrics) == ["HR@1", "NDCG@1", "HR@3", "NDCG@3", "MRR"]
    expected = {
        "HR@1": 1 / 3,
        "NDCG@1": 1 / 3,
        "HR@3": 2 / 3,
        "NDCG@3": (1 + 1 / math.log2(4)) / 3,  # ranks 0 and 2 count, 7 does not
        "MRR": (1 + 1 / 3 + 1 / 8) / 3,
    }
    assert metrics == pytest.approx(expected)


def test_pad_and_unk_never_outrank_the_target() -> None:
    scores = torch.tensor([[9.0, 9.0, 1.0, 0.0, 0.5]])
    assert rank_of_target(scores, torch.tensor([2])).item() == 0
    assert rank_of_target(scores, torch.tensor([3])).item() == 2


def test_ties_are_split_half_above_the_target() -> None:
    scores = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0, 2.0]])
    # item 5 is higher; items 2 and 4 tie with the target 3: one of the two counts
    assert rank_of_target(scores, torch.tensor([3])).item() == 2
    constant = torch.zeros(2, 42)  # a constant scorer lands mid-list, not at the top
    assert rank_of_target(constant, torch.tensor([2, 41])).tolist() == [19, 19]
    assert ranking_metrics(constant, torch.tensor([2, 41]))["HR@10"] == 0.0


def test_history_mask_marks_history_but_never_pad_or_target() -> None:
    history = torch.tensor([[3, 4, 5, 0], [2, 2, 0, 0]])  # right-padded with PAD
    mask = history_mask(history, num_items=7, target=torch.tensor([4, 6]))
    assert mask.tolist() == [
        [False, False, False, True, False, True, False],  # 4 is the target: kept
        [False, False, True, False, False, False, False],
    ]
    assert history_mask(history, num_items=7)[0, 4]


def test_exclude_drops_history_items_but_keeps_the_target() -> None:
    scores = torch.tensor([[0.0, 0.0, 5.0, 4.0, 3.0, 2.0, 1.0]])  # items 2..6, best first
    target = torch.tensor([5])
    history = torch.tensor([[2, 5, 4]])  # the target was seen before
    assert rank_of_target(scores, target).item() == 3
    exclude = history_mask(history, num_items=7, target=target)
    assert rank_of_target(scores, target, exclude).item() == 1  # only item 3 is left above
    everything = torch.ones(1, 7, dtype=torch.bool)  # excluding the target itself changes nothing
    assert rank_of_target(scores, target, everything).item() == 0


@pytest.mark.parametrize("bad_target", [0, 1])
def test_pad_or_unk_targets_raise(bad_target: int) -> None:
    scores, target = scores_with_ranks([0, 1, 2])
    target[1] = bad_target
    with pytest.raises(ValueError, match="1 of 3 targets are PAD"):
        ranking_metrics(scores, target)


@pytest.mark.parametrize(
    ("scores", "target", "message"),
    [
        (torch.zeros(2, 5), torch.tensor([2, 5]), "outside the 5 score columns"),
        (torch.zeros(2, 5), torch.tensor([2]), "scores must be"),
        (torch.tensor([[0.0, 0.0, 1.0, math.nan]]), torch.tensor([2]), "NaN"),
    ],
)
def test_bad_inputs_raise(scores: torch.Tensor, target: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rank_of_target(scores, target)


def test_bad_exclude_and_bad_ks_raise() -> None:
    scores, target = scores_with_ranks([0, 1])
    with pytest.raises(ValueError, match="exclude must be"):
        rank_of_target(scores, target, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least 1"):
        RankingAccumulator(ks=(0,))
    with pytest.raises(ValueError, match="no examples"):
        RankingAccumulator().compute()


def test_accumulator_over_split_batches_equals_one_shot() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(50, 30, generator=generator)
    target = torch.randint(2, 30, (50,), generator=generator)
    history = torch.randint(0, 30, (50, 8), generator=generator)
    exclude = history_mask(history, 30, target)
    one_shot = ranking_metrics(scores, target, ks=(5, 10), exclude=exclude)
    accumulator = RankingAccumulator(ks=(5, 10))
    for part in torch.arange(50).split([7, 20, 1, 22]):
        accumulator.update(scores[part], target[part], exclude[part])
    assert accumulator.count == 50
    assert accumulator.compute() == pytest.approx(one_shot, rel=1e-6)
    assert one_shot["HR@5"] < one_shot["HR@10"] < 1.0  # the random case is not degenerate


def test_k_larger_than_the_catalogue_hits_everything() -> None:
    scores, target = scores_with_ranks([0, 3, 7])
    metrics = ranking_metrics(scores, target, ks=(1000,))
    assert metrics["HR@1000"] == 1.0
    assert metrics["NDCG@1000"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(9)) / 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_scores_give_the_same_ranks(dtype: torch.dtype) -> None:
    scores, target = scores_with_ranks([0, 2, 7])
    assert rank_of_target(scores.to(dtype), target).tolist() == [0, 2, 7]
    assert rank_of_target(scores, target.int()).tolist() == [0, 2, 7]  # int32 targets too


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu() -> None:
    scores, target = scores_with_ranks([0, 2, 7])
    exclude = history_mask(torch.tensor([[3, 4], [2, 0], [9, 8]]), NUM_ITEMS, target)
    expected = ranking_metrics(scores, target, ks=(1, 3), exclude=exclude)
    on_gpu = [t.cuda() for t in (scores, target, exclude)]
    assert ranking_metrics(on_gpu[0], on_gpu[1], ks=(1, 3), exclude=on_gpu[2]) == expected
