"""Tests for course_lib.data.ondisk: preparing a log on disk gives exactly what prepare gives."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.data import (
    LogValidationError,
    PreparedData,
    make_loader,
    prepare,
    read_log,
    read_taobao_user_behavior,
    time_cut,
    write_log,
)
from course_lib.data.ondisk import OnDiskData, OnDiskDataset, prepare_to_disk
from course_lib.data.ondisk.data import PARTS, SEQUENCE_FIELDS
from course_lib.data.ondisk.npy import NpyWriter
from course_lib.data.split import random_split
from course_lib.simulate import Simulation, SimulatorConfig, simulate


def messy_log(simulation: Simulation) -> pd.DataFrame:
    """The small simulated log shuffled (so users, duplicates and ties straddle chunks), with
    extra events at the same second as another event of the same user (ties, not duplicates)."""
    log = simulation.log
    ties = log.iloc[::97].assign(item_id=lambda frame: frame["item_id"] + 1)
    mixed = pd.concat([log, ties], ignore_index=True)
    return mixed.sample(frac=1.0, random_state=0).reset_index(drop=True)


def prepare_both(
    path: Path, out: Path, chunksize: int, **options: object
) -> tuple[PreparedData, OnDiskData]:
    memory = prepare(read_log(path), source=str(path), **options)
    disk = prepare_to_disk(path, out, chunksize=chunksize, **options)
    return memory, disk


def assert_same_data(memory: PreparedData, disk: OnDiskData) -> None:
    """Every array of the in-memory pipeline equals its on-disk counterpart."""
    assert disk.vocabularies == memory.vocabularies
    assert disk.behaviors == memory.behaviors
    np.testing.assert_array_equal(disk.item_category, memory.item_category)
    for name in SEQUENCE_FIELDS:
        expected = getattr(memory.sequences, name)
        np.testing.assert_array_equal(getattr(disk.sequences, name), expected, err_msg=name)
    for part in PARTS:
        np.testing.assert_array_equal(getattr(disk.split, part), getattr(memory.split, part))
        samples, expected = disk.samples(part), getattr(memory, part)
        for field in dataclasses.fields(expected):
            got, want = getattr(samples, field.name), getattr(expected, field.name)
            if want is None:  # rating and like of a log without values
                assert got is None, (part, field.name)
                continue
            assert got.dtype == want.dtype, (part, field.name)
            np.testing.assert_array_equal(got, want, err_msg=f"{part}.{field.name}")
    pd.testing.assert_series_equal(disk.cleaning.counts, memory.cleaning.counts)
    assert (disk.cleaning.rows_in, disk.cleaning.rows_out) == (
        memory.cleaning.rows_in,
        memory.cleaning.rows_out,
    )
    pd.testing.assert_frame_equal(disk.cleaning.dropped(), memory.cleaning.dropped)


@pytest.fixture(scope="module")
def small_csv(small_simulation: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "small.csv"
    write_log(small_simulation.log, path)
    return path


@pytest.fixture(scope="module")
def messy_csv(small_simulation: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "messy.csv"
    write_log(messy_log(small_simulation), path)
    return path


@pytest.fixture(scope="module")
def both(
    small_csv: Path, small_window: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> tuple[PreparedData, OnDiskData]:
    """The small log prepared in memory and on disk (chunks of 5,000 rows), its window."""
    start, end = small_window
    out = tmp_path_factory.mktemp("prepared")
    return prepare_both(small_csv, out, chunksize=5_000, start=start, end=end)


# ------------------------------------------------------------------------------- equivalence


def test_on_disk_equals_prepare(both: tuple[PreparedData, OnDiskData]) -> None:
    memory, disk = both
    assert_same_data(memory, disk)
    assert disk.cleaning.counts.sum() > 0  # every cleaning step had something to do
    assert (disk.cleaning.counts > 0).all()


@pytest.mark.parametrize("chunksize", [1_000_000, 1_234])
def test_shuffled_log_with_ties_equals_prepare(
    messy_csv: Path, small_window: tuple[int, int], tmp_path: Path, chunksize: int
) -> None:
    """Users, duplicates and same-second events spread over many chunks, in any file order."""
    start, end = small_window
    memory, disk = prepare_both(
        messy_csv, tmp_path, chunksize, start=start, end=end, num_negatives=2, seed=7
    )
    assert_same_data(memory, disk)


def test_a_value_column_is_dropped_with_a_warning(
    small_simulation: Simulation, small_window: tuple[int, int], tmp_path: Path
) -> None:
    """The on-disk build makes implicit-feedback samples only; it says so when a log has
    ratings, and equals `prepare` of the same log without them."""
    rated = small_simulation.log.assign(value=np.arange(len(small_simulation.log)) % 5 + 1.0)
    path = tmp_path / "rated.csv"
    write_log(rated, path)
    start, end = small_window
    with pytest.warns(UserWarning, match="value column .ratings. is not carried"):
        disk = prepare_to_disk(path, tmp_path / "out", chunksize=5_000, start=start, end=end)
    without = prepare(read_log(path).drop(columns="value"), start=start, end=end)
    assert_same_data(without, disk)
    assert disk.train.rating is None


def test_a_scenario_column_is_dropped_with_a_warning(tmp_path: Path) -> None:
    """A log of several scenarios: the on-disk build says it leaves the scenarios out, and
    equals `prepare` of the same log without them."""
    config = SimulatorConfig(num_users=200, num_items=100, num_categories=6, num_scenarios=2)
    path = tmp_path / "surfaces.csv"
    write_log(simulate(config).log, path)
    start, end = config.window
    with pytest.warns(UserWarning, match="scenario column is not carried"):
        disk = prepare_to_disk(path, tmp_path / "out", chunksize=2_000, start=start, end=end)
    without = prepare(read_log(path).drop(columns="scenario"), start=start, end=end)
    assert_same_data(without, disk)


def test_time_cut_splitter_equals_prepare(
    small_csv: Path, small_window: tuple[int, int], tmp_path: Path
) -> None:
    start, end = small_window
    splitter = functools.partial(time_cut, valid_start=end - 2 * 86_400, test_start=end - 86_400)
    memory, disk = prepare_both(small_csv, tmp_path, 3_000, start=start, splitter=splitter)
    assert_same_data(memory, disk)


def test_random_split_is_refused(small_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="random_split"):
        prepare_to_disk(small_csv, tmp_path, splitter=random_split)


def tiny_log() -> pd.DataFrame:
    """Three users whose events straddle every chunk boundary, with duplicates far apart."""
    rows = [
        (u, 10 + u % 4, 100 + u % 2, "pv", 1_511_600_000 + 10 * t)
        for t in range(6)
        for u in (1, 2, 3)
    ]
    rows += [(1, 11, 101, "buy", 1_511_600_000), (2, 12, 100, "cart", 1_511_600_010)]
    rows += [rows[0], rows[4], rows[-1], (3, 10, 101, "fav", 1_511_600_020)]
    return pd.DataFrame(
        rows, columns=["user_id", "item_id", "category_id", "behavior", "timestamp"]
    )


def test_chunk_boundaries_give_the_same_result(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    write_log(tiny_log(), path)
    options = {"min_events_per_user": 3, "num_negatives": 2}
    reference = prepare_to_disk(path, tmp_path / "whole", chunksize=1_000, **options)
    assert reference.cleaning.counts["duplicate"] == 3
    for chunksize in (1, 2, 5):
        chunked = prepare_to_disk(
            path, tmp_path / f"by{chunksize}", chunksize=chunksize, **options
        )
        for name in SEQUENCE_FIELDS:
            np.testing.assert_array_equal(
                getattr(chunked.sequences, name), getattr(reference.sequences, name)
            )
        for part in PARTS:
            np.testing.assert_array_equal(chunked.candidates[part], reference.candidates[part])
        pd.testing.assert_frame_equal(chunked.cleaning.dropped(), reference.cleaning.dropped())
    assert_same_data(prepare(read_log(path), **options), reference)


# ------------------------------------------------------------------------------ bad input


def corrupt(source: Path, target: Path, line: int, column: int, value: str) -> Path:
    """Copy a CSV with one field of one file line (the header is line 1) replaced."""
    lines = source.read_text().splitlines()
    fields = lines[line - 1].split(",")
    fields[column] = value
    lines[line - 1] = ",".join(fields)
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [(1, "abc", "'abc'"), (3, "click", "'click'"), (4, "", "missing")],
)
def test_bad_value_in_a_later_chunk_names_file_and_line(
    small_csv: Path, tmp_path: Path, column: int, value: str, shown: str
) -> None:
    path = corrupt(small_csv, tmp_path / "bad.csv", line=7_503, column=column, value=value)
    with pytest.raises(LogValidationError) as info:
        prepare_to_disk(path, tmp_path / "out", chunksize=1_000)
    message = str(info.value)
    assert str(path) in message
    assert "line 7503" in message
    assert shown in message
    assert "Fix:" in message
    assert not (tmp_path / "out" / "meta.json").exists()


def test_whole_number_floats_are_read_as_read_log_reads_them(
    small_csv: Path, tmp_path: Path
) -> None:
    """A typed parse of "12.0" fails; the file is then read with inferred types, as read_log."""
    value = small_csv.read_text().splitlines()[9_000].split(",")[1]
    path = corrupt(small_csv, tmp_path / "floats.csv", line=9_001, column=1, value=f"{value}.0")
    memory, disk = prepare_both(path, tmp_path / "out", chunksize=2_000)
    assert_same_data(memory, disk)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("user_id,item_id,category_id,behavior,timestamp\n")
    with pytest.raises(LogValidationError, match="empty"):
        prepare_to_disk(tmp_path / "empty.csv", tmp_path / "a")
    with pytest.raises(LogValidationError, match="no data rows"):
        prepare_to_disk(tmp_path / "header.csv", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="no such file"):
        prepare_to_disk(tmp_path / "absent.csv", tmp_path / "c")


def test_headerless_taobao_file(tmp_path: Path) -> None:
    path = tmp_path / "UserBehavior.csv"
    tiny_log().to_csv(path, header=False, index=False)
    disk = prepare_to_disk(path, tmp_path / "out", header=False, min_events_per_user=3)
    memory = prepare(read_taobao_user_behavior(path), min_events_per_user=3)
    assert_same_data(memory, disk)


def test_a_non_empty_folder_is_kept_unless_overwriting(small_csv: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        prepare_to_disk(small_csv, tmp_path)
    prepare_to_disk(small_csv, tmp_path, overwrite=True, keep_dropped=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="keep_dropped=True"):
        OnDiskData.open(tmp_path).cleaning.dropped()


def test_a_failed_overwrite_keeps_the_prepared_data(small_csv: Path, tmp_path: Path) -> None:
    """The new data is written beside the folder and moved in only when complete."""
    first = prepare_to_disk(small_csv, tmp_path / "out")
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,category_id,behavior,timestamp\n1,10,1,pv,1511544070\n")
    with pytest.raises(LogValidationError, match="cleaning removed all 1 rows"):
        prepare_to_disk(bad, tmp_path / "out", overwrite=True)
    assert OnDiskData.open(tmp_path / "out").meta == first.meta
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.csv", "out"]


def test_separator_and_encoding_equal_prepare(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    tiny_log().assign(note="café").to_csv(path, sep=";", encoding="latin-1", index=False)
    options = {"min_events_per_user": 3, "sep": ";", "encoding": "latin-1"}
    log = read_log(path, sep=";", encoding="latin-1").drop(columns="note")  # as on disk
    memory = prepare(log, min_events_per_user=3)
    assert_same_data(memory, prepare_to_disk(path, tmp_path / "out", chunksize=4, **options))


# ----------------------------------------------------------------------------- the dataset


@pytest.mark.parametrize("part", PARTS)
def test_memory_mapped_batches_equal_in_memory_batches(
    both: tuple[PreparedData, OnDiskData], part: str
) -> None:
    memory, disk = both
    expected = make_loader(memory.dataset(part, max_len=7), batch_size=300, shuffle=True, seed=3)
    got = make_loader(disk.dataset(part, max_len=7), batch_size=300, shuffle=True, seed=3)
    assert len(got) == len(expected)
    for batch, reference in zip(got, expected, strict=True):
        assert list(batch) == list(reference)
        for key, value in reference.items():
            assert batch[key].dtype == value.dtype, key
            torch.testing.assert_close(batch[key], value, rtol=0, atol=0, msg=key)


def test_single_examples_equal_in_memory_examples(both: tuple[PreparedData, OnDiskData]) -> None:
    memory, disk = both
    expected, got = memory.dataset("train", max_len=5), disk.dataset("train", max_len=5)
    assert isinstance(got, OnDiskDataset) and len(got) == len(expected)
    for index in (0, 1, 4, 5, 1_234, len(expected) - 1):
        reference, example = expected[index], got[index]
        assert list(example) == list(reference)
        for key, value in reference.items():
            assert example[key].dtype == value.dtype, key
            torch.testing.assert_close(example[key], value, rtol=0, atol=0, msg=key)


def test_reopening_needs_only_the_folder(
    small_simulation: Simulation, small_window: tuple[int, int], tmp_path: Path
) -> None:
    path = tmp_path / "log.csv"
    write_log(small_simulation.log, path)
    memory = prepare(read_log(path), start=small_window[0], end=small_window[1])
    prepare_to_disk(path, tmp_path / "out", start=small_window[0], end=small_window[1])
    path.unlink()
    reopened = OnDiskData.open(tmp_path / "out")
    assert isinstance(reopened.sequences.item, np.memmap)  # read lazily, not loaded
    assert isinstance(reopened.candidates["train"], np.memmap)
    assert_same_data(memory, reopened)
    assert str(reopened.cleaning) == str(memory.cleaning)
    assert reopened.meta["num_events"] == memory.sequences.num_events


def test_open_refuses_an_incomplete_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        OnDiskData.open(tmp_path)


def test_npy_writer_checks_the_announced_size(tmp_path: Path) -> None:
    with NpyWriter(tmp_path / "a.npy", np.int32, (2, 3)) as writer:
        writer.write(np.arange(4))
        writer.write(np.arange(2))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), [[0, 1, 2], [3, 0, 1]])
    writer = NpyWriter(tmp_path / "b.npy", np.int32, (2, 3))
    with pytest.raises(ValueError, match="5 elements written, 6 announced"), writer:
        writer.write(np.arange(5))
    writer = NpyWriter(tmp_path / "c.npy", np.int32, (2, 3))
    with pytest.raises(ValueError, match="more than the 6 elements"), writer:
        writer.write(np.arange(7))
