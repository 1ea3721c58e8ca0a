"""Tests for course_lib.data.sequences and course_lib.data.split: no future reaches training."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from course_lib.bundled import bundled_window
from course_lib.data.dataset import BehaviorDataset
from course_lib.data.pipeline import prepare
from course_lib.data.sequences import Sequences, build_sequences
from course_lib.data.split import Split, leave_last_out, random_split, time_cut

DAY = 86_400


@pytest.fixture
def encoded() -> pd.DataFrame:
    """An encoded log out of order, with non-default row labels and timestamp ties:
    user 2 has two events at t=20, user 3 two at t=50."""
    return pd.DataFrame(
        {
            "user": [3, 2, 3, 2, 3, 4],
            "item": [10, 11, 12, 13, 14, 15],
            "category": [20, 21, 22, 23, 24, 25],
            "behavior": [2, 3, 4, 5, 2, 2],
            "timestamp": [50, 20, 10, 20, 50, 5],
        },
        index=[100, 101, 102, 103, 104, 105],
    )


def make_sequences(lengths: list[int]) -> Sequences:
    """Sequences of users 2, 3, ... with the given lengths; event k of a user at time 10 k."""
    frames = [
        pd.DataFrame({"user": user, "timestamp": 10 * np.arange(length)})
        for user, length in enumerate(lengths, start=2)
    ]
    frame = pd.concat(frames, ignore_index=True)
    frame["item"] = frame["category"] = frame["behavior"] = 2
    return build_sequences(frame)


def positions_by_user(sequences: Sequences, targets: np.ndarray) -> dict[int, list[int]]:
    """Positions in each user's sequence of some flat targets."""
    result: dict[int, list[int]] = {}
    for target in targets:
        user = int(sequences.event_user[target])
        result.setdefault(user, []).append(int(sequences.position_in_sequence[target]))
    return result


# --------------------------------------------------------------------------- build_sequences


def test_build_sequences_groups_by_user_in_time_order(encoded: pd.DataFrame) -> None:
    sequences = build_sequences(encoded)
    np.testing.assert_array_equal(sequences.users, [2, 3, 4])
    np.testing.assert_array_equal(sequences.offsets, [0, 2, 5, 6])
    np.testing.assert_array_equal(sequences.lengths, [2, 3, 1])
    np.testing.assert_array_equal(sequences.event_index, [101, 103, 102, 100, 104, 105])
    np.testing.assert_array_equal(sequences.item, [11, 13, 12, 10, 14, 15])
    np.testing.assert_array_equal(sequences.timestamp, [20, 20, 10, 50, 50, 5])
    np.testing.assert_array_equal(sequences.event_user, [0, 0, 1, 1, 1, 2])
    np.testing.assert_array_equal(sequences.position_in_sequence, [0, 1, 0, 1, 2, 0])
    assert (sequences.num_users, sequences.num_events) == (3, 6)


def test_event_index_traces_every_field_back_to_the_log(encoded: pd.DataFrame) -> None:
    sequences = build_sequences(encoded)
    rows = encoded.loc[sequences.event_index]
    for name in ("item", "category", "behavior", "timestamp"):
        np.testing.assert_array_equal(getattr(sequences, name), rows[name])
    np.testing.assert_array_equal(sequences.users[sequences.event_user], rows["user"])


def test_user_frame(encoded: pd.DataFrame) -> None:
    frame = build_sequences(encoded).user_frame(1)
    expected = encoded.loc[[102, 100, 104], ["item", "category", "behavior", "timestamp"]]
    pd.testing.assert_frame_equal(frame, expected.rename_axis("event_index"))


def test_sequences_of_a_simulated_log_trace_back_to_raw_rows(small_prepared, small_simulation):
    """Through the whole pipeline, event_index names the raw log row of every event."""
    sequences, vocabularies = small_prepared.sequences, small_prepared.vocabularies
    rows = small_simulation.log.loc[sequences.event_index]
    assert not small_simulation.truth.injected[sequences.event_index].any()
    decoded = {
        "user_id": vocabularies.user.decode(sequences.users[sequences.event_user]),
        "item_id": vocabularies.item.decode(sequences.item),
        "category_id": vocabularies.category.decode(sequences.category),
        "behavior": vocabularies.behavior.decode(sequences.behavior),
        "timestamp": sequences.timestamp,
    }
    for column, values in decoded.items():
        assert list(values) == rows[column].tolist(), column
    same_user = np.diff(sequences.event_user) == 0
    assert (np.diff(sequences.timestamp)[same_user] > 0).all()
    assert np.unique(sequences.users).size == sequences.num_users


