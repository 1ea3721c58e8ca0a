"""Remedies for a rare positive label: weighted and focal losses, and oversampling."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.data.dataset import BehaviorDataset, make_loader, oversampling_weights
from course_lib.data.pipeline import PreparedData
from course_lib.losses import binary_loss
from course_lib.tasks import Task

LOGITS = torch.tensor([0.0, 2.0, -1.0, 3.0])
LABELS = torch.tensor([1.0, 0.0, 1.0, 1.0])


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def bce(logit: float, label: float) -> float:
    """Binary cross-entropy of one sample, by hand: -log of the true label's probability."""
    return -math.log(sigmoid(logit) if label == 1 else 1 - sigmoid(logit))


# ------------------------------------------------------------------------------ binary_loss


def test_binary_loss_of_a_zero_logit_is_log_two() -> None:
    value = binary_loss(torch.tensor([0.0]), torch.tensor([1.0]))
    assert value.item() == pytest.approx(math.log(2))
    focal = binary_loss(torch.tensor([0.0]), torch.tensor([1.0]), focal_gamma=2.0)
    assert focal.item() == pytest.approx(0.25 * math.log(2))  # (1 - 0.5)^2 * log 2


def test_binary_loss_matches_hand_computed_weighted_focal_values() -> None:
    pos_weight, gamma = 3.0, 2.0
    expected = []
    for logit, label in zip(LOGITS.tolist(), LABELS.tolist(), strict=True):
        p_true = sigmoid(logit) if label == 1 else 1 - sigmoid(logit)
        weight = pos_weight if label == 1 else 1.0
        expected.append(weight * (1 - p_true) ** gamma * bce(logit, label))
    value = binary_loss(LOGITS, LABELS, pos_weight=pos_weight, focal_gamma=gamma)
    assert value.item() == pytest.approx(sum(expected) / len(expected), rel=1e-6)


def test_focal_loss_shrinks_easy_samples_more_than_hard_ones() -> None:
    easy, hard = torch.tensor([4.0]), torch.tensor([-1.0])  # both with label 1
    label = torch.tensor([1.0])
    easy_ratio = binary_loss(easy, label, focal_gamma=2.0) / binary_loss(easy, label)
    hard_ratio = binary_loss(hard, label, focal_gamma=2.0) / binary_loss(hard, label)
    assert easy_ratio.item() == pytest.approx((1 - sigmoid(4.0)) ** 2, rel=1e-5)
    assert hard_ratio.item() == pytest.approx((1 - sigmoid(-1.0)) ** 2, rel=1e-5)
    assert easy_ratio < 0.01 < 0.5 < hard_ratio


def test_binary_loss_defaults_are_plain_binary_cross_entropy() -> None:
    torch.testing.assert_close(
        binary_loss(LOGITS, LABELS), F.binary_cross_entropy_with_logits(LOGITS, LABELS)
    )


def test_pos_weight_matches_torch_and_weights_only_the_positives() -> None:
    expected = F.binary_cross_entropy_with_logits(LOGITS, LABELS, pos_weight=torch.tensor(5.0))
    torch.testing.assert_close(binary_loss(LOGITS, LABELS, pos_weight=5.0), expected)
    negatives = torch.zeros(4)
    torch.testing.assert_close(
        binary_loss(LOGITS, negatives, pos_weight=5.0), binary_loss(LOGITS, negatives)
    )


@pytest.mark.parametrize(("pos_weight", "focal_gamma"), [(0.0, 0.0), (-1.0, 0.0), (1.0, -0.5)])
def test_binary_loss_rejects_bad_arguments(pos_weight: float, focal_gamma: float) -> None:
    with pytest.raises(ValueError, match="pos_weight > 0 and focal_gamma >= 0"):
        binary_loss(LOGITS, LABELS, pos_weight=pos_weight, focal_gamma=focal_gamma)


# ------------------------------------------------------------------------------------- Task


