"""Training samples: a target event, a candidate item, and a label for every task.

For each target, the true next item is a positive candidate (click = 1) and ``num_negatives``
items drawn uniformly from the catalogue are negatives (click = 0). The other labels describe
the target event itself, so they are the same for a positive and its negatives:

| label          | kind                     | meaning                                        |
| -------------- | ------------------------ | ---------------------------------------------- |
| click          | binary                   | the candidate is the item the user turns to next |
| buy            | binary (rare)            | click, and that interaction is a conversion    |
| next_behavior  | multiclass (the funnel)  | how far the next interaction goes in the funnel |
| next_item      | ranking over all items   | which item the user turns to next              |
| next_category  | multiclass               | the category of that item                      |
| rating         | regression               | the target event's value (stars), on the positive |
| like           | binary                   | rating >= ``like_threshold``, on the positive  |

The conversion is the last behavior of the log's funnel: "buy" in Taobao's pv, fav, cart, buy,
"transaction" in RetailRocket's view, addtocart, transaction, "like" in MovieLens' rate, like.
``make_samples`` takes its behavior index as ``buy_index`` (``Vocabularies.conversion_index``);
the default is Taobao's "buy".

Rating and like exist only when the log has a ``value`` column (explicit feedback, such as
MovieLens ratings); they are NaN where a sample carries no value: on negatives, whose
candidate the user never rated, and on events left unrated. With ``num_negatives=0`` every
target event is one sample of its own item, the explicit-feedback scheme of ``prepare``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from course_lib.data.sequences import Sequences
from course_lib.data.vocab import NUM_RESERVED

# Behavior index of Taobao's "buy" (pv = 2, fav = 3, cart = 4, buy = 5), the default conversion.
BUY_INDEX = NUM_RESERVED + 3
LIKE_THRESHOLD = 4.0  # a rating of 4 stars or more is a like (MovieLens' usual cut)


@dataclass(frozen=True)
class Samples:
    """One row per (target event, candidate item) pair. Every field has shape (S,)."""

    target: np.ndarray  # flat position of the target event in the Sequences
    event_index: np.ndarray  # row label of the target event in the original log
    user: np.ndarray  # user index
    candidate: np.ndarray  # candidate item index
    candidate_category: np.ndarray
    click: np.ndarray  # float32 0/1
    buy: np.ndarray  # float32 0/1: click and the target event is the conversion (funnel's last)
    next_behavior: np.ndarray  # class 0..K-1 = the funnel's behaviors (Taobao: pv, fav, cart, buy)
    next_item: np.ndarray  # item index of the target event
    next_category: np.ndarray
    rating: np.ndarray | None = None  # float32 value of the target event; None: no values
    like: np.ndarray | None = None  # float32 0/1: rating >= like_threshold; NaN without a rating
    scenario: np.ndarray | None = None  # scenario index of the target event; None: no scenarios

    def __len__(self) -> int:
        return len(self.target)

    def present(self) -> dict[str, np.ndarray]:
        """Every field the samples have (rating and like only when the log has values,
        scenario only when it has scenarios)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    def take(self, indices: np.ndarray) -> Samples:
        """Some of the samples, every field (B,)."""
        return Samples(**{name: value[indices] for name, value in self.present().items()})

    def to_frame(self) -> pd.DataFrame:
        """All fields as columns, for looking at samples in a notebook."""
        return pd.DataFrame(self.present())


def make_samples(
    sequences: Sequences,
    targets: np.ndarray,
    item_category: np.ndarray,
    num_negatives: int = 4,
    seed: int = 0,
    *,
    buy_index: int = BUY_INDEX,
    like_threshold: float = LIKE_THRESHOLD,
) -> Samples:
    """Build the samples of some target events (one part of a ``Split``).

    Args:
        sequences: the users' sequences the targets point into.
        targets: flat positions of the target events, e.g. ``split.train``.
        item_category: (num_items,) category index of every item index; its length is the
            item vocabulary size, and negatives are drawn from indices 2..num_items-1.
        num_negatives: negative candidates per target; 0 keeps only the true next item.
        seed: seeds the negative sampling.
        buy_index: behavior index of the conversion, the funnel's last behavior, whose
            positives get buy = 1; pass ``vocabularies.conversion_index`` for a funnel other
            than Taobao's (the default is Taobao's "buy").
        like_threshold: a rating at or above it is a like (when the sequences have values).

    Returns:
        Samples ordered target by target: the positive first, then its negatives.
    """
    if buy_index < NUM_RESERVED:
        raise ValueError(f"buy_index must be a behavior index >= {NUM_RESERVED}, got {buy_index}")
    targets = np.asarray(targets, dtype=np.int64)
    rng = np.random.default_rng(seed)
    candidate = draw_candidates(sequences.item[targets], len(item_category), num_negatives, rng)
    group = num_negatives + 1
    is_positive = np.tile(np.arange(group) == 0, len(targets))
    repeated = np.repeat(targets, group)
    return label_samples(
        sequences, repeated, candidate, is_positive, item_category, buy_index, like_threshold
    )


