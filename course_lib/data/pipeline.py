"""The whole preprocessing flow in one call, for notebooks after 01 and for practitioners.

Notebook 01 runs each step by hand; ``prepare`` chains the same functions:
validate -> clean -> vocabularies -> encode -> sequences -> split -> samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from course_lib.data.clean import CleaningReport, clean_log
from course_lib.data.dataset import BehaviorDataset
from course_lib.data.encode import (
    Vocabularies,
    build_vocabularies,
    encode_log,
    item_category_table,
)
from course_lib.data.samples import Samples, make_samples
from course_lib.data.schema import validate_log
from course_lib.data.sequences import Sequences, build_sequences
from course_lib.data.split import Split, leave_last_out


@dataclass(frozen=True)
class PreparedData:
    """Everything the models need from a log, and the report of what cleaning removed."""

    vocabularies: Vocabularies
    item_category: np.ndarray  # (num_items,) category index of every item index
    sequences: Sequences
    split: Split
    train: Samples
    valid: Samples
    test: Samples
    cleaning: CleaningReport

    def dataset(self, part: str, max_len: int = 50) -> BehaviorDataset:
        """The torch Dataset of one part: "train", "valid" or "test"."""
        if part not in ("train", "valid", "test"):
            raise ValueError(f"part must be 'train', 'valid' or 'test', got {part!r}")
        return BehaviorDataset(self.sequences, getattr(self, part), max_len=max_len)


def prepare(
    log: pd.DataFrame,
    *,
    min_events_per_user: int = 5,
    start: int | str | None = None,
    end: int | str | None = None,
    splitter: Callable[[Sequences], Split] = leave_last_out,
    num_negatives: int = 4,
    seed: int = 0,
    source: str = "the DataFrame",
) -> PreparedData:
    """Turn a raw behavior log (the data contract) into samples for every task.

    Args:
        log: the raw log; it is validated first, so bad input fails with a clear error.
        min_events_per_user, start, end: passed to ``clean_log``.
        splitter: makes the train / valid / test targets, e.g. ``leave_last_out`` or
            ``functools.partial(time_cut, valid_start=..., test_start=...)``.
        num_negatives: negative candidates per target for the click and buy tasks.
        seed: seeds negative sampling (each part gets its own stream).
        source: names the log in error messages (a file path, say).
    """
    clean, report = clean_log(
        validate_log(log, source=source),
        start=start,
        end=end,
        min_events_per_user=min_events_per_user,
    )
    vocabularies = build_vocabularies(clean)
    encoded = encode_log(clean, vocabularies)
    item_category = item_category_table(encoded, len(vocabularies.item))
    sequences = build_sequences(encoded)
    split = splitter(sequences)
    parts = {
        name: make_samples(sequences, targets, item_category, num_negatives, seed=seed + offset)
        for offset, (name, targets) in enumerate(
            [("train", split.train), ("valid", split.valid), ("test", split.test)]
        )
    }
    return PreparedData(
        vocabularies=vocabularies,
        item_category=item_category,
        sequences=sequences,
        split=split,
        cleaning=report,
        **parts,
    )
