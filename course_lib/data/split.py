"""Splitting sequences into train, validation and test targets without leaking the future.

A *target* is the flat position of an event to predict; its history is every earlier event of
the same user. A split only chooses which events are targets of which part, so no history is
ever copied. Notebook 01 shows why the random split below leaks the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from course_lib.data.sequences import Sequences


@dataclass(frozen=True)
class Split:
    """Flat positions of the target events of each part."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def sizes(self) -> pd.Series:
        """Number of targets per part."""
        return pd.Series(
            {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}
        )


def leave_last_out(sequences: Sequences, min_history: int = 1) -> Split:
    """Each user's last event is a test target, the one before it a validation target.

    Every earlier event with at least ``min_history`` events before it is a training target,
    so within a user, all training targets come before the validation and test targets.
    Users too short to give a validation target with enough history give none.
    """
    position = sequences.position_in_sequence
    last = sequences.offsets[1:] - 1
    long_enough = sequences.lengths >= min_history + 2
    test, valid = last[long_enough], last[long_enough] - 1
    distance_to_last = last[sequences.event_user] - np.arange(sequences.num_events)
    train = np.flatnonzero((position >= min_history) & (distance_to_last >= 2))
    return Split(train=train, valid=valid, test=test)


def time_cut(
    sequences: Sequences, valid_start: int, test_start: int, min_history: int = 1
) -> Split:
    """Targets before ``valid_start`` train, before ``test_start`` validate, the rest test.

    One global clock for everybody: no training target, and no event in a training history,
    happens at or after ``valid_start``. Times are unix seconds.
    """
    if valid_start > test_start:
        raise ValueError(
            f"valid_start ({valid_start}) must not be after test_start ({test_start})"
        )
    eligible = sequences.position_in_sequence >= min_history
    time = sequences.timestamp
    return Split(
        train=np.flatnonzero(eligible & (time < valid_start)),
        valid=np.flatnonzero(eligible & (time >= valid_start) & (time < test_start)),
        test=np.flatnonzero(eligible & (time >= test_start)),
    )


def random_split(
    sequences: Sequences,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    min_history: int = 1,
    seed: int = 0,
) -> Split:
    """Assign each eligible event to a part at random. Leaks the future: for teaching only.

    A user's training targets then include events that happen after that user's test targets.
    """
    if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
        raise ValueError(
            f"valid_fraction ({valid_fraction}) and test_fraction ({test_fraction}) must be "
            "non-negative and leave a training part (sum below 1)"
        )
    eligible = np.flatnonzero(sequences.position_in_sequence >= min_history)
    draw = np.random.default_rng(seed).random(len(eligible))
    return Split(
        train=eligible[draw >= valid_fraction + test_fraction],
        valid=eligible[(draw >= test_fraction) & (draw < valid_fraction + test_fraction)],
        test=eligible[draw < test_fraction],
    )