# ----------------------------------------------------------------------------- leave_last_out


def test_leave_last_out_by_hand() -> None:
    sequences = make_sequences([1, 2, 3, 5, 4])
    split = leave_last_out(sequences, min_history=1)
    assert positions_by_user(sequences, split.test) == {2: [2], 3: [4], 4: [3]}
    assert positions_by_user(sequences, split.valid) == {2: [1], 3: [3], 4: [2]}
    assert positions_by_user(sequences, split.train) == {3: [1, 2], 4: [1]}
    assert split.sizes().to_dict() == {"train": 3, "valid": 3, "test": 3}


@pytest.mark.parametrize("min_history", [0, 1, 3])
def test_leave_last_out_properties(small_prepared, min_history: int) -> None:
    sequences = small_prepared.sequences
    split = leave_last_out(sequences, min_history=min_history)
    position, user = sequences.position_in_sequence, sequences.event_user
    long_enough = sequences.lengths >= min_history + 2
    np.testing.assert_array_equal(split.test, sequences.offsets[1:][long_enough] - 1)
    np.testing.assert_array_equal(split.valid, split.test - 1)
    assert (position[split.valid] >= min_history).all()
    assert (position[split.train] >= min_history).all()
    valid_position = np.full(sequences.num_users, -1)
    valid_position[user[split.valid]] = position[split.valid]
    assert (position[split.train] < valid_position[user[split.train]]).all()
    # Every event with enough history of a long-enough user is a target of exactly one part.
    everything = np.concatenate([split.train, split.valid, split.test])
    expected = np.flatnonzero((position >= min_history) & long_enough[user])
    np.testing.assert_array_equal(np.sort(everything), expected)


def test_leave_last_out_skips_users_too_short_for_a_validation_target() -> None:
    sequences = make_sequences([2, 3, 6])
    split = leave_last_out(sequences, min_history=2)
    assert set(positions_by_user(sequences, split.test)) == {2}  # only the 6-event user
    assert positions_by_user(sequences, split.train) == {2: [2, 3]}


# ----------------------------------------------------------------------------------- time_cut


def test_time_cut_by_hand() -> None:
    sequences = make_sequences([5, 3])  # times 0, 10, 20, 30, 40 and 0, 10, 20
    split = time_cut(sequences, valid_start=20, test_start=30, min_history=1)
    assert positions_by_user(sequences, split.train) == {0: [1], 1: [1]}
    assert positions_by_user(sequences, split.valid) == {0: [2], 1: [2]}
    assert positions_by_user(sequences, split.test) == {0: [3, 4]}


def test_time_cut_equal_bounds_give_no_validation_targets() -> None:
    split = time_cut(make_sequences([5, 3]), valid_start=20, test_start=20)
    assert len(split.valid) == 0
    assert len(split.train) + len(split.test) == 6


def test_time_cut_rejects_valid_start_after_test_start() -> None:
    message = r"valid_start \(30\) must not be after test_start \(20\)"
    with pytest.raises(ValueError, match=message):
        time_cut(make_sequences([5]), valid_start=30, test_start=20)


def history_positions(dataset: BehaviorDataset) -> tuple[np.ndarray, np.ndarray]:
    """Every (sample, flat history position) pair a dataset reads, for its positive samples
    (a target's negatives share its history)."""
    start, target = dataset.history_start, dataset.samples.target
    span = np.where(dataset.samples.click == 1, target - start, 0)
    sample = np.repeat(np.arange(len(target)), span)
    offset = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    return sample, start[sample] + offset


