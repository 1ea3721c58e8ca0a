"""Bad input a user brings, one row each: a clear error, nothing lost, nothing half-written.

A row is an input (files written into ``tmp_path``, then a call that reads them: a reader,
``prepare_to_disk``, the command line, ``load_checkpoint``, a data set loader), the error it
must raise and the fragments its message must hold: the file, the column, the offending
values with their lines, the fix. After every row the folder must hold exactly what it held
before (the input files unchanged, no output folder, no temporary sibling), unless the row
names a file the call deletes on purpose. The next bad input someone finds is one more row.

Below the table: the values that must never merge silently, and the warning about a
validation set with too few positives.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.checkpoint import CheckpointError, load_checkpoint
from course_lib.cli import main
from course_lib.data import (
    LogValidationError,
    make_loader,
    prepare,
    read_log,
    read_taobao_user_behavior,
    validate_log,
)
from course_lib.data.ondisk import prepare_to_disk
from course_lib.data.pipeline import PreparedData
from course_lib.datasets import CorruptArchiveError, load_movielens
from course_lib.tasks import Task, standard_tasks
from course_lib.training.options import TrainOptions
from course_lib.training.trainer import MIN_VALID_POSITIVES, count_positives, fit

T0 = 1_511_544_070  # 2017-11-24 17:21:10 UTC
HEADER = "user_id,item_id,category_id,behavior,timestamp"
UNUSED_PORT_URL = "http://127.0.0.1:9/ml-100k.zip"  # the discard port: never reached below


def text(*lines: str, header: str | None = HEADER) -> bytes:
    """A CSV file's bytes: the header (None: none), then the lines."""
    return "".join(f"{line}\n" for line in ([header] if header else []) + list(lines)).encode()


def events(users: int = 3, per_user: int = 6) -> list[str]:
    """Valid lines: each user views items 10, 11, ... one second apart."""
    return [
        f"{u},{10 + k},1,pv,{T0 + 10 * u + k}"
        for u in range(1, users + 1)
        for k in range(per_user)
    ]


# ------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Row:
    """One bad input and what it must give.

    Attributes:
        files: relative path -> bytes, written into tmp_path before the call.
        call: reads them; it gets tmp_path.
        error: the exception type it must raise.
        says: fragments the message must contain; "{tmp}" stands for tmp_path.
        deletes: input files the call deletes on purpose; every other one must stay as it was.
        marks: pytest marks of the row (a skip with its reason).
    """

    files: dict[str, bytes]
    call: Callable[[Path], object]
    error: type[Exception]
    says: tuple[str, ...]
    deletes: tuple[str, ...] = ()
    marks: tuple = ()


def read_both(
    name: str, data: bytes, *says: str, header: bool = True, **options: object
) -> dict[str, Row]:
    """Two rows for one bad file: the in-memory reader and ``prepare_to_disk`` must agree."""
    reader = read_log if header else read_taobao_user_behavior
    file = {"log.csv": data}

    def on_disk(tmp: Path) -> object:
        return prepare_to_disk(tmp / "log.csv", tmp / "out", header=header, **options)

    return {
        f"{name} ({reader.__name__})": Row(
            file, lambda tmp: reader(tmp / "log.csv", **options), LogValidationError, says
        ),
        f"{name} (prepare_to_disk)": Row(file, on_disk, LogValidationError, says),
    }


def prepare_both(name: str, data: bytes, *says: str, **options: object) -> dict[str, Row]:
    """Two rows for a file that reads well but cannot be prepared: prepare and prepare_to_disk."""
    file = {"log.csv": data}

    def in_memory(tmp: Path) -> PreparedData:
        return prepare(read_log(tmp / "log.csv"), source=str(tmp / "log.csv"), **options)

    def on_disk(tmp: Path) -> object:
        return prepare_to_disk(tmp / "log.csv", tmp / "out", **options)

    return {
        f"{name} (prepare)": Row(file, in_memory, LogValidationError, says),
        f"{name} (prepare_to_disk)": Row(file, on_disk, LogValidationError, says),
    }


class ExitStatus(Exception):
    """What ``python -m course_lib`` ended with: its status, then what it printed to stderr."""


def command(
    *arguments: str, files: dict[str, bytes] | None = None, says: tuple = (), marks: tuple = ()
) -> Row:
    """A row for the command line: ``train`` with these arguments ("{tmp}" = tmp_path) must
    exit with status 2, the documented usage error, before it writes anything."""

    def run(tmp: Path) -> None:
        defaults = ["--out", f"{tmp}/run", "--no-progress", "--device", "cpu"]  # row's win
        argv = ["train", *defaults, *(argument.format(tmp=tmp) for argument in arguments)]
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                status = main(argv)
            except SystemExit as exit_:
                status = exit_.code
        raise ExitStatus(f"status {status}: {stderr.getvalue()}")

    return Row(files or {}, run, ExitStatus, ("status 2", *says), marks=marks)


