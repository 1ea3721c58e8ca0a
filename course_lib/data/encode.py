"""Encoding a clean log: one vocabulary per id column, and the log rewritten as indices."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.schema import TAOBAO_BEHAVIORS
from course_lib.data.vocab import NUM_RESERVED, PAD, UNK, Vocabulary

ENCODED_COLUMNS = {"user_id": "user", "item_id": "item", "category_id": "category"}


@dataclass(frozen=True)
class Vocabularies:
    """The vocabularies a model needs; saved together so a checkpoint can carry them.

    ``scenario`` exists when the log has a scenario column (the surface of each event).
    """

    user: Vocabulary
    item: Vocabulary
    category: Vocabulary
    behavior: Vocabulary
    scenario: Vocabulary | None = None

    def to_dict(self) -> dict:
        """Plain nested dict, safe for JSON and for ``torch.load(weights_only=True)``."""
        return {
            name: getattr(self, name).to_dict()
            for name in self.__dataclass_fields__
            if getattr(self, name) is not None
        }

    @classmethod
    def from_dict(cls, data: dict) -> Vocabularies:
        """Inverse of ``to_dict``."""
        return cls(
            **{
                name: Vocabulary.from_dict(data[name])
                for name in cls.__dataclass_fields__
                if name in data
            }
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write all four vocabularies to one JSON file."""
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabularies:
        """Read vocabularies written by ``save``."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    @property
    def num_behaviors(self) -> int:
        """Number of behavior classes (the next-behavior task's classes), reserved ids excluded."""
        return len(self.behavior) - NUM_RESERVED

    @property
    def behaviors(self) -> tuple[str, ...]:
        """The behavior funnel in order, e.g. ("pv", "fav", "cart", "buy")."""
        return tuple(self.behavior.tokens)

    @property
    def conversion_index(self) -> int:
        """Behavior index of the funnel's last behavior, the one the buy label stands for."""
        return len(self.behavior) - 1


def funnel(behaviors: Sequence[str]) -> tuple[str, ...]:
    """Check a behavior funnel and return it as a tuple (a bare string is a common slip)."""
    if isinstance(behaviors, str) or len(behaviors) == 0:
        raise ValueError(
            f"behaviors must be a non-empty sequence of behavior names in funnel order, e.g. "
            f"{TAOBAO_BEHAVIORS}; got {behaviors!r}"
        )
    return tuple(behaviors)


def build_vocabularies(
    log: pd.DataFrame, behaviors: Sequence[str] = TAOBAO_BEHAVIORS, min_item_count: int = 1
) -> Vocabularies:
    """Vocabularies of the users, items and categories in ``log`` (a clean contract frame).

    Behaviors keep their funnel order (Taobao: pv = 2, fav = 3, cart = 4, buy = 5) rather than
    frequency order, so a behavior's index minus 2 is its class in the next-behavior task and
    the last behavior is the conversion (``Vocabularies.conversion_index``). Pass the log's own
    funnel for other data sets, e.g. ("view", "addtocart", "transaction").
    Items seen fewer than ``min_item_count`` times map to UNK.
    """
    columns = [*ENCODED_COLUMNS, *(["scenario"] if "scenario" in log else [])]
    counts = {column: log[column].value_counts() for column in columns}
    return vocabularies_from_counts(counts, behaviors, min_item_count)


def vocabularies_from_counts(
    counts: dict[str, pd.Series], behaviors: Sequence[str], min_item_count: int = 1
) -> Vocabularies:
    """`build_vocabularies` from the ids already counted, so both drivers share the rule.

    Args:
        counts: for "user_id", "item_id" and "category_id" (and "scenario" when the log
            has one), the count of every id (index: id, value: count), as
            ``Vocabulary.from_counts`` takes them.
        behaviors, min_item_count: as for `build_vocabularies`.
    """
    return Vocabularies(
        user=Vocabulary.from_counts(counts["user_id"], "user_id"),
        item=Vocabulary.from_counts(counts["item_id"], "item_id", min_count=min_item_count),
        category=Vocabulary.from_counts(counts["category_id"], "category_id"),
        behavior=Vocabulary(list(funnel(behaviors)), "behavior"),
        scenario=Vocabulary.from_counts(counts["scenario"], "scenario")
        if "scenario" in counts
        else None,
    )


def encode_log(log: pd.DataFrame, vocabularies: Vocabularies) -> pd.DataFrame:
    """Replace raw ids by vocabulary indices; the index and the timestamps are kept.

    Returns:
        A frame with int64 columns user, item, category, behavior, timestamp, and the log's
        ``value`` (a rating, say; float32, NaN where missing) and ``scenario`` (int64 indices)
        when it has them.
    """
    encoded = pd.DataFrame(
        {
            short: getattr(vocabularies, short).encode(log[column].to_numpy())
            for column, short in ENCODED_COLUMNS.items()
        },
        index=log.index,
    )
    encoded["behavior"] = vocabularies.behavior.encode(log["behavior"].to_numpy())
    encoded["timestamp"] = log["timestamp"].to_numpy(dtype=np.int64)
    if "value" in log:
        encoded["value"] = log["value"].to_numpy(dtype=np.float32, na_value=np.nan)
    if vocabularies.scenario is not None:
        encoded["scenario"] = vocabularies.scenario.encode(log["scenario"].to_numpy())
    return encoded


def item_category_table(encoded: pd.DataFrame, num_items: int) -> np.ndarray:
    """Category index of every item index, for the next-category task and negative samples.

    An item seen under several categories gets its most frequent one, ties going to the
    smaller category index, so the table never depends on row order. PAD maps to PAD, and
    UNK and items absent from ``encoded`` map to UNK.

    Returns:
        (num_items,) int64 array indexed by item index.
    """
    item, category = encoded["item"].to_numpy(), encoded["category"].to_numpy()
    return most_frequent_category(item, category, num_items)


def most_frequent_category(item: np.ndarray, category: np.ndarray, num_items: int) -> np.ndarray:
    """`item_category_table` from the item and category index of every event, as arrays.

    Args:
        item, category: (N,) indices of each event (integer arrays of any width).
        num_items: length of the table (the item vocabulary's size).

    Returns:
        (num_items,) int64 array indexed by item index.
    """
    num_categories = int(category.max(initial=0)) + 1
    pairs = item.astype(np.int64)  # (N,) one key per (item, category), built in place
    pairs *= num_categories
    pairs += category
    pairs.sort()  # counted by sorting: faster than hashing millions of random keys
    first = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]][: len(pairs)])
    count = np.diff(np.r_[first, len(pairs)])
    item, category = np.divmod(pairs[first], num_categories)
    known = item >= NUM_RESERVED
    item, category, count = item[known], category[known], count[known]
    table = np.full(num_items, UNK, dtype=np.int64)
    table[PAD] = PAD
    order = np.lexsort((category, -count, item))  # by item, most frequent first
    item, category = item[order], category[order]
    first = np.r_[True, item[1:] != item[:-1]] if len(item) else np.zeros(0, dtype=bool)
    table[item[first]] = category[first]
    return table
