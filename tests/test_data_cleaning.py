"""Tests for course_lib.data.clean: clean_log and its CleaningReport."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.data.clean import REASONS, CleaningReport, clean_log
from course_lib.data.schema import LogValidationError

DAY = 86_400
T0 = 1_511_568_000  # 2017-11-25 00:00:00 UTC


@pytest.fixture
def log() -> pd.DataFrame:
    """Ten events with string labels: user 1 has a duplicate and an event before the window,
    user 2 has one event, user 3 has three events, one after the window."""
    return pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2, 3, 3, 3, 1, 3],
            "item_id": [10, 11, 10, 12, 10, 13, 14, 13, 10, 15],
            "category_id": 100,
            "behavior": ["pv", "pv", "pv", "buy", "cart", "pv", "fav", "pv", "pv", "pv"],
            "timestamp": [
                T0,
                T0 + 9,
                T0,
                T0 - 5,
                T0 + 1,
                T0 + 2,
                T0 + 3,
                T0 + 2,
                T0 + 4,
                T0 + DAY,
            ],
            "value": np.arange(10.0),
        },
        index=[f"r{i}" for i in range(10)],
    )


def labels(frame: pd.DataFrame) -> list[str]:
    return frame.index.tolist()


def test_defaults_drop_only_duplicates(log: pd.DataFrame) -> None:
    clean, report = clean_log(log)
    # r2 repeats r0 and r7 repeats r5 in every contract column (value differs: still duplicate).
    assert labels(report.dropped) == ["r2", "r7"]
    assert report.dropped["reason"].tolist() == ["duplicate", "duplicate"]
    assert labels(clean) == ["r0", "r1", "r3", "r4", "r5", "r6", "r8", "r9"]
    pd.testing.assert_frame_equal(clean, log.loc[labels(clean)])


def test_duplicates_can_be_kept(log: pd.DataFrame) -> None:
    clean, report = clean_log(log, drop_duplicates=False)
    pd.testing.assert_frame_equal(clean, log)
    assert report.dropped.empty
    assert report.counts.tolist() == [0, 0, 0]


def test_time_window_start_inclusive_end_exclusive(log: pd.DataFrame) -> None:
    _, report = clean_log(log, start=T0, end=T0 + DAY)
    outside = report.dropped[report.dropped["reason"] == "outside time window"]
    assert labels(outside) == ["r3", "r9"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2017-11-25", "2017-11-26"),
        (pd.Timestamp("2017-11-25 01:00", tz="Europe/Paris"), pd.Timestamp("2017-11-26")),
        (float(T0), np.int64(T0 + DAY)),
    ],
)
def test_time_bounds_accept_dates_as_utc(log: pd.DataFrame, start: object, end: object) -> None:
    _, report = clean_log(log, start=start, end=end)
    assert report.counts["outside time window"] == 2


def test_users_are_counted_after_earlier_steps(log: pd.DataFrame) -> None:
    # User 3 keeps 2 events (r7 is a duplicate, r9 after the window); user 1 keeps r0, r1, r8.
    clean, report = clean_log(log, start=T0, end=T0 + DAY, min_events_per_user=3)
    assert report.counts.to_dict() == {
        "duplicate": 2,
        "outside time window": 2,
        "user with too few events": 3,
    }
    few = report.dropped[report.dropped["step"] == 3]
    assert labels(few) == ["r4", "r5", "r6"]
    assert labels(clean) == ["r0", "r1", "r8"]


def test_a_row_is_dropped_for_its_first_reason_only(log: pd.DataFrame) -> None:
    # r7 (a duplicate of r5) is also before the window: it counts as a duplicate.
    _, report = clean_log(log, start=T0 + 3)
    assert report.dropped.loc["r7", "reason"] == "duplicate"
    assert report.dropped.loc["r5", "reason"] == "outside time window"


def test_dropped_rows_keep_labels_columns_and_step_order(log: pd.DataFrame) -> None:
    clean, report = clean_log(log, end=T0 + DAY, min_events_per_user=2)
    dropped = report.dropped
    assert dropped.columns.tolist() == [*log.columns, "reason", "step"]
    assert labels(dropped) == ["r2", "r7", "r9", "r4"]
    assert dropped["step"].tolist() == [1, 1, 2, 3]
    assert dropped["reason"].tolist() == [REASONS[s - 1] for s in dropped["step"]]
    pd.testing.assert_frame_equal(dropped[log.columns], log.loc[labels(dropped)])
    assert sorted(labels(clean) + labels(dropped)) == sorted(labels(log))


@pytest.mark.parametrize("min_events", [1, 2, 3, 10])
@pytest.mark.parametrize("start", [None, T0 + 2])
def test_nothing_is_dropped_silently(log: pd.DataFrame, min_events: int, start: object) -> None:
    clean, report = clean_log(log, start=start, min_events_per_user=min_events)
    assert report.rows_in == len(log) == report.rows_out + len(report.dropped)
    assert report.rows_out == len(clean)
    assert report.counts.sum() == len(report.dropped)
    assert clean.index.is_unique and set(clean.index).isdisjoint(report.dropped.index)


def test_input_is_not_modified(log: pd.DataFrame) -> None:
    before = log.copy()
    clean_log(log, start=T0, min_events_per_user=3)
    pd.testing.assert_frame_equal(log, before)


def test_counts_summary_and_str(log: pd.DataFrame) -> None:
    _, report = clean_log(log, start=T0)
    assert isinstance(report, CleaningReport)
    assert report.counts.index.tolist() == list(REASONS)
    assert report.counts.tolist() == [2, 1, 0]
    summary = report.summary()
    assert summary.columns.tolist() == ["reason", "rows", "share"]
    assert summary["reason"].tolist() == list(REASONS)
    np.testing.assert_allclose(summary["share"], [0.2, 0.1, 0.0])
    text = str(report)
    assert text.splitlines()[0].split() == ["rows", "in", "10"]
    assert text.splitlines()[-1].split() == ["rows", "out", "7"]
    assert "- outside time window" in text
    assert "20.00%" in text
    assert "dropped" not in repr(report)  # the DataFrame stays out of the repr


def test_bad_arguments(log: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=rf"start \({T0}\) must be before end \({T0}\)"):
        clean_log(log, start=T0, end=T0)
    with pytest.raises(ValueError, match="must be before end"):
        clean_log(log, start="2017-12-01", end="2017-11-25")
    with pytest.raises(ValueError, match="start='soon' is neither unix seconds nor a date"):
        clean_log(log, start="soon")
    with pytest.raises(ValueError, match="min_events_per_user must be >= 1"):
        clean_log(log, min_events_per_user=0)
    with pytest.raises(TypeError, match="min_events_per_user must be an int"):
        clean_log(log, min_events_per_user=2.5)
    with pytest.raises(LogValidationError, match=r"no column\(s\) \['timestamp'\]"):
        clean_log(log.drop(columns="timestamp"))