def saved_checkpoint() -> bytes:
    """The bytes of a torch file that holds plain data but is not a checkpoint."""
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    return buffer.getvalue()


NOT_A_ZIP = b"<html>502 Bad Gateway</html>"  # what a proxy serves instead of an archive
USERS = b"user_id,gender\n1,F\n2,M\n3,F\n"  # a users side table of events()' users

ROWS: dict[str, Row] = {
    # -------------------------------------------------------------------------- reading a log
    **read_both(
        "a non-integer id",
        text(*events(1, 2), "3.5,10,1,pv,1511544070"),
        "{tmp}/log.csv",
        "column 'user_id' has missing or non-integer values",
        "'3.5' (line 4)",
        "Fix: ids and timestamps must be whole numbers",
    ),
    **read_both(
        "an id of 2**63",
        text(*events(1, 2), "9223372036854775808,10,1,pv,1511544070"),
        "{tmp}/log.csv",
        "column 'user_id' has whole numbers too large for int64",
        "'9223372036854775808' (line 4)",
        "Fix: map these ids to smaller ones",
    ),
    **read_both(
        "bytes that are not UTF-8",
        text(*events(1, 2)) + "4,10,1,vué,1511544070\n".encode("latin-1"),
        "{tmp}/log.csv",
        "not utf-8 text on line 4",
        "b'\\xe9'",
        "encoding='latin-1'",
    ),
    **read_both(
        "separated by semicolons",
        text(*[line.replace(",", ";") for line in events(1, 2)], header=HEADER.replace(",", ";")),
        "{tmp}/log.csv",
        "line 1 is one field",
        "separated by ';', not ','",
        "Fix: pass sep=';'",
    ),
    **read_both(
        "separated by tabs",
        text(*[line.replace(",", "\t") for line in events(1, 2)], header=None),
        "{tmp}/log.csv",
        "separated by '\\t', not ','",
        "sep='\\t'",
        header=False,
    ),
    **read_both(
        "a header in a headerless file",
        text(*events(1, 2)),
        "{tmp}/log.csv",
        "line 1 looks like a header ('user_id', 'item_id'",
        "read_log(path)",
        "header=True",
        header=False,
    ),
    **read_both(
        "no header where one is expected",
        text(*events(1, 2), header=None),
        "{tmp}/log.csv",
        "missing column(s)",
        "looks like data, not a header",
        "read_taobao_user_behavior",
        "--format taobao",
    ),
    **read_both(
        "a ragged line",
        text(*events(1, 2), "1,2,3,pv,1511544070,extra"),
        "{tmp}/log.csv",
        "not a valid CSV",
        "line 4",
        "same number of fields",
    ),
    **read_both("an empty file", b"", "{tmp}/log.csv", "the file is empty", "Fix:"),
    **read_both("a header only", text(), "{tmp}/log.csv", "no data rows", "Fix:"),
    "a folder for a file (read_log)": Row(
        {"logs/log.csv": text(*events())},
        lambda tmp: read_log(tmp / "logs"),
        LogValidationError,
        ("{tmp}/logs: this is a folder, not a file", "e.g. {tmp}/logs/log.csv"),
    ),
    "a folder for a file (prepare_to_disk)": Row(
        {"logs/log.csv": text(*events())},
        lambda tmp: prepare_to_disk(tmp / "logs", tmp / "out"),
        LogValidationError,
        ("{tmp}/logs: this is a folder, not a file",),
    ),
    "floats of 2**53 or more in a DataFrame": Row(
        {},
        lambda tmp: validate_log(
            pd.DataFrame(
                {
                    "user_id": [2.0**53, 2.0**53 + 2, 3.0],
                    "item_id": 1,
                    "category_id": 1,
                    "behavior": "pv",
                    "timestamp": T0,
                }
            )
        ),
        LogValidationError,
        ("column 'user_id' holds floats of 2**53 or more", "(row 0)", "(row 1)", "dtype="),
    ),
    # ------------------------------------------------------------- a log that cleaning empties
    **prepare_both(
        "one user with one event",
        text("1,10,1,pv,1511544070"),
        "cleaning removed all 1 rows",
        "1 as 'user with too few events' (min_events_per_user=5)",
        "Fix: lower min_events_per_user",
    ),
    **prepare_both(
        "every event outside the time window",
        text(*events()),
        "cleaning removed all 18 rows",
        "18 as 'outside time window' [start, end) = ['2020-01-01', None)",
        "Fix: widen start and end",
        "the log runs from 2017-11-24 17:21:20 to 2017-11-24 17:21:45",
        start="2020-01-01",
    ),
    # ------------------------------------------------------------------------ the command line
    "--epochs 0": command("--epochs", "0", says=("--epochs", "positive whole number")),
    "--batch-size 0": command("--batch-size", "0", says=("--batch-size", "0 is not a positive")),
    "--lr nan": command("--lr", "nan", says=("--lr", "nan is not a finite number above 0")),
    "--max-len 0": command("--max-len", "0", says=("--max-len", "positive whole number")),
    "--embed-dim 0": command("--embed-dim", "0", says=("--embed-dim", "positive whole number")),
    "--max-steps-per-epoch 0": command("--max-steps-per-epoch", "0", says=("positive whole",)),
    "--max-steps-per-epoch -1": command("--max-steps-per-epoch", "-1", says=("-1 is not a",)),
    "--seed -1": command("--seed", "-1", says=("--seed", "negative")),
    "--device cuda without a GPU": command(
        "--device",
        "cuda",
        says=("--device cuda: this machine has no cuda device",),
        marks=(pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),),
    ),
    "--device gpu": command("--device", "gpu", says=("--device 'gpu': not a device",)),
    "--behaviors repeated": command("--behaviors", "pv,pv,buy", says=("['pv'] given more than",)),
    "--behaviors empty": command("--behaviors", "", says=("--behaviors '': an empty name",)),
    "--tasks repeated": command("--tasks", "click,click", says=("['click'] given more than",)),
    "--epochs 0 from --config": command(
        "--config",
        "{tmp}/options.json",
        files={"options.json": json.dumps({"epochs": 0}).encode()},
        says=("--epochs", "0 is not a positive whole number"),
    ),
    "--data a folder": command(
        "--data",
        "{tmp}/logs",
        files={"logs/log.csv": text(*events())},
        says=("--data {tmp}/logs: this is a folder, not a file",),
    ),
    "--out under a file": command(
        "--out",
        "{tmp}/notes.txt/run",
        files={"notes.txt": b"mine"},
        says=("{tmp}/notes.txt is a file, not a folder",),
    ),
    "--format taobao on a file with a header": command(
        "--data",
        "{tmp}/log.csv",
        "--format",
        "taobao",
        files={"log.csv": text(*events())},
        says=("{tmp}/log.csv: line 1 looks like a header",),
    ),
    "--data a log that cleaning empties": command(
        "--data",
        "{tmp}/log.csv",
        files={"log.csv": text("1,10,1,pv,1511544070")},
        says=("{tmp}/log.csv: cleaning removed all 1 rows", "min_events_per_user=5"),
    ),
    # ---------------------------------------------------------------------------- checkpoints
    "a truncated checkpoint": Row(
        {"model.pt": saved_checkpoint()[:300]},
        lambda tmp: load_checkpoint(tmp / "model.pt"),
        CheckpointError,
        ("{tmp}/model.pt: not a readable checkpoint", "300 bytes", "Fix:"),
    ),
    "an empty checkpoint": Row(
        {"model.pt": b""},
        lambda tmp: load_checkpoint(tmp / "model.pt"),
        CheckpointError,
        ("{tmp}/model.pt: not a readable checkpoint", "0 bytes", "EOFError"),
    ),
    "a CSV for a checkpoint": Row(
        {"model.pt": text(*events(1, 2))},
        lambda tmp: load_checkpoint(tmp / "model.pt"),
        CheckpointError,
        ("{tmp}/model.pt: not a readable checkpoint",),
    ),
    "a torch file that is not a checkpoint": Row(
        {"model.pt": saved_checkpoint()},
        lambda tmp: load_checkpoint(tmp / "model.pt"),
        CheckpointError,
        ("{tmp}/model.pt: a torch file, but not a course_lib checkpoint", "'vocabularies'"),
    ),
    "a folder for a checkpoint": Row(
        {"run/metrics.json": b"{}"},
        lambda tmp: load_checkpoint(tmp / "run"),
        CheckpointError,
        ("{tmp}/run: a folder, not a checkpoint", "pass {tmp}/run/model.pt"),
    ),
    # ------------------------------------------------------------------------- side features
    "a side table without the feature's column": command(
        "--data",
        "{tmp}/log.csv",
        "--users",
        "{tmp}/users.csv",
        "--features",
        "age:user",
        files={"log.csv": text(*events()), "users.csv": USERS},
        says=("{tmp}/users.csv: no column 'age'", "['user_id', 'gender']", "column=<the"),
    ),
    "a side table that repeats an id": command(
        "--data",
        "{tmp}/log.csv",
        "--users",
        "{tmp}/users.csv",
        "--features",
        "gender:user",
        files={"log.csv": text(*events()), "users.csv": USERS + b"2,F\n"},
        says=("{tmp}/users.csv: column 'user_id' repeats 1 id(s), e.g. [2]", "drop_duplicates"),
    ),
    "text in a numeric feature's column": command(
        "--data",
        "{tmp}/log.csv",
        "--items",
        "{tmp}/items.csv",
        "--features",
        "price:item:numeric",
        files={"log.csv": text(*events()), "items.csv": b"item_id,price\n10,2.5\n11,cheap\n"},
        says=(
            "{tmp}/items.csv: column 'price'",
            "not numbers: ['cheap'] (ids [11])",
            "kind='categorical'",
        ),
    ),
    "a user feature without a users table": command(
        "--data",
        "{tmp}/log.csv",
        "--features",
        "gender:user",
        files={"log.csv": text(*events())},
        says=("feature 'gender' reads the users table, but none was given", "--users FILE"),
    ),
    "a feature without its source": command(
        "--features", "age_group", says=("--features 'age_group'", "NAME:SOURCE:KIND")
    ),
    "a feature of an unknown kind": command(
        "--features", "price:item:float", says=("KIND one of ['categorical', 'multi'",)
    ),
    "a feature whose name is not an identifier": command(
        "--features", "age group:user", says=("name must be an identifier",)
    ),
    "a feature given twice": command(
        "--features", "price:item,price:item", says=("given more than once",)
    ),
    # ------------------------------------------------------------------------------ data sets
    "a malformed sha256= (checked before any download)": Row(
        {},
        lambda tmp: load_movielens(cache_dir=tmp, url=UNUSED_PORT_URL, sha256="abc123"),
        ValueError,
        ("sha256='abc123'", "not a SHA-256 checksum (6 characters", "64 hexadecimal digits"),
    ),
    "a corrupt archive whose checksum was given": Row(
        {"movielens/ml-100k.zip": NOT_A_ZIP},
        lambda tmp: load_movielens(
            cache_dir=tmp,
            url=UNUSED_PORT_URL,
            sha256=hashlib.sha256(NOT_A_ZIP).hexdigest(),
            download=False,
        ),
        CorruptArchiveError,
        ("{tmp}/movielens/ml-100k.zip: not a readable zip archive", "deleted from the cache"),
        deletes=("movielens/ml-100k.zip",),
    ),
}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under a folder with its bytes (None for a folder)."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "row", [pytest.param(row, id=name, marks=row.marks) for name, row in ROWS.items()]
)
def test_bad_input_gives_a_clear_error_and_leaves_everything_as_it_was(
    tmp_path: Path, row: Row
) -> None:
    for name, data in row.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    before = snapshot(tmp_path)
    with pytest.raises(row.error) as error:
        row.call(tmp_path)
    message = str(error.value)
    for fragment in row.says:
        assert fragment.format(tmp=tmp_path) in message, message
    expected = {path: data for path, data in before.items() if path not in row.deletes}
    assert snapshot(tmp_path) == expected  # nothing lost, nothing half-written