def test_binary_task_loss_uses_its_pos_weight_and_focal_gamma() -> None:
    task = Task("buy", "binary", "buy", pos_weight=4.0, focal_gamma=1.5)
    batch = {"buy": LABELS}
    torch.testing.assert_close(
        task.loss(LOGITS, batch), binary_loss(LOGITS, LABELS, pos_weight=4.0, focal_gamma=1.5)
    )
    plain = Task("buy", "binary", "buy").loss(LOGITS, batch)
    assert not torch.allclose(task.loss(LOGITS, batch), plain)


def test_task_checkpoint_round_trip_keeps_the_imbalance_settings() -> None:
    task = Task("buy", "binary", "buy", pos_weight=20.0, focal_gamma=2.0)
    restored = Task(**dataclasses.asdict(task))
    assert restored == task
    assert (restored.pos_weight, restored.focal_gamma) == (20.0, 2.0)


# ---------------------------------------------------------------------------- oversampling


def test_oversampling_weights_give_positives_the_factor() -> None:
    weights = oversampling_weights(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), 7.5)
    np.testing.assert_array_equal(weights, [1.0, 7.5, 1.0, 7.5])
    assert weights.dtype == np.float64
    np.testing.assert_array_equal(oversampling_weights(np.array([1, 0]), 1), [1.0, 1.0])


def test_oversampling_factor_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        oversampling_weights(np.array([0, 1]), 0.5)


@pytest.fixture(scope="module")
def train_dataset(small_prepared: PreparedData) -> BehaviorDataset:
    """The small log's training samples (buy rate about 0.6%), with short histories."""
    return small_prepared.dataset("train", max_len=5)


def drawn_buys(loader: torch.utils.data.DataLoader, num_batches: int) -> torch.Tensor:
    """The buy labels of the loader's first ``num_batches`` batches, concatenated."""
    return torch.cat([batch["buy"] for batch in itertools.islice(loader, num_batches)])


def test_oversampling_raises_the_positive_rate_by_about_the_factor(
    train_dataset: BehaviorDataset,
) -> None:
    factor, labels = 10.0, train_dataset.samples.buy
    true_rate = float(labels.mean())
    assert 0.001 < true_rate < 0.02  # rare, as the test assumes
    weights = oversampling_weights(labels, factor)
    loader = make_loader(train_dataset, batch_size=1024, seed=0, sample_weights=weights)
    buys = drawn_buys(loader, 30)
    assert len(buys) == 30 * 1024
    # Expected rate factor * p / (1 + (factor - 1) * p), about 9.5 p here; ~1700 positives
    # drawn, so the bounds are many standard deviations wide.
    expected = factor * true_rate / (1 + (factor - 1) * true_rate)
    drawn_rate = buys.mean().item()
    assert 0.8 * expected < drawn_rate < 1.2 * expected
    assert drawn_rate > 7 * true_rate


def test_oversampling_loader_is_reproducible_from_its_seed(
    train_dataset: BehaviorDataset,
) -> None:
    weights = oversampling_weights(train_dataset.samples.buy, 5.0)
    first, again, other = (
        list(itertools.islice(make_loader(train_dataset, 256, seed=s, sample_weights=weights), 3))
        for s in (4, 4, 5)
    )
    for a, b in zip(first, again, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key])
    assert not torch.equal(first[0]["candidate"], other[0]["candidate"])


def test_sample_weights_of_the_wrong_length_name_both_lengths(
    train_dataset: BehaviorDataset,
) -> None:
    N = len(train_dataset)
    with pytest.raises(ValueError, match=f"has {N - 1} entries for {N} samples"):
        make_loader(train_dataset, sample_weights=np.ones(N - 1))


def test_focal_loss_below_gamma_one_has_finite_gradients_on_confident_samples() -> None:
    logits = torch.tensor([20.0, 0.3], requires_grad=True)
    binary_loss(logits, torch.tensor([1.0, 0.0]), focal_gamma=0.5).backward()
    assert torch.isfinite(logits.grad).all()
