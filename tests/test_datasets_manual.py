"""Tests for the data sets placed by hand (Taobao UserBehavior, RetailRocket), the cache folder
and archive errors (course_lib.datasets). Every file is a tiny one written here in the real
layout; nothing touches the network.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.data.pipeline import prepare
from course_lib.data.schema import TAOBAO_BEHAVIORS, LogValidationError
from course_lib.datasets import (
    RETAILROCKET_BEHAVIORS,
    UNKNOWN_CATEGORY,
    CorruptArchiveError,
    DatasetNotFoundError,
    get_cache_dir,
    load_retailrocket,
    load_taobao_user_behavior,
)
from course_lib.datasets.archive import read_zip_member

# ------------------------------------------------------------------------------ cache folder


def test_cache_dir_argument_beats_the_environment_which_beats_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    assert get_cache_dir() == Path.home() / ".cache" / "course_lib"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "env"))
    assert get_cache_dir() == tmp_path / "env"
    assert get_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert get_cache_dir("~/data") == Path.home() / "data"


# ------------------------------------------------------------------------------ Taobao

# Headerless: user, item, category, behavior, unix seconds. 3 users with 6 events each.
TAOBAO_ROWS = [
    (user, 5000 + (user * 7 + step) % 9, 40 + (user + step) % 3,
     TAOBAO_BEHAVIORS[(user + step) % 4], 1_511_600_000 + 3600 * step + user)
    for user in (1, 2, 3)
    for step in range(6)
]  # fmt: skip
TAOBAO_CSV = "".join(",".join(map(str, row)) + "\n" for row in TAOBAO_ROWS).encode()


def write_taobao(folder: Path, name: str) -> Path:
    """Write the tiny log under ``name``: plain, gzipped or zipped by its extension."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(TAOBAO_CSV))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("UserBehavior.csv", TAOBAO_CSV)
    else:
        path.write_bytes(TAOBAO_CSV)
    return path


@pytest.mark.parametrize(
    "name", ["UserBehavior.csv", "UserBehavior.csv.gz", "UserBehavior.csv.zip", "UserBehavior.zip"]
)
def test_taobao_is_found_plain_or_compressed(tmp_path: Path, name: str) -> None:
    write_taobao(tmp_path / "taobao", name)
    log = load_taobao_user_behavior(cache_dir=tmp_path)
    expected = pd.DataFrame(
        TAOBAO_ROWS, columns=["user_id", "item_id", "category_id", "behavior", "timestamp"]
    )
    pd.testing.assert_frame_equal(log, expected, check_dtype=False)
    assert [str(t) for t in log.dtypes] == ["int64"] * 3 + ["str", "int64"]


def test_taobao_nrows_reads_the_first_lines(tmp_path: Path) -> None:
    write_taobao(tmp_path / "taobao", "UserBehavior.csv")
    log = load_taobao_user_behavior(cache_dir=tmp_path, nrows=4)
    assert len(log) == 4 and log["timestamp"].tolist() == [r[4] for r in TAOBAO_ROWS[:4]]


def test_taobao_missing_says_where_to_get_it_and_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        load_taobao_user_behavior(cache_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "taobao" / "UserBehavior.csv") in message
    assert "tianchi" in message and "COURSE_CACHE_DIR" in message
    assert isinstance(error.value, FileNotFoundError)


def test_taobao_corrupt_zip_and_gzip_are_clear_errors(tmp_path: Path) -> None:
    folder = tmp_path / "taobao"
    good = write_taobao(folder, "UserBehavior.csv.zip")
    good.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(CorruptArchiveError, match=r"UserBehavior\.csv\.zip: not a readable zip"):
        load_taobao_user_behavior(cache_dir=tmp_path)
    good.unlink()
    write_taobao(folder, "UserBehavior.csv.gz").write_bytes(gzip.compress(TAOBAO_CSV)[:-12])
    with pytest.raises(CorruptArchiveError, match=r"UserBehavior\.csv\.gz: the compressed file"):
        load_taobao_user_behavior(cache_dir=tmp_path)


def test_taobao_prepares_with_the_default_funnel(tmp_path: Path) -> None:
    write_taobao(tmp_path / "taobao", "UserBehavior.csv")
    data = prepare(load_taobao_user_behavior(cache_dir=tmp_path), num_negatives=1)
    assert data.behaviors == TAOBAO_BEHAVIORS and len(data.test) == 3 * 2


# ------------------------------------------------------------------------------ RetailRocket

