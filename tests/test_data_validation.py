"""Tests for course_lib.data.schema: the behavior-log contract and validate_log."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from course_lib.data.schema import (
    ID_COLUMNS,
    LOG_COLUMNS,
    OPTIONAL_COLUMNS,
    TAOBAO_BEHAVIORS,
    LogValidationError,
    validate_log,
)

T0 = 1_511_544_070  # 2017-11-24, inside the Taobao UserBehavior window


@pytest.fixture
def log() -> pd.DataFrame:
    """Four valid events with a non-default index, to check labels are kept and reported."""
    return pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3],
            "item_id": [10, 11, 10, 12],
            "category_id": [100, 100, 100, 101],
            "behavior": ["pv", "cart", "buy", "fav"],
            "timestamp": [T0, T0 + 1, T0 + 2, T0 + 3],
        },
        index=["a", "b", "c", "d"],
    )


def message(frame: pd.DataFrame, **kwargs: object) -> str:
    with pytest.raises(LogValidationError) as info:
        validate_log(frame, **kwargs)
    return str(info.value)


def test_constants_describe_the_contract() -> None:
    assert LOG_COLUMNS == ("user_id", "item_id", "category_id", "behavior", "timestamp")
    assert ID_COLUMNS == ("user_id", "item_id", "category_id")
    assert TAOBAO_BEHAVIORS == ("pv", "fav", "cart", "buy")
    assert OPTIONAL_COLUMNS == ("value", "scenario")
    assert issubclass(LogValidationError, ValueError)


def test_valid_log_comes_back_equal_with_canonical_dtypes(log: pd.DataFrame) -> None:
    out = validate_log(log)
    pd.testing.assert_frame_equal(out, log.astype({"behavior": "str"}))
    assert out is not log


def test_dtypes_are_canonicalised_and_input_left_alone(log: pd.DataFrame) -> None:
    messy = log.astype(
        {"user_id": "int32", "item_id": "str", "category_id": "float64", "behavior": "category"}
    ).assign(timestamp=log["timestamp"].astype("Int64"))
    before = messy.dtypes.copy()
    out = validate_log(messy)
    assert out.dtypes.astype(str).tolist() == ["int64"] * 3 + ["str", "int64"]
    assert out["item_id"].tolist() == [10, 11, 10, 12]
    assert out.index.tolist() == ["a", "b", "c", "d"]
    pd.testing.assert_series_equal(messy.dtypes, before)


def test_column_order_value_and_extra_columns(log: pd.DataFrame) -> None:
    frame = log.assign(note=["x", "y", "z", "w"], value=["4.5", 3, None, 1])
    frame = frame[["note", "timestamp", "value", "behavior", "user_id", "category_id", "item_id"]]
    out = validate_log(frame)
    assert out.columns.tolist() == [*LOG_COLUMNS, "value", "note"]
    assert out["value"].dtype == "float64"
    np.testing.assert_array_equal(out["value"].to_numpy(), [4.5, 3.0, np.nan, 1.0])
    assert out["note"].tolist() == ["x", "y", "z", "w"]


def test_empty_frame_and_empty_file_wording(log: pd.DataFrame) -> None:
    assert "the DataFrame: it has no rows" in message(log.iloc[:0])
    text = message(log.iloc[:0], source="data/log.csv", line_offset=2)
    assert text.startswith("data/log.csv: the file is empty")
    assert "Fix:" in text


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("userid", "user_id"), ("time_stamp", "timestamp"), ("ts", "timestamp"),
     ("behaviour", "behavior"), ("Category ID", "category_id")],
)  # fmt: skip
def test_missing_column_suggests_the_intended_name(
    log: pd.DataFrame, wrong: str, right: str
) -> None:
    text = message(log.rename(columns={right: wrong}), source="my.csv")
    assert text.startswith(f"my.csv: missing column(s) ['{right}']")
    assert f"present are {[wrong if c == right else c for c in LOG_COLUMNS]}" in text
    assert f"Fix: rename the columns, e.g. frame.rename(columns={{'{wrong}': '{right}'}})" in text


def test_missing_column_without_a_likely_match(log: pd.DataFrame) -> None:
    text = message(log.drop(columns="category_id").assign(price=1.0))
    assert "missing column(s) ['category_id']" in text
    assert "'price'" in text
    assert f"Fix: rename the columns to the contract {LOG_COLUMNS}" in text


def test_headerless_file_is_recognised(log: pd.DataFrame) -> None:
    frame = log.set_axis(["1", "10", "100", "pv", str(T0)], axis=1)
    assert "read_taobao_user_behavior" in message(frame)


def test_missing_and_non_integer_ids_by_row_label(log: pd.DataFrame) -> None:
    text = message(log.assign(item_id=[10, "abc", None, 1.5]))
    assert "column 'item_id' has missing or non-integer values" in text
    assert "'abc' (row 'b'), missing (row 'c'), 1.5 (row 'd')" in text
    assert "Fix: ids and timestamps must be whole numbers" in text


def test_non_integer_timestamp_by_file_line(log: pd.DataFrame) -> None:
    frame = log.reset_index(drop=True).assign(timestamp=[str(T0), "2017-11-24", str(T0), "1e20"])
    text = message(frame, source="f.csv", line_offset=2)
    assert text.startswith("f.csv: column 'timestamp' has missing or non-integer values")
    assert "'2017-11-24' (line 3); it has whole numbers too large for int64" in text
    assert "'1e20' (line 5)" in text


def test_only_the_first_five_offenders_are_listed_with_a_total() -> None:
    frame = pd.DataFrame(
        {"user_id": [f"u{i}" for i in range(7)], "item_id": 1, "category_id": 1,
         "behavior": "pv", "timestamp": T0}
    )  # fmt: skip
    text = message(frame)
    assert "'u4' (row 4) ... (7 in all)" in text
    assert "'u5'" not in text


def test_unknown_behaviors_are_counted_with_their_lines() -> None:
    behavior = ["pv", "click", "buy", "view", "pv", "fav", "cart", "click"]
    frame = pd.DataFrame(
        {"user_id": 1, "item_id": 2, "category_id": 3, "behavior": behavior, "timestamp": T0},
        index=range(100, 108),
    )
    text = message(frame, source="data/log.csv", line_offset=2)
    assert text == (
        "data/log.csv: column 'behavior' has values outside ('pv', 'fav', 'cart', 'buy'): "
        "'click' (2 rows: line 3, line 9), 'view' (1 row: line 5). Fix: map these values "
        "onto pv/fav/cart/buy before loading, or, if your log has another funnel, pass all "
        "its behaviors in funnel order, e.g. behaviors=('view', 'addtocart', 'transaction')"
    )
    assert "'click' (2 rows: row 101, row 107)" in message(frame)


def test_missing_behavior_is_reported(log: pd.DataFrame) -> None:
    assert "missing (1 row: row 'b')" in message(log.assign(behavior=["pv", None, "pv", "pv"]))


def test_another_funnel_can_be_allowed(log: pd.DataFrame) -> None:
    funnel = ("view", "addtocart", "transaction")
    frame = log.assign(behavior=["view", "view", "addtocart", "transaction"])
    assert validate_log(frame, behaviors=funnel)["behavior"].tolist() == frame["behavior"].tolist()
    assert "outside ('view', 'addtocart', 'transaction')" in message(log, behaviors=funnel)


@pytest.mark.parametrize("bad", [-5, 0, 600_000_000])
def test_timestamps_before_1990_are_impossible(log: pd.DataFrame, bad: int) -> None:
    text = message(log.assign(timestamp=[T0, bad, T0, T0]))
    assert "column 'timestamp' has impossible times (before 1990-01-01" in text
    assert f"{bad} (row 'b')" in text
    assert "Fix: timestamps must be unix seconds" in text
    assert "milliseconds" not in text


def test_timestamps_after_max_timestamp_are_impossible(log: pd.DataFrame) -> None:
    text = message(log, max_timestamp=T0 + 1)
    assert f"{T0 + 2} (row 'c'), {T0 + 3} (row 'd')" in text
    assert f"{T0} (row 'a')" not in text


def test_default_upper_bound_is_about_now(log: pd.DataFrame) -> None:
    now = int(time.time())
    validate_log(log.assign(timestamp=now))
    assert "impossible times" in message(log.assign(timestamp=now + 3 * 86_400))


def test_milliseconds_get_a_hint(log: pd.DataFrame) -> None:
    text = message(log.assign(timestamp=log["timestamp"] * 1000))
    assert f"{T0 * 1000} (row 'a')" in text
    assert "look like milliseconds: divide by 1000" in text


def test_datetime_column_is_refused_with_a_conversion(log: pd.DataFrame) -> None:
    text = message(log.assign(timestamp=pd.to_datetime(log["timestamp"], unit="s")))
    assert "column 'timestamp' holds datetimes, not unix seconds" in text
    assert "astype('int64')" in text


def test_non_numeric_value_column(log: pd.DataFrame) -> None:
    text = message(log.assign(value=[1.0, "five", None, 2]))
    assert "column 'value' has non-numeric values: 'five' (row 'b')" in text


def test_checks_run_in_order(log: pd.DataFrame) -> None:
    everything_wrong = log.assign(item_id="x", behavior="click", timestamp=-1)
    assert "missing column(s) ['user_id']" in message(everything_wrong.drop(columns="user_id"))
    assert "column 'item_id'" in message(everything_wrong)
    assert "column 'behavior'" in message(everything_wrong.assign(item_id=1))
    assert "column 'timestamp'" in message(log.assign(timestamp=-1))
