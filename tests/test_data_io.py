"""Tests for course_lib.data.io: reading and writing behavior-log CSV files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from course_lib.data.io import (
    LogFileNotFoundError,
    read_log,
    read_taobao_user_behavior,
    write_log,
)
from course_lib.data.schema import LOG_COLUMNS, LogValidationError

HEADER = ",".join(LOG_COLUMNS)
ROWS = ["1,10,100,pv,1511544070", "1,11,100,cart,1511544075", "2,10,100,buy,1511544080"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def error_text(reader: object, path: Path, **kwargs: object) -> str:
    with pytest.raises(LogValidationError) as info:
        reader(path, **kwargs)
    return str(info.value)


@pytest.fixture
def expected() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": [10, 11, 10],
            "category_id": [100, 100, 100],
            "behavior": pd.Series(["pv", "cart", "buy"], dtype="str"),
            "timestamp": [1511544070, 1511544075, 1511544080],
        }
    )


def test_read_log_plain_csv(tmp_path: Path, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(read_log(write(tmp_path / "log.csv", [HEADER, *ROWS])), expected)


def test_read_log_gzipped_csv(tmp_path: Path, expected: pd.DataFrame) -> None:
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress("\n".join([HEADER, *ROWS]).encode()))
    pd.testing.assert_frame_equal(read_log(str(path)), expected)


def test_read_log_keeps_value_and_extra_columns(tmp_path: Path) -> None:
    lines = [HEADER + ",value,note", "1,10,100,pv,1511544070,4.5,a", "2,3,4,buy,1511544070,,b"]
    out = read_log(write(tmp_path / "log.csv", lines))
    assert out.columns.tolist() == [*LOG_COLUMNS, "value", "note"]
    assert out["value"].dtype == "float64"
    assert out["value"].isna().tolist() == [False, True]


def test_bad_values_are_reported_as_raw_text_with_file_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", [HEADER, ROWS[0], "1,abc,100,pv,1", "1,1.5,1,pv,1"])
    text = error_text(read_log, path)
    assert text.startswith(f"{path}: column 'item_id' has missing or non-integer values")
    assert "'abc' (line 3), '1.5' (line 4)" in text
    path = write(tmp_path / "log.csv", [HEADER, ROWS[0], "1,2,3,pv,1511544070.5"])
    assert "'1511544070.5' (line 3)" in error_text(read_log, path)


def test_empty_cell_is_reported_as_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", [HEADER, *ROWS, "3,10,,pv,1511544070"])
    assert "column 'category_id' has missing or non-integer values: missing (line 5)" in (
        error_text(read_log, path)
    )


def test_unknown_behavior_and_custom_funnel(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", [HEADER, ROWS[0], "1,2,3,view,1511544070"])
    assert "'view' (1 row: line 3)" in error_text(read_log, path)
    assert read_log(path, behaviors=["pv", "view"])["behavior"].tolist() == ["pv", "view"]


def test_milliseconds_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", [HEADER, "1,2,3,pv,1511544070123"])
    text = error_text(read_log, path)
    assert "1511544070123 (line 2)" in text
    assert "divide by 1000" in text


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "log.csv"
    with pytest.raises(LogFileNotFoundError) as info:
        read_log(path)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, LogValidationError)
    assert str(info.value).startswith(f"{path}: no such file. Fix: check the path")


@pytest.mark.parametrize("content", ["", HEADER + "\n"], ids=["zero-bytes", "header-only"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(content)
    text = error_text(read_log, path)
    assert text.startswith(f"{path}: the file is empty")
    assert "Fix:" in text


def test_ragged_line_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", [HEADER, ROWS[0], ROWS[1] + ",extra,fields"])
    text = error_text(read_log, path)
    assert "not a valid CSV" in text
    assert "line 3" in text


def test_taobao_reader(tmp_path: Path, expected: pd.DataFrame) -> None:
    path = write(tmp_path / "UserBehavior.csv", ROWS)
    pd.testing.assert_frame_equal(read_taobao_user_behavior(path), expected)
    pd.testing.assert_frame_equal(read_taobao_user_behavior(path, nrows=2), expected.iloc[:2])


def test_taobao_reader_reports_the_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "UserBehavior.csv", [ROWS[0], ROWS[1], "3,10,100,pv,oops"])
    text = error_text(read_taobao_user_behavior, path)
    assert text.startswith(f"{path}: column 'timestamp'")
    assert "'oops' (line 3)" in text


def test_taobao_reader_refuses_extra_fields_and_bad_nrows(tmp_path: Path) -> None:
    path = write(tmp_path / "UserBehavior.csv", [ROWS[0] + ",7", ROWS[1] + ",8"])
    assert "lines have more than 5 fields" in error_text(read_taobao_user_behavior, path)
    write(path, [ROWS[0], ROWS[1] + ",8"])
    assert "not a valid CSV" in error_text(read_taobao_user_behavior, path)
    with pytest.raises(ValueError, match="nrows must be a positive int"):
        read_taobao_user_behavior(path, nrows=0)


def test_write_log_round_trip(tmp_path: Path, expected: pd.DataFrame) -> None:
    frame = expected.assign(value=[1.5, 0.1, 3.0], note=["a", "b", "c"])
    for name in ["log.csv", "log.csv.gz"]:
        path = tmp_path / "deep" / "folder" / name
        write_log(frame, path)
        pd.testing.assert_frame_equal(read_log(path), frame)


def test_write_log_layout(tmp_path: Path, expected: pd.DataFrame) -> None:
    shuffled = expected[["timestamp", "behavior", "user_id", "item_id", "category_id"]]
    path = tmp_path / "log.csv"
    write_log(shuffled.set_axis([7, 8, 9]), path)
    assert path.read_text().splitlines() == [HEADER, *ROWS]


def test_write_log_gzip_is_deterministic(tmp_path: Path, expected: pd.DataFrame) -> None:
    first, second = tmp_path / "a" / "log.csv.gz", tmp_path / "b" / "log.csv.gz"
    write_log(expected, first)
    write_log(expected, second)
    data = first.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime fixed at 0
    assert data == second.read_bytes()


def test_write_log_refuses_an_invalid_frame(tmp_path: Path, expected: pd.DataFrame) -> None:
    path = tmp_path / "log.csv"
    with pytest.raises(LogValidationError, match="column 'behavior'"):
        write_log(expected.assign(behavior="click"), path)
    assert not path.exists()


def test_sep_and_encoding_read_a_spreadsheet_export(
    tmp_path: Path, expected: pd.DataFrame
) -> None:
    lines = [HEADER + ",note", *(row + ",café" for row in ROWS)]
    path = tmp_path / "export.csv"
    path.write_bytes("".join(line.replace(",", ";") + "\n" for line in lines).encode("latin-1"))
    log = read_log(path, sep=";", encoding="latin-1")
    pd.testing.assert_frame_equal(log.drop(columns="note"), expected)
    assert log["note"].tolist() == ["café"] * 3
    headerless = write(tmp_path / "UserBehavior.csv", [row.replace(",", "\t") for row in ROWS])
    pd.testing.assert_frame_equal(read_taobao_user_behavior(headerless, sep="\t"), expected)


def test_ids_are_read_exactly_even_beside_a_decimal(tmp_path: Path) -> None:
    """pandas reads "3.0" through float64 and would round 2**53 + 1 down to 2**53."""
    big = 2**53 + 1
    path = write(
        tmp_path / "log.csv", [HEADER, f"{big},1,1,pv,1511544070", "3.0,1,1,pv,1511544070"]
    )
    assert read_log(path)["user_id"].tolist() == [big, 3]