EVENTS_CSV = """timestamp,visitorid,event,itemid,transactionid
1433221332117,7,view,101,
1433221400999,7,addtocart,101,
1433221500000,7,transaction,101,4000
1433221600000,7,view,102,
1433221700000,7,view,103,
1433223000000,9,view,102,
1433223100000,9,view,104,
1433223200000,9,addtocart,104,
1433223300000,9,transaction,104,4001
1433223400000,9,view,101,
"""
# Item 101 changes category (1016, then 1338 later), with its rows split over both files and
# out of time order; 102 has one category; 103 only other properties; 104 only in part 2.
PROPERTIES_PART1 = """timestamp,itemid,property,value
1435460400000,101,categoryid,1338
1433041200000,101,available,1
1433041200000,101,790,n5000.000
1431226800000,102,categoryid,209
1431226800000,103,888,1116713 960601 n277.200
"""
PROPERTIES_PART2 = """timestamp,itemid,property,value
1433041200000,101,categoryid,1016
1433041200000,104,categoryid,42
"""


def write_retailrocket(folder: Path, skip: tuple[str, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "events.csv": EVENTS_CSV,
        "item_properties_part1.csv": PROPERTIES_PART1,
        "item_properties_part2.csv": PROPERTIES_PART2,
    }
    for name, text in files.items():
        if name not in skip:
            (folder / name).write_text(text)


@pytest.fixture
def retailrocket_dir(tmp_path: Path) -> Path:
    write_retailrocket(tmp_path / "retailrocket")
    return tmp_path


def test_retailrocket_maps_events_into_the_contract(retailrocket_dir: Path) -> None:
    log = load_retailrocket(cache_dir=retailrocket_dir)
    assert list(log.columns) == ["user_id", "item_id", "category_id", "behavior", "timestamp"]
    assert [str(t) for t in log.dtypes] == ["int64"] * 3 + ["str", "int64"]
    assert log["user_id"].tolist() == [7] * 5 + [9] * 5
    assert log["behavior"].tolist()[:3] == list(RETAILROCKET_BEHAVIORS)
    assert log["timestamp"].tolist()[:2] == [1433221332, 1433221400]  # ms floored to seconds


def test_retailrocket_category_is_the_latest_categoryid(retailrocket_dir: Path) -> None:
    log = load_retailrocket(cache_dir=retailrocket_dir)
    category = log.drop_duplicates("item_id").set_index("item_id")["category_id"]
    assert category.to_dict() == {101: 1338, 102: 209, 103: UNKNOWN_CATEGORY, 104: 42}


def test_retailrocket_nrows_reads_the_first_events(retailrocket_dir: Path) -> None:
    assert load_retailrocket(cache_dir=retailrocket_dir, nrows=3)["item_id"].tolist() == [101] * 3


def test_retailrocket_prepares_with_its_funnel(retailrocket_dir: Path) -> None:
    log = load_retailrocket(cache_dir=retailrocket_dir)
    data = prepare(log, behaviors=RETAILROCKET_BEHAVIORS, num_negatives=1)
    assert data.vocabularies.num_behaviors == 3
    for samples in (data.train, data.valid, data.test):
        is_transaction = log["behavior"].to_numpy()[samples.event_index] == "transaction"
        np.testing.assert_array_equal(samples.buy, (samples.click == 1) & is_transaction)
    assert data.train.buy.sum() == data.valid.buy.sum() == 1  # user 7's and user 9's


def test_retailrocket_missing_files_are_all_named_with_their_place(tmp_path: Path) -> None:
    write_retailrocket(tmp_path / "retailrocket", skip=("events.csv", "item_properties_part2.csv"))
    with pytest.raises(DatasetNotFoundError) as error:
        load_retailrocket(cache_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "retailrocket" / "events.csv") in message
    assert str(tmp_path / "retailrocket" / "item_properties_part2.csv") in message
    assert "item_properties_part1.csv" not in message.split("Put the file(s) at:")[1]
    assert "kaggle" in message


def test_retailrocket_bad_files_name_the_file_and_the_problem(retailrocket_dir: Path) -> None:
    folder = retailrocket_dir / "retailrocket"
    (folder / "events.csv").write_text(EVENTS_CSV.replace("visitorid", "visitor"))
    with pytest.raises(
        LogValidationError, match=r"events\.csv: missing column\(s\) \['visitorid'\]"
    ):
        load_retailrocket(cache_dir=retailrocket_dir)
    (folder / "events.csv").write_text(EVENTS_CSV.replace("addtocart", "wishlist"))
    with pytest.raises(LogValidationError, match="'wishlist'"):
        load_retailrocket(cache_dir=retailrocket_dir)
    (folder / "events.csv").write_text(EVENTS_CSV)
    (folder / "item_properties_part2.csv").write_text(PROPERTIES_PART2.replace(",42", ",n42"))
    with pytest.raises(LogValidationError, match=r"part2\.csv: .*line\(s\) \[3\]"):
        load_retailrocket(cache_dir=retailrocket_dir)


# ------------------------------------------------------------------------------ archives


def test_read_zip_member_reports_a_bad_crc(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.txt", b"hello world, hello world")
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"hello world, hello", b"HELLO world, hello", 1))
    with pytest.raises(CorruptArchiveError, match=r"data\.zip: member 'a\.txt' cannot be read"):
        read_zip_member(path, "a.txt")
