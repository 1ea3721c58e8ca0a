"""Side features: what is known about a user or an item besides their behavior (notebook 07).

A feature is declared once, as data (``Feature("age_group", "user")``), like a task; the
pipeline validates its side table, encodes it with the rules the log's ids follow, and hands
the model one table per feature, indexed by the user's or the item's vocabulary index:

- ``categorical``: one value per user or item (gender, age group, a brand), encoded by a
  `Vocabulary` of its own (most frequent first, 0 = PAD, 1 = UNK for a missing value);
- ``multi``: several values per item in one string, e.g. MovieLens' genres
  ``"Action|Comedy"``; a row of codes, PAD-filled to the most values any item has;
- ``numeric``: a number (a price), standardised to mean 0 and spread 1 over the users or
  items of the log; a missing number becomes 0, the mean.

The user id itself is a feature too, ``Feature("user_id", "user")``: it needs no table. Users
without a training sample (cold-start users, after a time cut) map to UNK, whose vector starts
at zero and is never trained: a model scores them from their history and attributes alone,
not from an id vector that training never touched.

The tables travel with the model (``models.SideFeatureEmbedding`` keeps them as buffers, and a
checkpoint stores them), so a model looks a feature up from the user and item indices every
batch already carries. Event features (what happened at each history event) are the behavior,
always embedded, and the event's value (a rating), with ``build_model(history_values=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from course_lib.data.encode import Vocabularies
from course_lib.data.schema import LogValidationError
from course_lib.data.vocab import NUM_RESERVED, PAD, UNK, Vocabulary

KINDS = ("categorical", "multi", "numeric")
SOURCES = {"user": "user_id", "item": "item_id"}  # whose feature -> its side table's key


@dataclass(frozen=True)
class Feature:
    """One side feature, declared by name (see the module doc).

    Args:
        name: how the feature is known to models and messages; a Python identifier.
        source: "user" (a column of the users table) or "item" (of the items table).
        kind: "categorical", "multi" (several values in one string) or "numeric".
        column: the side table's column; None: the same as ``name``. A user feature on the
            column "user_id" is the user id itself.
        separator: splits a "multi" feature's string into its values.
    """

    name: str
    source: Literal["user", "item"]
    kind: Literal["categorical", "multi", "numeric"] = "categorical"
    column: str | None = None
    separator: str = "|"

    def __post_init__(self) -> None:
        problems = {
            "name": self.name.isidentifier(),
            "source": self.source in SOURCES,
            "kind": self.kind in KINDS,
        }
        wrong = [key for key, ok in problems.items() if not ok]
        if wrong:
            raise ValueError(
                f"Feature {self.name!r}: bad {wrong}; name must be an identifier, source one "
                f"of {list(SOURCES)}, kind one of {list(KINDS)}"
            )

    @property
    def table_column(self) -> str:
        """The side table's column this feature reads."""
        return self.column or self.name

    @property
    def is_user_id(self) -> bool:
        """True for the user id itself, which needs no side table."""
        return self.source == "user" and self.table_column == SOURCES["user"]


@dataclass(frozen=True)
class SideFeatures:
    """The encoded side features of prepared data: one table per feature, and its vocabulary.

    ``tables[name]`` is indexed by the user's (user features) or the item's vocabulary index:
    (num_users,) or (num_items,) int64 codes for a categorical feature, (num_items, width) for
    a multi-valued one, float32 values for a numeric one. Row PAD is always PAD (or 0.0).
    ``missing[name]`` counts the users or items of the log that the side table lacks (or
    leaves empty); they are kept, with the UNK code or 0.0.
    """

    features: tuple[Feature, ...] = ()
    tables: dict[str, np.ndarray] = field(default_factory=dict)
    vocabularies: dict[str, Vocabulary] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The features' names, in declaration order."""
        return tuple(feature.name for feature in self.features)

    def pick(self, names: Sequence[str]) -> SideFeatures:
        """The features of ``names`` only (a model that reads some of them), or a ValueError."""
        unknown = [name for name in names if name not in self.names]
        if unknown:
            raise ValueError(
                f"unknown side feature(s) {unknown}; the data has {list(self.names)}. Fix: "
                f"declare them in prepare(features=...) with their users= or items= table"
            )
        return SideFeatures(
            tuple(feature for feature in self.features if feature.name in names),
            {name: self.tables[name] for name in names},
            {name: self.vocabularies[name] for name in names if name in self.vocabularies},
            {name: self.missing[name] for name in names},
        )