# ---------------------------------------------------------------- values that must not merge

# user_id texts of one file, each user with one event: ids above 2**53 sit beside a value
# that makes pandas read the column as float64, where they would round into one id.
MERGE_TRAPS = {
    "beside 3.0": ["9007199254740993", "9007199254740992", "3.0"],
    "beside 4.2e1": ["9007199254740995", "9007199254740994", "4.2e1"],
    "near the int64 limit": ["9223372036854775807", "9223372036854775806", "5.0"],
    "beside 3.5": ["9007199254740993", "9007199254740992", "3.5"],
    "beside a gap": ["9007199254740993", "9007199254740992", ""],
    "beside 2**63": ["9223372036854775807", "9223372036854775808"],
}


def exact_ids(texts: list[str]) -> set[int]:
    return {int(Decimal(t)) for t in texts}


@pytest.mark.parametrize("texts", MERGE_TRAPS.values(), ids=MERGE_TRAPS)
@pytest.mark.parametrize("gzipped", [False, True], ids=["csv", "csv.gz"])
def test_a_wrong_value_is_never_silently_merged(
    tmp_path: Path, texts: list[str], gzipped: bool
) -> None:
    """Both pipelines either keep every distinct id exactly or refuse the file by its lines."""
    lines = [f"{user},{10 + k},1,pv,{T0 + k}" for k, user in enumerate(texts)]
    data = text(*lines)
    path = tmp_path / ("log.csv.gz" if gzipped else "log.csv")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    try:
        log = read_log(path)
    except LogValidationError as error:
        assert "column 'user_id'" in str(error) and "(line " in str(error)
        with pytest.raises(LogValidationError, match="column 'user_id'"):
            prepare_to_disk(path, tmp_path / "out", min_events_per_user=1, num_negatives=0)
        return
    assert set(log["user_id"].tolist()) == exact_ids(texts)
    disk = prepare_to_disk(path, tmp_path / "out", min_events_per_user=1, num_negatives=0)
    assert set(disk.vocabularies.user.tokens) == exact_ids(texts)


