"""`prepare_to_disk`: `prepare` for a log CSV larger than memory, writing its results to disk.

The same functions as `prepare`, step by step, on compact arrays. Memory per event (B =
bytes; the codes of step 1, 21 B, are kept through step 3):

1. read: validated chunks (`read_chunks`) into int32 codes: 21 B, plus one chunk of raw text
   and frames (~0.1 GB for a million rows, whatever the log's size);
2. clean: `drop_steps`, whose stable sort (`sequence_order`) takes +8 B key, +8 B result and
   up to +4 B scratch, then keeps the order as int32 (+4 B): ~45 B at the peak;
3. encode: the kept rows moved from user-code order into sequence order by a linear scatter
   (~+20 B of int32 temporaries), the sequence arrays written one at a time (+8 B for the
   (item, category) pairs counted on the way), then all freed;
4. split and samples, block by block from the memory-mapped sequences: 8 B per training
   target, one block of candidates, and the pages of item.npy read.

Measured (benchmarks/bench_large_logs.py): ~1.7 GB peak at 30M events, of which 0.34 GB is
the interpreter with numpy, pandas and torch. Time is linear in the events except the sort
(N log N; nearly linear for files already grouped by user, such as Taobao's).
"""

from __future__ import annotations

import json
import numbers
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from course_lib.data.clean import TimeBound, cleaning_bounds, drop_steps, require_rows_left
from course_lib.data.encode import funnel
from course_lib.data.ondisk.clean import CleaningCounts, write_dropped
from course_lib.data.ondisk.data import FORMAT_VERSION, PARTS, OnDiskData, open_sequences
from course_lib.data.ondisk.npy import NpyWriter
from course_lib.data.ondisk.read import read_compact
from course_lib.data.ondisk.sequences import (
    code_vocabularies,
    sequence_rows,
    split_by_users,
    write_sequences,
)
from course_lib.data.samples import draw_candidates
from course_lib.data.schema import TAOBAO_BEHAVIORS
from course_lib.data.sequences import Sequences
from course_lib.data.split import Split, leave_last_out

# What the samples lack when the on-disk build drops an optional column of the log.
DROPPED = {
    "value": "value column (ratings) is not carried by prepare_to_disk, so the samples have "
    "no rating or like labels.",
    "scenario": "scenario column is not carried by prepare_to_disk, so the samples have no "
    "scenario and a scenario-aware model (scenario_design) cannot read them.",
}