def draw_candidates(
    next_item: np.ndarray, num_items: int, num_negatives: int, rng: np.random.Generator
) -> np.ndarray:
    """Each target's candidates: its true next item, then ``num_negatives`` negatives.

    Blocks of targets drawn one after the other with one Generator give the candidates of
    one call on all of them (see `draw_negatives`).

    Args:
        next_item: (T,) item index of each target event.
        num_items: the item vocabulary's size.

    Returns:
        (T * (1 + num_negatives),) int64, target by target.
    """
    group = num_negatives + 1
    repeated = np.repeat(np.asarray(next_item, dtype=np.int64), group)
    if not num_negatives:
        return repeated
    negatives = draw_negatives(repeated, num_items, rng)
    return np.where(np.tile(np.arange(group) == 0, len(next_item)), repeated, negatives)


def label_samples(
    sequences: Sequences,
    target: np.ndarray,
    candidate: np.ndarray,
    is_positive: np.ndarray,
    item_category: np.ndarray,
    buy_index: int = BUY_INDEX,
    like_threshold: float = LIKE_THRESHOLD,
) -> Samples:
    """The samples of (target, candidate) pairs: every other field follows from these.

    Args:
        sequences: the sequences the targets point into; item, category and behavior may
            be of any integer width (memory maps, say), the samples' fields are int64.
        target, candidate, is_positive: (S,) per sample: the flat position of its target
            event, its candidate item, and whether that is the true next item.
        item_category, buy_index, like_threshold: as for `make_samples`.
    """
    target = np.asarray(target, dtype=np.int64)
    candidate = np.asarray(candidate, dtype=np.int64)
    sequence = np.searchsorted(sequences.offsets, target, side="right") - 1
    behavior = np.asarray(sequences.behavior[target], dtype=np.int64)
    rating = like = None
    if sequences.value is not None:  # a negative's candidate was never rated: NaN
        rating = np.where(is_positive, sequences.value[target], np.nan).astype(np.float32)
        with np.errstate(invalid="ignore"):  # NaN compares False; it stays NaN below
            like = np.where(np.isnan(rating), np.nan, rating >= like_threshold).astype(np.float32)
    return Samples(
        target=target,
        event_index=np.asarray(sequences.event_index[target]),  # the log's row labels
        user=np.asarray(sequences.users[sequence]),
        candidate=candidate,
        candidate_category=np.asarray(item_category[candidate], dtype=np.int64),
        click=is_positive.astype(np.float32),
        buy=(is_positive & (behavior == buy_index)).astype(np.float32),
        next_behavior=behavior - NUM_RESERVED,
        next_item=np.asarray(sequences.item[target], dtype=np.int64),
        next_category=np.asarray(sequences.category[target], dtype=np.int64),
        rating=rating,
        like=like,
        scenario=None if sequences.scenario is None else sequences.scenario[target],
    )


def draw_negatives(
    positives: np.ndarray, num_items: int, seed: int | np.random.Generator
) -> np.ndarray:
    """One uniform item index in [2, num_items) per row, never equal to the row's positive.

    Each row takes the next draw of the generator's stream, so drawing consecutive blocks of
    ``positives`` with one Generator gives exactly the draws of one call on all of them (how
    a log too large for memory is sampled block by block). That holds for the int64 draws
    below; numpy buffers narrower draws within one call, so keep the dtype.

    Args:
        positives: (S,) item index of each row's positive.
        num_items: the item vocabulary's size.
        seed: a seed for a new generator, or a Generator to continue.
    """
    if num_items - NUM_RESERVED < 2:
        known = num_items - NUM_RESERVED
        raise ValueError(
            f"need at least 2 items to sample negatives; the log has {known} (the vocabulary's "
            f"{num_items} indices include PAD and UNK). Fix: a log with more items, or "
            "num_negatives=0"
        )
    rng = np.random.default_rng(seed)  # a Generator is returned as it is
    known = positives >= NUM_RESERVED  # an UNK positive excludes nothing
    drawn = rng.integers(NUM_RESERVED, num_items - known)
    return drawn + (known & (drawn >= positives))
