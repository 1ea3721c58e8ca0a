"""The whole preprocessing flow in one call, for notebooks after 01 and for practitioners.

Notebook 01 runs each step by hand; ``prepare`` chains the same functions:
validate -> clean -> vocabularies -> encode -> sequences -> split -> samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from course_lib.data.clean import CleaningReport, clean_log, require_rows_left
from course_lib.data.dataset import BehaviorDataset
from course_lib.data.encode import (
    Vocabularies,
    build_vocabularies,
    encode_log,
    funnel,
    item_category_table,
)
from course_lib.data.features import Feature, SideFeatures, encode_features
from course_lib.data.samples import LIKE_THRESHOLD, Samples, make_samples
from course_lib.data.schema import TAOBAO_BEHAVIORS, LogValidationError, validate_log
from course_lib.data.sequences import Sequences, build_sequences
from course_lib.data.split import Split, leave_last_out

PARTS = ("train", "valid", "test")
NUM_NEGATIVES = 4  # implicit feedback: sampled negative candidates per true next item


def check_part(part: str) -> None:
    """Refuse a part name other than "train", "valid" or "test"."""
    if part not in PARTS:
        raise ValueError(f"part must be 'train', 'valid' or 'test', got {part!r}")


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
    features: SideFeatures = field(default_factory=SideFeatures, kw_only=True)

    @property
    def behaviors(self) -> tuple[str, ...]:
        """The behavior funnel the data was prepared with; its last behavior is the buy label."""
        return self.vocabularies.behaviors

    def dataset(self, part: str, max_len: int = 50) -> BehaviorDataset:
        """The torch Dataset of one part: "train", "valid" or "test"."""
        check_part(part)
        return BehaviorDataset(self.sequences, getattr(self, part), max_len=max_len)


def prepare(
    log: pd.DataFrame,
    *,
    behaviors: Sequence[str] = TAOBAO_BEHAVIORS,
    min_events_per_user: int = 5,
    start: int | str | None = None,
    end: int | str | None = None,
    splitter: Callable[[Sequences], Split] = leave_last_out,
    feedback: Literal["implicit", "explicit"] = "implicit",
    num_negatives: int | None = None,
    like_threshold: float = LIKE_THRESHOLD,
    features: Sequence[Feature] = (),
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    seed: int = 0,
    source: str = "the DataFrame",
) -> PreparedData:
    """Turn a raw behavior log (the data contract) into samples for every task.

    The behavior funnel is a parameter, so any data set's behaviors go through unchanged: the
    log is validated against it, the behavior vocabulary keeps its order (remembered in
    ``vocabularies.behavior`` and ``PreparedData.behaviors``), and the samples' ``buy`` label
    marks its last behavior, the conversion.

    Args:
        log: the raw log; it is validated first, so bad input fails with a clear error.
        behaviors: the log's behaviors in funnel order, the conversion last; Taobao's
            ("pv", "fav", "cart", "buy") by default, e.g. ("view", "addtocart", "transaction")
            for RetailRocket or ("rate", "like") for MovieLens.
        min_events_per_user, start, end: passed to ``clean_log``.
        splitter: makes the train / valid / test targets, e.g. ``leave_last_out`` or
            ``functools.partial(time_cut, valid_start=..., test_start=...)``.
        feedback: how samples are made. "implicit": each target's true next item (click = 1)
            and ``num_negatives`` sampled items the user did not turn to (click = 0), for
            click and buy. "explicit": every target event is one sample of its own item,
            labelled by the log's ``value`` column (a rating): rating and like.
        num_negatives: negatives per target; None: 4 for implicit feedback, 0 for explicit
            (the only number it takes).
        like_threshold: a value at or above it is a like (when the log has values).
        features: side features to encode (``Feature("age_group", "user")``), read from
            ``users`` and ``items``: side tables keyed by "user_id" and "item_id". A model
            reads the ones named in ``build_model(features=...)``.
        seed: seeds negative sampling (each part gets its own stream).
        source: names the log in error messages (a file path, say).

    Raises:
        LogValidationError: If the log breaks the contract, or cleaning leaves no rows (the
            message names the rules that removed them and the parameters that relax them),
            or explicit feedback is asked of a log without values, or a side table lacks a
            declared feature's column (or repeats an id, or a numeric one holds text).
        ValueError: An unknown ``feedback``, or negatives asked of explicit feedback.
    """
    behaviors = funnel(behaviors)
    num_negatives = sample_scheme(feedback, num_negatives)
    valid = validate_log(log, source=source, behaviors=behaviors)
    if feedback == "explicit" and ("value" not in valid or valid["value"].isna().all()):
        raise LogValidationError(
            f"{source}: feedback='explicit' labels every event by its value (a rating), but "
            "the log has no values. Fix: add a numeric column 'value' (MovieLens' rating, "
            "say), or prepare it with feedback='implicit'"
        )
    clean, report = clean_log(valid, start=start, end=end, min_events_per_user=min_events_per_user)
    require_rows_left(
        report,
        source=source,
        start=start,
        end=end,
        min_events_per_user=min_events_per_user,
        timestamps=valid["timestamp"].to_numpy(),
    )
    vocabularies = build_vocabularies(clean, behaviors=behaviors)
    encoded = encode_log(clean, vocabularies)
    item_category = item_category_table(encoded, len(vocabularies.item))
    sequences = build_sequences(encoded)
    split = splitter(sequences)
    buy_index = vocabularies.conversion_index
    parts = {
        part: make_samples(
            sequences,
            getattr(split, part),
            item_category,
            num_negatives,
            seed + offset,
            buy_index=buy_index,
            like_threshold=like_threshold,
        )
        for offset, part in enumerate(PARTS)  # each part its own stream of negatives
    }
    side_features = encode_features(
        features,
        vocabularies,
        users=users,
        items=items,
        trained_users=np.unique(parts["train"].user),
    )
    return PreparedData(
        features=side_features,
        vocabularies=vocabularies,
        item_category=item_category,
        sequences=sequences,
        split=split,
        cleaning=report,
        **parts,
    )


def sample_scheme(feedback: str, num_negatives: int | None) -> int:
    """The negatives per target of a feedback scheme (see `prepare`), or a clear ValueError."""
    if feedback not in ("implicit", "explicit"):
        raise ValueError(f"feedback must be 'implicit' or 'explicit', got {feedback!r}")
    if num_negatives is None:
        return NUM_NEGATIVES if feedback == "implicit" else 0
    if isinstance(num_negatives, bool) or not isinstance(num_negatives, int | np.integer):
        raise ValueError(f"num_negatives must be a whole number >= 0, got {num_negatives!r}")
    if num_negatives < 0 or (feedback == "explicit" and num_negatives):
        most = "0 (every event is its own sample)" if feedback == "explicit" else ">= 0"
        raise ValueError(f"num_negatives={num_negatives} with feedback={feedback!r}: use {most}")
    return int(num_negatives)