def with_decimals(line: str) -> str:
    """The line with every whole number written as a decimal: "12" becomes "12.0"."""
    return ",".join(f"{field}.0" if field.isdigit() else field for field in line.split(","))


def test_whole_numbers_written_as_decimals_read_as_the_same_ids(tmp_path: Path) -> None:
    """A log written from a float column ("12.0") reads as the integers it holds (documented
    choice: the text proves the number whole), in both pipelines, with the same results."""
    plain, decimal = tmp_path / "plain.csv", tmp_path / "decimal.csv"
    plain.write_bytes(text(*events()))
    decimal.write_bytes(text(*[with_decimals(line) for line in events()]))
    pd.testing.assert_frame_equal(read_log(decimal), read_log(plain))
    options = {"min_events_per_user": 3, "num_negatives": 1}
    ours = prepare_to_disk(decimal, tmp_path / "a", **options)
    reference = prepare_to_disk(plain, tmp_path / "b", **options)
    assert ours.vocabularies == reference.vocabularies
    np.testing.assert_array_equal(ours.sequences.item, reference.sequences.item)


# ---------------------------------------------------------- a validation set without positives


class ClickBuyModel(nn.Module):
    """The candidate's embedding and one linear head per task."""

    def __init__(self) -> None:
        super().__init__()
        self.item = nn.Embedding(12, 4)
        self.heads = nn.ModuleDict({"click": nn.Linear(4, 1), "buy": nn.Linear(4, 1)})

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = self.item(batch["candidate"])  # (B, 4)
        return {name: head(hidden).squeeze(-1) for name, head in self.heads.items()}  # (B,)


