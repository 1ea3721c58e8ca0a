"""Tests for course_lib.data.samples, dataset and pipeline: from sequences to padded batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.data.dataset import BehaviorDataset, collate_batch, make_loader
from course_lib.data.pipeline import prepare
from course_lib.data.samples import BUY_INDEX, make_samples
from course_lib.data.schema import LogValidationError
from course_lib.data.sequences import Sequences, build_sequences
from course_lib.data.vocab import PAD, UNK

HISTORY_KEYS = ("history_item", "history_category", "history_behavior")


def tiny_sequences(items: list[list[int]], behaviors: list[list[int]] | None = None) -> Sequences:
    """Sequences of users 2, 3, ... with the given item indices; category = item + 100."""
    rows = [
        {"user": user, "item": item, "timestamp": step}
        for user, sequence in enumerate(items, start=2)
        for step, item in enumerate(sequence)
    ]
    frame = pd.DataFrame(rows)
    frame["category"] = frame["item"] + 100
    frame["behavior"] = 2 if behaviors is None else [b for seq in behaviors for b in seq]
    return build_sequences(frame)


# ------------------------------------------------------------------------------ make_samples


def test_samples_are_grouped_positive_first(small_prepared) -> None:
    sequences, item_category = small_prepared.sequences, small_prepared.item_category
    targets = small_prepared.split.test
    samples = make_samples(sequences, targets, item_category, num_negatives=4, seed=0)
    assert len(samples) == 5 * len(targets)
    np.testing.assert_array_equal(samples.target, np.repeat(targets, 5))
    np.testing.assert_array_equal(samples.click, np.tile([1, 0, 0, 0, 0], len(targets)))
    np.testing.assert_array_equal(samples.candidate[::5], sequences.item[targets])
    np.testing.assert_array_equal(samples.next_item, sequences.item[samples.target])
    np.testing.assert_array_equal(samples.next_category, sequences.category[samples.target])
    np.testing.assert_array_equal(samples.event_index, sequences.event_index[samples.target])
    np.testing.assert_array_equal(
        samples.user, sequences.users[sequences.event_user[samples.target]]
    )
    np.testing.assert_array_equal(samples.candidate_category, item_category[samples.candidate])
    np.testing.assert_array_equal(samples.next_behavior, sequences.behavior[samples.target] - 2)
    assert set(np.unique(samples.next_behavior)) == {0, 1, 2, 3}
    assert samples.click.dtype == samples.buy.dtype == np.float32
    assert list(samples.to_frame().columns)[:4] == ["target", "event_index", "user", "candidate"]
    assert len(samples.to_frame()) == len(samples)


def test_buy_label_only_on_positives_whose_event_is_a_buy(small_prepared) -> None:
    samples = small_prepared.train
    is_buy_event = small_prepared.sequences.behavior[samples.target] == BUY_INDEX
    np.testing.assert_array_equal(samples.buy, (samples.click == 1) & is_buy_event)
    assert samples.buy.sum() > 100
    assert small_prepared.vocabularies.behavior.encode(["buy"])[0] == BUY_INDEX


def test_negatives_are_real_items_other_than_the_positive(small_prepared) -> None:
    samples, num_items = small_prepared.train, len(small_prepared.item_category)
    negative = samples.click == 0
    assert (samples.candidate[negative] != samples.next_item[negative]).all()
    assert (samples.candidate[negative] >= 2).all()
    assert (samples.candidate[negative] < num_items).all()


def test_negatives_are_uniform_over_the_other_items(small_prepared) -> None:
    """Chi-square of the negative counts against 'uniform over every item but the positive'."""
    sequences, item_category = small_prepared.sequences, small_prepared.item_category
    num_items = len(item_category)
    targets = np.arange(sequences.num_events)
    samples = make_samples(sequences, targets, item_category, num_negatives=20, seed=3)
    negative = samples.click == 0
    observed = np.bincount(samples.candidate[negative], minlength=num_items)[2:]
    choices = num_items - 2 - 1  # every item but the positive
    excluded = np.bincount(sequences.item[targets], minlength=num_items)[2:] * 20
    expected = (negative.sum() - excluded) / choices
    chi_square = ((observed - expected) ** 2 / expected).sum()
    dof = num_items - 3
    assert chi_square < dof + 6 * np.sqrt(2 * dof), chi_square
    assert observed.min() > 0  # both ends of the range are drawn, too
    assert observed[0] > 0 and observed[-1] > 0


def test_no_negatives_keeps_only_positives(small_prepared) -> None:
    sequences, targets = small_prepared.sequences, small_prepared.split.valid
    samples = make_samples(sequences, targets, small_prepared.item_category, num_negatives=0)
    assert len(samples) == len(targets)
    assert (samples.click == 1).all()
    np.testing.assert_array_equal(samples.candidate, sequences.item[targets])


def test_negative_sampling_is_seeded(small_prepared) -> None:
    arguments = (small_prepared.sequences, small_prepared.split.test, small_prepared.item_category)
    first, again = make_samples(*arguments, seed=7), make_samples(*arguments, seed=7)
    np.testing.assert_array_equal(first.candidate, again.candidate)
    assert not np.array_equal(first.candidate, make_samples(*arguments, seed=8).candidate)


def test_unknown_positives_keep_unk_and_exclude_nothing() -> None:
    """With items 2 and 3 only, a positive 2 always gets negative 3, and an UNK positive gets
    both; a negative is never PAD or UNK."""
    sequences = tiny_sequences([[2, UNK, 2, UNK] * 50])
    item_category = np.array([PAD, UNK, 102, 103])
    samples = make_samples(sequences, np.arange(200), item_category, num_negatives=3, seed=0)
    groups = samples.candidate.reshape(200, 4)
    np.testing.assert_array_equal(groups[:, 0], sequences.item)
    assert (groups[::2, 1:] == 3).all()
    assert set(np.unique(groups[1::2, 1:])) == {2, 3}
    assert (samples.candidate_category[samples.candidate == UNK] == UNK).all()
    assert (samples.click[samples.candidate == UNK] == 1).all()


def test_negative_sampling_needs_two_items() -> None:
    sequences = tiny_sequences([[2, 2, 2]])
    with pytest.raises(ValueError, match="at least 2 items"):
        make_samples(sequences, np.arange(3), np.array([PAD, UNK, 102]), num_negatives=1)


# ---------------------------------------------------------------------------- BehaviorDataset


@pytest.mark.parametrize("max_len", [1, 5, 50])
def test_history_is_the_last_events_before_the_target(small_prepared, max_len: int) -> None:
    sequences, samples = small_prepared.sequences, small_prepared.train
    dataset = BehaviorDataset(sequences, samples, max_len=max_len)
    for index in np.random.default_rng(max_len).choice(len(dataset), 300, replace=False):
        example, target = dataset[index], samples.target[index]
        user = sequences.event_user[target]
        frame = sequences.user_frame(user)
        earlier = frame[frame.index != sequences.event_index[target]]
        earlier = earlier[earlier["timestamp"] < sequences.timestamp[target]].iloc[-max_len:]
        for name in ("item", "category", "behavior"):
            np.testing.assert_array_equal(example[f"history_{name}"].numpy(), earlier[name])
        assert example["user"].item() == sequences.users[user]
        assert example["candidate"].item() == samples.candidate[index]


def test_history_of_a_first_event_is_empty() -> None:
    sequences = tiny_sequences([[2, 3, 4], [5, 6]])
    samples = make_samples(sequences, np.array([0, 3, 4]), np.arange(7), num_negatives=1)
    dataset = BehaviorDataset(sequences, samples, max_len=10)
    assert [len(dataset[i]["history_item"]) for i in range(len(dataset))] == [0, 0, 0, 0, 1, 1]
    assert dataset[4]["history_item"].tolist() == [5]  # user 3's own event, not user 2's


def test_example_fields_and_dtypes(small_prepared) -> None:
    example = small_prepared.dataset("valid")[3]
    assert set(example) == {
        *HISTORY_KEYS,
        "user",
        "candidate",
        "candidate_category",
        "click",
        "buy",
        "next_behavior",
        "next_item",
        "next_category",
        "target",
    }
    assert example["target"].item() == small_prepared.valid.target[3]
    for key in HISTORY_KEYS:
        assert example[key].dtype == torch.int64
        assert example[key].ndim == 1
    assert example["click"].dtype == example["buy"].dtype == torch.float32
    assert example["next_behavior"].dtype == example["candidate"].dtype == torch.int64
    assert example["user"].ndim == 0


def test_dataset_rejects_max_len_below_one(small_prepared) -> None:
    with pytest.raises(ValueError, match="max_len must be at least 1, got 0"):
        BehaviorDataset(small_prepared.sequences, small_prepared.test, max_len=0)


# ------------------------------------------------------------------------------ collate_batch


def example(history: list[int], candidate: int, click: float) -> dict[str, torch.Tensor]:
    items = torch.tensor(history, dtype=torch.int64)
    return {
        "history_item": items,
        "history_category": items + 100,
        "history_behavior": torch.full_like(items, 2),
        "candidate": torch.tensor(candidate),
        "click": torch.tensor(click, dtype=torch.float32),
    }


def test_collate_pads_right_with_zero_and_gives_lengths_and_mask() -> None:
    batch = collate_batch([example([5, 6, 7], 9, 1.0), example([8], 10, 0.0), example([], 4, 0)])
    assert batch["history_item"].tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert batch["history_category"].tolist() == [[105, 106, 107], [108, 0, 0], [0, 0, 0]]
    assert batch["lengths"].tolist() == [3, 1, 0]
    assert batch["mask"].tolist() == [[True] * 3, [True, False, False], [False] * 3]
    assert batch["candidate"].tolist() == [9, 10, 4]
    assert batch["lengths"].dtype == torch.int64
    assert batch["mask"].dtype == torch.bool
    assert batch["history_item"].dtype == torch.int64
    assert batch["click"].dtype == torch.float32
    assert batch["click"].shape == (3,)


def test_appending_a_longer_example_changes_no_other_row(small_prepared) -> None:
    """Padding invariance: rows of a batch do not depend on what else is in the batch."""
    dataset = small_prepared.dataset("train", max_len=20)
    lengths = dataset.samples.target - dataset.history_start
    short = [int(i) for i in np.flatnonzero((lengths > 2) & (lengths < 10))[:4]]
    longest = int(np.argmax(lengths))
    alone = collate_batch([dataset[i] for i in short])
    together = collate_batch([dataset[i] for i in [*short, longest]])
    width = alone["history_item"].shape[1]
    for key, value in alone.items():
        if key.startswith("history_") or key == "mask":
            torch.testing.assert_close(together[key][:4, :width], value)
            assert not together[key][:4, width:].any()
        else:
            torch.testing.assert_close(together[key][:4], value)
    assert together["lengths"][4] == 20


# -------------------------------------------------------------------------------- make_loader


def batches(loader) -> list[dict[str, torch.Tensor]]:
    return list(loader)


def test_loader_with_the_same_seed_gives_the_same_batches(small_prepared) -> None:
    dataset = small_prepared.dataset("valid")
    first = batches(make_loader(dataset, batch_size=64, shuffle=True, seed=3))
    again = batches(make_loader(dataset, batch_size=64, shuffle=True, seed=3))
    other = batches(make_loader(dataset, batch_size=64, shuffle=True, seed=4))
    assert len(first) == len(again) == -(-len(dataset) // 64)
    for a, b in zip(first, again, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key])
    assert not torch.equal(first[0]["candidate"], other[0]["candidate"])


def test_loader_shuffles_a_permutation_and_keeps_order_without_shuffle(small_prepared) -> None:
    dataset = small_prepared.dataset("test")
    ordered = torch.cat([b["candidate"] for b in make_loader(dataset, batch_size=100)])
    np.testing.assert_array_equal(ordered.numpy(), dataset.samples.candidate)
    shuffled = torch.cat(
        [b["next_item"] for b in make_loader(dataset, batch_size=100, shuffle=True)]
    )
    assert not np.array_equal(shuffled.numpy(), dataset.samples.next_item)
    np.testing.assert_array_equal(np.sort(shuffled.numpy()), np.sort(dataset.samples.next_item))


def test_loader_pins_memory_only_for_cuda(small_prepared) -> None:
    dataset = small_prepared.dataset("test")
    assert not make_loader(dataset).pin_memory
    assert make_loader(dataset, device="cuda").pin_memory
    assert make_loader(dataset, device=torch.device("cuda:0")).pin_memory


# ------------------------------------------------------------------------------------ prepare


def test_prepare_end_to_end(small_simulation, small_prepared) -> None:
    data, log = small_prepared, small_simulation.log
    report = data.cleaning
    assert report.rows_in == len(log)
    assert report.rows_out + len(report.dropped) == report.rows_in
    injected = small_simulation.truth.injected
    start = small_simulation.config.window[0]
    counts = report.counts
    assert counts["duplicate"] == (injected & (log["timestamp"] >= start)).sum()
    assert counts["outside time window"] == (log["timestamp"] < start).sum()
    assert counts["user with too few events"] > 0  # min_events_per_user=5 > the simulator's 3
    assert data.sequences.num_events == report.rows_out
    assert (data.sequences.lengths >= 5).all()

    sizes = data.split.sizes()
    assert sizes["valid"] == sizes["test"] == data.sequences.num_users
    assert sizes["train"] == (data.sequences.lengths - 3).sum()
    for part in ("train", "valid", "test"):
        assert len(getattr(data, part)) == 5 * sizes[part]
        dataset = data.dataset(part, max_len=7)
        assert isinstance(dataset, BehaviorDataset)
        assert len(dataset) == len(getattr(data, part)) and dataset.max_len == 7
    assert len(data.item_category) == len(data.vocabularies.item)


def test_prepare_gives_each_part_its_own_negative_stream(small_prepared) -> None:
    valid, test = small_prepared.valid, small_prepared.test
    same_draws = valid.candidate[valid.click == 0] == test.candidate[test.click == 0]
    assert same_draws.mean() < 0.05


def test_dataset_refuses_an_unknown_part(small_prepared) -> None:
    with pytest.raises(ValueError, match="part must be 'train', 'valid' or 'test', got 'dev'"):
        small_prepared.dataset("dev")


def test_prepare_validates_its_input_naming_the_source(small_simulation) -> None:
    bad = small_simulation.log.drop(columns="timestamp")
    with pytest.raises(LogValidationError, match=r"^clicks\.csv: missing column"):
        prepare(bad, source="clicks.csv")


@pytest.mark.parametrize("max_len", [1, 7, 50])
def test_vectorised_batch_equals_collating_single_examples(small_prepared, max_len) -> None:
    """``BehaviorDataset.batch`` (what make_loader uses) is the per-example path, padded."""
    dataset = small_prepared.dataset("train", max_len=max_len)
    indices = np.random.default_rng(0).choice(len(dataset), size=257)
    fast = dataset.batch(indices)
    slow = collate_batch([dataset[int(i)] for i in indices])
    assert fast.keys() == slow.keys()
    for key in slow:
        assert fast[key].dtype == slow[key].dtype, key
        assert torch.equal(fast[key], slow[key]), key


def test_loader_batches_cover_every_sample_once(small_prepared) -> None:
    dataset = small_prepared.dataset("valid", max_len=10)
    batches = list(make_loader(dataset, batch_size=64, shuffle=True, seed=1))
    assert len(batches) == -(-len(dataset) // 64)
    targets = np.concatenate([b["next_item"].numpy() for b in batches])
    assert len(targets) == len(dataset)
    assert sorted(targets) == sorted(dataset.samples.next_item)
