"""Tests for behavior funnels other than Taobao's through ``prepare`` (course_lib.data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.data.pipeline import PreparedData, prepare
from course_lib.data.samples import BUY_INDEX, make_samples
from course_lib.data.schema import TAOBAO_BEHAVIORS, LogValidationError

FUNNEL = ("view", "addtocart", "transaction")


def funnel_log(behaviors: tuple[str, ...] = FUNNEL, seed: int = 0) -> pd.DataFrame:
    """8 users with 12 events each over 20 items; the funnel's behaviors get rarer along it."""
    rng = np.random.default_rng(seed)
    users, events = 8, 12
    shares = np.array([0.6, 0.25, 0.15, 0.1][: len(behaviors)])
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(100, 100 + users), events),
            "item_id": rng.integers(1000, 1020, users * events),
            "category_id": rng.integers(0, 3, users * events),
            "behavior": np.asarray(behaviors)[
                rng.choice(len(behaviors), users * events, p=shares / shares.sum())
            ],
            "timestamp": 1_433_000_000 + np.tile(np.arange(events) * 60, users),
        }
    )


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return funnel_log()


@pytest.fixture(scope="module")
def prepared(log: pd.DataFrame) -> PreparedData:
    return prepare(log, behaviors=FUNNEL, num_negatives=2)


def test_a_three_behavior_log_prepares_with_three_classes(prepared: PreparedData) -> None:
    assert prepared.vocabularies.num_behaviors == 3
    assert prepared.behaviors == FUNNEL
    assert prepared.vocabularies.behavior.tokens == list(FUNNEL)  # funnel order, not frequency
    assert prepared.vocabularies.conversion_index == 4  # 2 reserved + the third behavior
    assert len(prepared.train) > 0 and len(prepared.test) == 3 * 8


@pytest.mark.parametrize("part", ["train", "valid", "test"])
def test_buy_labels_mark_transactions(
    log: pd.DataFrame, prepared: PreparedData, part: str
) -> None:
    samples = getattr(prepared, part)
    event_behavior = log["behavior"].to_numpy()[samples.event_index]
    expected = (samples.click == 1) & (event_behavior == "transaction")
    np.testing.assert_array_equal(samples.buy, expected.astype(np.float32))


def test_buy_is_neither_the_second_behavior_nor_empty(
    log: pd.DataFrame, prepared: PreparedData
) -> None:
    samples = prepared.train
    event_behavior = log["behavior"].to_numpy()[samples.event_index]
    positives = samples.click == 1
    assert samples.buy[positives & (event_behavior == "transaction")].min() == 1
    assert samples.buy[positives & (event_behavior == "addtocart")].max() == 0
    assert samples.buy[positives & (event_behavior == "view")].max() == 0


def test_next_behavior_classes_follow_the_funnel(
    log: pd.DataFrame, prepared: PreparedData
) -> None:
    samples = prepared.train
    names = log["behavior"].to_numpy()[samples.event_index]
    expected = np.array([FUNNEL.index(name) for name in names])
    np.testing.assert_array_equal(samples.next_behavior, expected)
    assert set(np.unique(samples.next_behavior)) == {0, 1, 2}


def test_the_default_funnel_is_taobao_and_buy_is_its_last_behavior() -> None:
    taobao = funnel_log(TAOBAO_BEHAVIORS, seed=1)
    default, explicit = prepare(taobao), prepare(taobao, behaviors=list(TAOBAO_BEHAVIORS))
    assert default.behaviors == TAOBAO_BEHAVIORS
    assert default.vocabularies.conversion_index == BUY_INDEX
    for part in ("train", "valid", "test"):
        np.testing.assert_array_equal(getattr(default, part).buy, getattr(explicit, part).buy)
        np.testing.assert_array_equal(
            getattr(default, part).candidate, getattr(explicit, part).candidate
        )
    is_buy = taobao["behavior"].to_numpy()[default.train.event_index] == "buy"
    np.testing.assert_array_equal(default.train.buy, (default.train.click == 1) & is_buy)


def test_a_log_outside_the_default_funnel_says_to_pass_behaviors(log: pd.DataFrame) -> None:
    with pytest.raises(LogValidationError, match=r"pass all its behaviors in funnel order"):
        prepare(log)


def test_a_funnel_given_as_one_string_is_refused(log: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="non-empty sequence of behavior names"):
        prepare(log, behaviors="view")
    with pytest.raises(ValueError, match="non-empty sequence"):
        prepare(log, behaviors=())


def test_make_samples_refuses_a_reserved_buy_index(prepared: PreparedData) -> None:
    with pytest.raises(ValueError, match="buy_index"):
        make_samples(prepared.sequences, prepared.split.test, prepared.item_category, buy_index=1)
