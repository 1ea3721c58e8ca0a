"""Tests for course_lib.bundled and tools/make_dataset.py: the committed simulated data set."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from course_lib.bundled import (
    BUNDLED_CONFIG,
    DATA_DIR_VARIABLE,
    bundled_files,
    bundled_window,
    data_dir,
    load_bundled_log,
    load_bundled_side_tables,
    write_bundled,
)
from course_lib.data.clean import clean_log
from course_lib.data.io import write_log
from course_lib.data.schema import LOG_COLUMNS

REPOSITORY = Path(__file__).resolve().parents[1]
COMMITTED = REPOSITORY / "datasets" / "simulated"
FILES = ("behavior_log.csv.gz", "users.csv.gz", "items.csv.gz")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_sums(path: Path) -> dict[str, str]:
    """A SHA256SUMS file as {file name: digest}."""
    sums = {}
    for line in path.read_text().splitlines():
        digest, name = line.split("  ")
        sums[name] = digest
    return sums


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The bundled files written afresh by write_bundled (~2 s), and the digests it returned."""
    folder = tmp_path_factory.mktemp("regenerated")
    return folder, write_bundled(folder)


@pytest.fixture
def no_data_dir(monkeypatch) -> None:
    """Make sure the repository's own datasets/ folder is used."""
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)


def test_committed_files_match_their_checksums() -> None:
    sums = read_sums(COMMITTED / "SHA256SUMS")
    assert list(sums) == list(FILES)
    for name, digest in sums.items():
        assert sha256((COMMITTED / name).read_bytes()) == digest, name


def test_write_bundled_returns_the_digests_of_what_it_wrote(regenerated) -> None:
    folder, digests = regenerated
    assert list(digests) == list(FILES)
    for name, digest in digests.items():
        assert sha256((folder / name).read_bytes()) == digest


@pytest.mark.parametrize("name", FILES)
def test_regeneration_gives_the_committed_content(regenerated, name: str) -> None:
    """Compared decompressed, so a different zlib version cannot fail the test."""
    folder, _ = regenerated
    fresh, committed = (folder / name).read_bytes(), (COMMITTED / name).read_bytes()
    assert sha256(gzip.decompress(fresh)) == sha256(gzip.decompress(committed))
    # The 10-byte gzip header (flags, mtime, OS) does not depend on zlib: it must match.
    assert fresh[:10] == committed[:10]
    if fresh != committed:
        pytest.skip(
            f"{name}: same content, but this zlib compresses it to other bytes than the one "
            "that wrote the committed file, so only the content can be compared"
        )
    assert sha256(fresh) == read_sums(COMMITTED / "SHA256SUMS")[name]


@pytest.mark.slow  # a fresh interpreter imports torch and regenerates the data: ~5 s
def test_make_dataset_writes_the_files_and_their_checksums(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "tools" / "make_dataset.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "SHA256SUMS"])
    sums = read_sums(out / "SHA256SUMS")
    assert list(sums) == list(FILES)
    for name, digest in sums.items():
        assert sha256((out / name).read_bytes()) == digest
        assert digest in result.stdout
        committed = gzip.decompress((COMMITTED / name).read_bytes())
        assert sha256(gzip.decompress((out / name).read_bytes())) == sha256(committed)


def test_load_bundled_log_is_the_simulated_log(no_data_dir, bundled_simulation) -> None:
    log = load_bundled_log()
    assert list(log.columns) == list(LOG_COLUMNS)
    assert len(log) == len(bundled_simulation.log) > 150_000
    assert log["user_id"].nunique() == BUNDLED_CONFIG.num_users
    pd.testing.assert_frame_equal(log, bundled_simulation.log)


def test_side_tables_are_the_simulated_ones(no_data_dir, bundled_simulation) -> None:
    users, items = load_bundled_side_tables()
    pd.testing.assert_frame_equal(users, bundled_simulation.users)
    pd.testing.assert_frame_equal(items, bundled_simulation.items)
    assert len(items) == BUNDLED_CONFIG.num_items


def test_bundled_window_holds_every_genuine_event(no_data_dir, bundled_simulation) -> None:
    start, end = bundled_window()
    assert (start, end) == (1_511_568_000, 1_511_568_000 + 9 * 86_400)  # 2017-11-25 UTC
    log, injected = bundled_simulation.log, bundled_simulation.truth.injected
    assert log.loc[~injected, "timestamp"].between(start, end - 1).all()
    _, report = clean_log(load_bundled_log(), start=start, end=end)
    assert report.counts["outside time window"] == (log["timestamp"] < start).sum() > 0


def test_data_dir_defaults_to_the_repository(no_data_dir) -> None:
    assert data_dir() == REPOSITORY / "datasets"
    assert bundled_files()["log"] == COMMITTED / "behavior_log.csv.gz"


def test_data_dir_variable_redirects_the_loader(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    assert data_dir() == tmp_path
    assert set(bundled_files().values()) == {tmp_path / "simulated" / name for name in FILES}
    small = pd.DataFrame(
        {
            "user_id": [1, 1],
            "item_id": [5, 6],
            "category_id": [9, 9],
            "behavior": ["pv", "buy"],
            "timestamp": [1_511_568_000, 1_511_568_001],
        }
    )
    write_log(small, tmp_path / "simulated" / "behavior_log.csv.gz")
    pd.testing.assert_frame_equal(load_bundled_log(), small)


def test_missing_bundled_log_gives_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        load_bundled_log()
    message = str(error.value)
    assert str(tmp_path / "simulated" / "behavior_log.csv.gz") in message
    assert DATA_DIR_VARIABLE in message
    assert "tools/make_dataset.py" in message