def encode_features(
    features: Sequence[Feature],
    vocabularies: Vocabularies,
    *,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    trained_users: np.ndarray | None = None,
) -> SideFeatures:
    """Validate the side tables and encode every declared feature (see the module doc).

    Args:
        features: the declarations; names unique.
        vocabularies: the log's, whose user and item indices the tables follow.
        users, items: the side tables, keyed by "user_id" and "item_id" (raw ids, one row
            each); rows of ids the log does not have are ignored. Messages name a table by
            its ``attrs["source"]`` (a file path, say) when it has one.
        trained_users: user indices with a training sample; the user id feature maps every
            other user to UNK. None: every user of the vocabulary keeps its own code.

    Raises:
        LogValidationError: naming the table, the column, the offending values and the fix.
    """
    names = [feature.name for feature in features]
    if len(set(names)) != len(names):
        raise ValueError(f"side feature names must be unique; got {names}")
    encoded = SideFeatures(tuple(features))
    for feature in features:
        size = len(vocabularies.user if feature.source == "user" else vocabularies.item)
        if feature.is_user_id:
            table = np.arange(size, dtype=np.int64)
            if trained_users is not None:
                table[~np.isin(table, trained_users) & (table >= NUM_RESERVED)] = UNK
            encoded.tables[feature.name], encoded.missing[feature.name] = table, 0
            continue
        entity = vocabularies.user if feature.source == "user" else vocabularies.item
        values = _column(feature, users if feature.source == "user" else items, entity)
        encoded.missing[feature.name] = int(values.isna().sum())
        if feature.kind == "numeric":
            encoded.tables[feature.name] = _standardised(values)
            continue
        if feature.kind == "categorical":
            vocabulary = Vocabulary.build(values.dropna(), feature.name)
            table = np.concatenate([[PAD, UNK], vocabulary.encode(values)])  # NaN -> UNK
        else:
            vocabulary, table = _multi_valued(feature, values)
        encoded.vocabularies[feature.name], encoded.tables[feature.name] = vocabulary, table
    return encoded


def _column(feature: Feature, table: pd.DataFrame | None, entity: Vocabulary) -> pd.Series:
    """The feature's values for every id of ``entity``'s vocabulary (reserved ones excluded),
    NaN where the side table lacks the id; or a LogValidationError."""
    key, column = SOURCES[feature.source], feature.table_column
    if table is None:
        raise LogValidationError(
            f"feature {feature.name!r} reads the {feature.source}s table, but none was given. "
            f"Fix: pass prepare(..., {feature.source}s=<a DataFrame with {key!r} and "
            f"{column!r}>); on the command line, --{feature.source}s FILE"
        )
    where = table.attrs.get("source", f"the {feature.source}s table")
    for needed in (key, column):
        if needed not in table.columns:
            raise LogValidationError(
                f"{where}: no column {needed!r} (feature {feature.name!r}); it has "
                f"{list(table.columns)}. Fix: rename the column, or declare the feature with "
                f"column=<the column's name>"
            )
    repeated = table[key][table[key].duplicated()]
    if len(repeated):
        raise LogValidationError(
            f"{where}: column {key!r} repeats {len(repeated)} id(s), e.g. "
            f"{repeated.unique()[:5].tolist()}; one row per {feature.source} is needed. Fix: "
            f"keep one row per id (drop_duplicates({key!r}))"
        )
    values = table.set_index(key)[column]
    if feature.kind == "numeric" and not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()]
        if bad.empty:  # numbers written as text
            return numbers.reindex(pd.Index(entity.tokens))
        raise LogValidationError(
            f"{where}: column {column!r} (numeric feature {feature.name!r}) holds values that "
            f"are not numbers: {bad.unique()[:5].tolist()} (ids {bad.index[:5].tolist()}). "
            f"Fix: convert them, or declare the feature kind='categorical'"
        )
    return values.reindex(pd.Index(entity.tokens))


def _multi_valued(feature: Feature, values: pd.Series) -> tuple[Vocabulary, np.ndarray]:
    """The vocabulary of every single value, and (PAD, UNK, *rows) of codes, PAD-filled."""
    lists = values.fillna("").astype(str).str.split(feature.separator, regex=False)
    lists = lists.map(lambda parts: [part for part in parts if part])
    vocabulary = Vocabulary.build(lists.explode().dropna(), feature.name)
    width = max([1, *(len(parts) for parts in lists)])
    table = np.full((NUM_RESERVED + len(lists), width), PAD, dtype=np.int64)
    table[UNK, 0] = UNK  # the UNK item has an unknown value
    for row, parts in enumerate(lists, start=NUM_RESERVED):
        codes = vocabulary.encode(parts) if parts else [UNK]  # no value at all: unknown
        table[row, : len(codes)] = codes
    return vocabulary, table


def _standardised(values: pd.Series) -> np.ndarray:
    """(PAD, UNK, *values) as float32, standardised over the known values; missing -> 0."""
    numbers = values.astype(np.float64)
    spread = numbers.std(ddof=0)
    scaled = (numbers - numbers.mean()) / (spread if spread > 0 else 1.0)
    return np.concatenate([[0.0, 0.0], scaled.fillna(0.0).to_numpy()]).astype(np.float32)