def toy_batch(samples: int, buys: int) -> dict[str, torch.Tensor]:
    candidate = torch.arange(samples) % 10 + 2
    buy = torch.zeros(samples)
    buy[:buys] = 1.0
    return {"candidate": candidate, "click": (candidate % 2).float(), "buy": buy}


@pytest.mark.parametrize(("buys", "warns"), [(1, True), (MIN_VALID_POSITIVES, False)])
def test_fit_warns_when_a_binary_task_has_almost_no_validation_positives(
    buys: int, warns: bool
) -> None:
    """1 buy among 215 validation samples: early stopping on buy would chase noise."""
    tasks = [Task("click", "binary", "click"), Task("buy", "binary", "buy")]
    train, valid = [toy_batch(64, 8)], [toy_batch(215, buys)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(
            ClickBuyModel(),
            tasks,
            train,
            valid,
            epochs=1,
            options=TrainOptions(device="cpu", progress=False),
        )
    messages = [str(w.message) for w in caught if "validation set holds" in str(w.message)]
    expected = (
        "task 'buy': the validation set holds 1 positive(s) among 215 samples, fewer than "
        f"MIN_VALID_POSITIVES = {MIN_VALID_POSITIVES}: its validation metrics are mostly "
        "noise, and so is a best epoch or an early stop chosen by them. Fix: a larger "
        "validation set (more users, or a longer validation window with time_cut), or "
        "monitor another task"
    )
    assert messages == ([expected] if warns else [])
    assert all(w.category is UserWarning for w in caught if str(w.message) in messages)


def test_positives_come_from_the_label_arrays_without_a_pass_over_the_batches(
    small_prepared: PreparedData,
) -> None:
    vocab = small_prepared.vocabularies
    known = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = [known["click"], known["buy"]]
    loader = make_loader(small_prepared.dataset("valid", max_len=5), batch_size=100)
    from_arrays = count_positives(tasks, loader)
    from_batches = count_positives(tasks, list(loader))
    assert from_arrays == from_batches
    valid = small_prepared.valid
    assert from_arrays[known["buy"]] == (int(valid.buy.sum()), len(valid.buy))
