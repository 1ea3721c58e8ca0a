"""Per-user chronological sequences, stored flat: user u's events are ``offsets[u]:offsets[u+1]``.

One flat array per field (rather than a list of per-user lists) keeps every later step
vectorised: a target event is just a flat position, its history the positions before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sequences:
    """Every user's events in time order. ``N`` events of ``U`` users."""

    users: np.ndarray  # (U,) user index of each sequence
    offsets: np.ndarray  # (U + 1,) sequence u is positions offsets[u]:offsets[u + 1]
    item: np.ndarray  # (N,) item index of each event
    category: np.ndarray  # (N,)
    behavior: np.ndarray  # (N,) behavior index in funnel order (Taobao: pv = 2, ..., buy = 5)
    timestamp: np.ndarray  # (N,) unix seconds, non-decreasing within a user
    event_index: np.ndarray  # (N,) row label of the event in the log it came from
    value: np.ndarray | None = None  # (N,) float32 the event's value (a rating), NaN if missing;
    # None when the log has no value column
    scenario: np.ndarray | None = None  # (N,) scenario index of each event; None: no scenarios

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_events(self) -> int:
        return len(self.item)

    @property
    def lengths(self) -> np.ndarray:
        """(U,) number of events of each user."""
        return np.diff(self.offsets)

    @property
    def event_user(self) -> np.ndarray:
        """(N,) position in ``users`` of the sequence each event belongs to."""
        return np.repeat(np.arange(self.num_users), self.lengths)

    @property
    def position_in_sequence(self) -> np.ndarray:
        """(N,) how many events of the same user come before each event."""
        return np.arange(self.num_events) - self.offsets[:-1][self.event_user]

    def user_frame(self, sequence: int) -> pd.DataFrame:
        """One user's sequence as a small DataFrame, for looking at in a notebook."""
        part = slice(self.offsets[sequence], self.offsets[sequence + 1])
        return pd.DataFrame(
            {
                "item": self.item[part],
                "category": self.category[part],
                "behavior": self.behavior[part],
                "timestamp": self.timestamp[part],
            },
            index=pd.Index(self.event_index[part], name="event_index"),
        )


def build_sequences(encoded: pd.DataFrame) -> Sequences:
    """Group an encoded log by user and sort each user's events by time.

    Events with equal timestamps keep their order in the log, so the result is deterministic.

    Args:
        encoded: frame from ``encode_log`` (columns user, item, category, behavior, timestamp,
            and value and scenario if the log has them).
    """
    users = encoded["user"].to_numpy()
    timestamps = encoded["timestamp"].to_numpy()
    order = sequence_order(users, timestamps)
    users_sorted = users[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    return Sequences(
        users=users_sorted[starts],
        offsets=np.r_[starts, len(users_sorted)].astype(np.int64),
        item=encoded["item"].to_numpy()[order],
        category=encoded["category"].to_numpy()[order],
        behavior=encoded["behavior"].to_numpy()[order],
        timestamp=timestamps[order],
        event_index=encoded.index.to_numpy()[order],
        value=encoded["value"].to_numpy()[order] if "value" in encoded else None,
        scenario=encoded["scenario"].to_numpy()[order] if "scenario" in encoded else None,
    )


def sequence_order(user: np.ndarray, timestamp: np.ndarray) -> np.ndarray:
    """Positions sorted by user, then time; events of one user at the same second keep their
    order. The order of `build_sequences`, and the one in which cleaning finds duplicates.

    Args:
        user: (N,) non-negative integer user codes or indices.
        timestamp: (N,) unix seconds.

    Returns:
        (N,) int64 positions.
    """
    if len(user) == 0:
        return np.zeros(0, dtype=np.int64)
    first = timestamp.min()
    packable = np.issubdtype(timestamp.dtype, np.integer) and 0 <= user.min() <= user.max() < 2**31
    if not packable or int(timestamp.max()) - int(first) >= 2**32:
        return np.lexsort((timestamp, user))  # stable too
    # One int64 key that sorts like (user, timestamp): half the work and memory of lexsort.
    key = user.astype(np.int64) << 32
    key |= timestamp - first
    return np.argsort(key, kind="stable")


def items_before(
    sequences: Sequences,
    start: np.ndarray,
    end: np.ndarray,
    num_items: int,
    behavior: int | None = None,
) -> np.ndarray:
    """True at every item of the events ``start[b]:end[b]`` of the flat sequences.

    What a user has already seen (or, with ``behavior``, already bought) before a cut: the
    items a recommendation list or a "something new" ranking leaves out.

    Args:
        start, end: flat positions; each row's events, all of one user.
        num_items: V, the item vocabulary's size.
        behavior: only events of this behavior index (the conversion, say); None: all.

    Shape:
        start, end: (B,) -> (B, V) bool
    """
    counts = np.asarray(end, dtype=np.int64) - start  # (B,) events of each row
    owner = np.repeat(np.arange(len(counts)), counts)  # (E,) row of each event
    # (E,) flat position of each event: start[b], start[b] + 1, ... for every row b
    positions = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts - start, counts)
    if behavior is not None:
        keep = sequences.behavior[positions] == behavior
        owner, positions = owner[keep], positions[keep]
    mask = np.zeros((len(counts), num_items), dtype=bool)
    mask[owner, sequences.item[positions]] = True
    return mask