def prepare_to_disk(
    csv_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    behaviors: Sequence[str] = TAOBAO_BEHAVIORS,
    min_events_per_user: int = 5,
    start: TimeBound = None,
    end: TimeBound = None,
    splitter: Callable[[Sequences], Split] = leave_last_out,
    num_negatives: int = 4,
    seed: int = 0,
    chunksize: int = 1_000_000,
    header: bool = True,
    sep: str = ",",
    encoding: str = "utf-8",
    keep_dropped: bool = True,
    overwrite: bool = False,
) -> OnDiskData:
    """Prepare a log CSV (the data contract) into ``out_dir`` without loading it whole.

    Gives exactly what ``prepare(read_log(csv_path), ...)`` gives with the same arguments:
    the same vocabularies, sequences, split targets and samples (negatives included), and the
    same cleaning counts; see ``course_lib.data.ondisk.data`` for the files written.

    Args:
        csv_path: the log; plain or compressed (.gz, .zip, ...), read ``chunksize`` rows at a time.
        out_dir: an empty or new folder (or any folder with ``overwrite=True``).
        behaviors, min_events_per_user, start, end, num_negatives, seed: as for `prepare`.
        splitter: as for `prepare`, but it must treat each user on its own, since it runs on
            blocks of users (`leave_last_out` and `time_cut` do; `random_split` is refused).
        chunksize: rows read per chunk, and events or targets per block in later steps.
        header: False for a headerless file with the five columns in contract order, such as
            Taobao's UserBehavior.csv.
        sep, encoding: the field separator and the text encoding, as for `read_log`.
        keep_dropped: also write the dropped rows with their reason to ``dropped.csv``
            (``cleaning.dropped()`` reads it back); the report itself keeps counts only.
        overwrite: replace prepared data already in ``out_dir`` (its other files stay).

    Everything is written into a new sibling folder first and moved into ``out_dir`` only
    when complete, so a failure (a bad log, a log that cleaning empties) leaves nothing.

    Returns:
        The prepared data, opened from ``out_dir`` (``OnDiskData.open`` reopens it later).

    Raises:
        LogValidationError: If the file breaks the contract (the message names file and line),
            or cleaning leaves no rows (the message names the rules and their parameters).
        FileExistsError: If ``out_dir`` is not empty and ``overwrite`` is False.
    """
    behaviors = funnel(behaviors)
    lo, hi = cleaning_bounds(start, end, min_events_per_user)  # bad arguments fail before reading
    for name, value, least in (("chunksize", chunksize, 1), ("num_negatives", num_negatives, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    out = Path(out_dir)
    _check_output_folder(out, overwrite)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def phase_done(name: str) -> None:
        nonlocal clock
        seconds[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    with _written_in_place_of(out) as work:
        log = read_compact(
            csv_path,
            behaviors=behaviors,
            chunksize=chunksize,
            header=header,
            sep=sep,
            encoding=encoding,
        )
        for column in log.dropped:
            warnings.warn(
                f"{csv_path}: its {DROPPED[column]} Fix: prepare the log in memory with "
                f"prepare(read_log(path), ...), which keeps it",
                UserWarning,
                stacklevel=2,
            )
        if len(log) >= 2**31:
            raise ValueError(f"{len(log):,} rows: more than this pipeline's int32 rows hold")
        phase_done("read")
        step, order = drop_steps(
            log.user,
            log.timestamp,
            (log.item, log.category, log.behavior),
            window=(lo, hi),
            min_events_per_user=min_events_per_user,
        )
        order = order.astype(np.int32)  # rows by (user code, timestamp, row)
        counts = CleaningCounts.of(step)
        require_rows_left(
            counts,
            source=str(csv_path),
            start=start,
            end=end,
            min_events_per_user=min_events_per_user,
            timestamps=log.timestamp,
        )
        if keep_dropped:
            write_dropped(log, step, work / "dropped.csv", chunksize)
        phase_done("clean")
        vocabularies, tables = code_vocabularies(log, step == 0, behaviors)
        vocabularies.save(work / "vocabularies.json")
        num_items = len(vocabularies.item)
        rows, offsets = sequence_rows(log.user, step, order, tables["user"])
        del step, order
        item_category = write_sequences(work / "sequences", log, rows, offsets, tables, num_items)
        np.save(work / "item_category.npy", item_category)
        del log, rows  # from here on, only the memory-mapped sequences
        phase_done("encode and sequences")

        sequences = open_sequences(work)
        split = split_by_users(sequences, splitter, chunksize)
        for offset, part in enumerate(PARTS):
            targets = getattr(split, part)
            (work / part).mkdir()
            np.save(work / part / "target.npy", targets)
            rng = np.random.default_rng(seed + offset)  # as `prepare` seeds the part
            shape = (len(targets), num_negatives + 1)
            with NpyWriter(work / part / "candidate.npy", np.int32, shape) as writer:
                # At least one block, so an empty part still checks the vocabulary.
                for begin in range(0, max(len(targets), 1), chunksize):
                    next_item = sequences.item[targets[begin : begin + chunksize]]
                    writer.write(draw_candidates(next_item, num_items, num_negatives, rng))
        phase_done("split and samples")

        meta = {
            "format": FORMAT_VERSION,
            "source": str(csv_path),
            "behaviors": list(behaviors),
            "min_events_per_user": min_events_per_user,
            "window": [lo, hi],
            "splitter": getattr(splitter, "__name__", repr(splitter)),
            "num_negatives": num_negatives,
            "seed": seed,
            "num_events": sequences.num_events,
            "num_users": sequences.num_users,
            "targets": {part: len(getattr(split, part)) for part in PARTS},
            "cleaning": {
                "rows_in": counts.rows_in,
                "rows_out": counts.rows_out,
                "dropped_rows": list(counts.dropped_rows),
            },
            "seconds": seconds,
        }
        (work / "meta.json").write_text(json.dumps(meta, indent=1))  # marks the folder complete
    return OnDiskData.open(out)


def _check_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless overwriting, before any work."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: a file, not a folder. Fix: choose a folder for out_dir")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        fix = "choose a new folder, or pass overwrite=True to replace its prepared data"
        raise FileExistsError(f"{out}: the folder is not empty. Fix: {fix}")


@contextmanager
def _written_in_place_of(out: Path) -> Iterator[Path]:
    """A new sibling folder of ``out`` to write into, moved into place if the block succeeds.

    On an error nothing of it is left and ``out`` is untouched, so a bad log leaves no
    half-written folder. A new ``out`` is the sibling renamed; into an existing one, each
    prepared file replaces its namesake (other files stay), and meta.json comes last.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    work.mkdir()  # mkdir, not tempfile: the folder gets the usual permissions
    try:
        yield work
        if not out.exists():
            work.rename(out)
            return
        (out / "meta.json").unlink(missing_ok=True)  # incomplete until the new one is in
        (out / "dropped.csv").unlink(missing_ok=True)  # an old one would not match
        for entry in sorted(work.iterdir(), key=lambda path: path.name == "meta.json"):
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            entry.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