def test_no_future_event_reaches_a_training_sample_under_time_cut(bundled_simulation) -> None:
    """Bundled-size log: every training sample's target and whole history precede the cut,
    and every history event precedes its target and belongs to the same user."""
    start, end = bundled_window()
    valid_start, test_start = start + 7 * DAY, start + 8 * DAY
    splitter = functools.partial(time_cut, valid_start=valid_start, test_start=test_start)
    data = prepare(bundled_simulation.log, start=start, end=end, splitter=splitter)
    dataset = data.dataset("train", max_len=50)
    sequences, target = data.sequences, data.train.target
    time = sequences.timestamp
    assert len(dataset) > 100_000
    assert (time[target] < valid_start).all()
    sample, history = history_positions(dataset)
    assert len(history) > 1_000_000
    assert (time[history] < time[target[sample]]).all()
    assert (sequences.event_user[history] == sequences.event_user[target[sample]]).all()
    assert (history < target[sample]).all()
    assert (time[data.split.valid] >= valid_start).all()
    assert (time[data.split.valid] < test_start).all()
    assert (time[data.split.test] >= test_start).all()

    rng = np.random.default_rng(0)
    for index in rng.choice(len(dataset), 200, replace=False):
        example, t = dataset[index], target[index]
        events = sequences.user_frame(sequences.event_user[t])
        earlier = events[events["timestamp"] < time[t]].iloc[-50:]
        np.testing.assert_array_equal(example["history_item"].numpy(), earlier["item"])
        np.testing.assert_array_equal(example["history_behavior"].numpy(), earlier["behavior"])


def test_leave_last_out_trains_only_on_each_users_past(bundled_simulation) -> None:
    """Every training sample's target and history precede that user's valid and test targets."""
    start, end = bundled_window()
    data = prepare(bundled_simulation.log, start=start, end=end)
    sequences, split = data.sequences, data.split
    time, user = sequences.timestamp, sequences.event_user
    first_held_out = np.full(sequences.num_users, np.iinfo(np.int64).max)
    first_held_out[user[split.valid]] = time[split.valid]
    assert (time[split.test] > time[split.valid]).all()
    dataset = data.dataset("train", max_len=50)
    target = data.train.target
    assert (time[target] < first_held_out[user[target]]).all()
    sample, history = history_positions(dataset)
    assert (time[history] < first_held_out[user[target[sample]]]).all()
    assert (time[history] < time[target[sample]]).all()


# ------------------------------------------------------------------------------- random_split


def test_random_split_leaks_the_future(small_prepared) -> None:
    """Some user's training target happens after one of that user's test targets."""
    sequences = small_prepared.sequences
    split = random_split(sequences, valid_fraction=0.1, test_fraction=0.1, seed=0)
    time, user = sequences.timestamp, sequences.event_user
    first_test = np.full(sequences.num_users, np.iinfo(np.int64).max)
    np.minimum.at(first_test, user[split.test], time[split.test])
    leaking = time[split.train] > first_test[user[split.train]]
    assert leaking.mean() > 0.3  # not a corner case: a large share of training targets


def test_random_split_partitions_eligible_events(small_prepared) -> None:
    sequences = small_prepared.sequences
    split = random_split(sequences, valid_fraction=0.2, test_fraction=0.1, min_history=2, seed=4)
    everything = np.sort(np.concatenate([split.train, split.valid, split.test]))
    np.testing.assert_array_equal(everything, np.flatnonzero(sequences.position_in_sequence >= 2))
    shares = split.sizes() / len(everything)
    assert shares["valid"] == pytest.approx(0.2, abs=0.01)
    assert shares["test"] == pytest.approx(0.1, abs=0.01)


def test_random_split_is_seeded(small_prepared) -> None:
    sequences = small_prepared.sequences
    first, again = random_split(sequences, seed=1), random_split(sequences, seed=1)
    np.testing.assert_array_equal(first.test, again.test)
    assert not np.array_equal(first.test, random_split(sequences, seed=2).test)


@pytest.mark.parametrize(
    ("valid_fraction", "test_fraction"), [(0.6, 0.5), (-0.1, 0.1), (0.1, 1.0)]
)
def test_random_split_rejects_fractions_that_do_not_leave_a_training_part(
    valid_fraction: float, test_fraction: float
) -> None:
    """Bad fractions should fail loudly instead of silently giving an empty or odd part."""
    with pytest.raises(ValueError, match="fraction"):
        random_split(make_sequences([10, 10]), valid_fraction, test_fraction)


def test_split_sizes() -> None:
    split = Split(train=np.arange(5), valid=np.arange(2), test=np.arange(1))
    pd.testing.assert_series_equal(split.sizes(), pd.Series({"train": 5, "valid": 2, "test": 1}))
