"""What a recommendation reads from the prepared data: each user's history up to a cut, and
the items to leave out of their list.

Taught in notebook 06 (evaluation and recommendation lists). Users are named by their *raw*
ids, the ones of the log, and converted with ``data.vocabularies``. The cut ``until`` says which
events a history may use:

| until   | the history is                                  | use it for                       |
| ------- | ----------------------------------------------- | -------------------------------- |
| "now"   | every event of the user in ``data.sequences``   | a live list after the last event |
| "test"  | the events before the user's first test target  | lists judged on the test targets |
| "valid" | the events before the user's first valid target | lists judged on the valid targets |

The items to leave out are read from *all* the events before the cut, not only the ``max_len``
the model reads: a user who bought an item 200 events ago has still bought it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch

from course_lib.data.dataset import padded_histories
from course_lib.data.pipeline import PreparedData
from course_lib.data.sequences import items_before
from course_lib.data.vocab import PAD, UNK

Until = Literal["now", "valid", "test"]
Exclude = Literal["bought", "interacted", "none"]
UserIds = Sequence | np.ndarray | pd.Series


def sequence_rows(data: PreparedData, user_ids: UserIds) -> np.ndarray:
    """Position in ``data.sequences`` of each raw user id; unknown ids raise a ValueError."""
    user_ids = np.atleast_1d(np.asarray(user_ids))
    if user_ids.size == 0:
        raise ValueError("no user ids given: pass one raw user id or several")
    index = data.vocabularies.user.encode(user_ids)  # (B,) UNK for ids never seen
    rows = np.searchsorted(data.sequences.users, index).clip(max=data.sequences.num_users - 1)
    unknown = (index == UNK) | (data.sequences.users[rows] != index)
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} user ids are not in the prepared data, e.g. "
            f"{user_ids[unknown][:5].tolist()}. Fix: pass raw user ids (the log's user_id) of "
            "users kept by cleaning, e.g. from data.vocabularies.user.tokens."
        )
    return rows


def history_ends(data: PreparedData, rows: np.ndarray, until: Until = "now") -> np.ndarray:
    """Flat position just after the last event each user's history may use (see ``until``)."""
    sequences = data.sequences
    if until == "now":
        return sequences.offsets[rows + 1]
    if until not in ("valid", "test"):
        raise ValueError(f"until must be 'now', 'valid' or 'test', got {until!r}")
    targets = getattr(data.split, until)
    first = np.full(sequences.num_users, sequences.num_events, dtype=np.int64)
    np.minimum.at(first, sequences.event_user[targets], targets)  # first target of each user
    missing = first[rows] == sequences.num_events
    if missing.any():
        users = data.vocabularies.user.decode(sequences.users[rows[missing]][:5]).tolist()
        raise ValueError(
            f"{int(missing.sum())} users have no {until} target, e.g. {users}. Fix: take the "
            f"users from held_out_items(data, {until!r}), or use until='now'."
        )
    return first[rows]


def history_batch(
    data: PreparedData,
    rows: np.ndarray,
    end: np.ndarray,
    max_len: int = 50,
    scenario: str | None = None,
) -> dict[str, torch.Tensor]:
    """The last ``max_len`` events before ``end`` of each user, padded like a training batch.

    The candidate is a PAD placeholder: the ranking head does not read it, and candidate
    scoring puts the real candidates in later. ``user`` is each row's user index (for side
    features and pair biases). With ``scenario`` (a name in the log's scenario column) every
    request comes from that scenario, ``batch["scenario"]``, as a scenario-aware model needs.

    Shape:
        ``history_*``: (B, L) with L the longest history; ``user``, ``lengths``,
        ``candidate``, ``candidate_category``: (B,).
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    start = np.maximum(data.sequences.offsets[rows], end - max_len)  # (B,)
    if (end - start < 1).any():
        raise ValueError("every user needs at least one event before the cut to be scored")
    batch = padded_histories(data.sequences, start, end)
    batch["user"] = torch.from_numpy(np.asarray(data.sequences.users[rows], dtype=np.int64))
    batch["candidate"] = torch.full((len(rows),), PAD, dtype=torch.int64)
    batch["candidate_category"] = torch.full((len(rows),), PAD, dtype=torch.int64)
    if scenario is not None:
        batch["scenario"] = torch.full((len(rows),), scenario_index(data, scenario))
    return batch


def scenario_index(data: PreparedData, scenario: str) -> int:
    """The vocabulary index of a scenario name, or a ValueError naming the known ones."""
    vocabulary = data.vocabularies.scenario
    if vocabulary is None:
        raise ValueError(
            f"scenario={scenario!r}, but the data's log has no scenario column; leave it out"
        )
    if scenario not in vocabulary.tokens:
        raise ValueError(f"unknown scenario {scenario!r}; the log's are {vocabulary.tokens}")
    return int(vocabulary.encode(np.array([scenario]))[0])


def past_items(
    data: PreparedData, rows: np.ndarray, end: np.ndarray, exclude: Exclude = "bought"
) -> torch.Tensor:
    """True at the items to leave out of each user's list, from all events before ``end``.

    Args:
        exclude: "bought": items the user converted on (the funnel's last behavior, "buy" on
            Taobao); "interacted": every item of any event; "none": nothing.

    Shape:
        rows, end: (B,) -> (B, V) bool
    """
    if exclude not in ("bought", "interacted", "none"):
        raise ValueError(f"exclude must be 'bought', 'interacted' or 'none', got {exclude!r}")
    num_items = len(data.vocabularies.item)
    if exclude == "none":
        return torch.zeros(len(rows), num_items, dtype=torch.bool)  # (B, V)
    conversion = len(data.vocabularies.behavior) - 1  # the funnel's last behavior
    behavior = conversion if exclude == "bought" else None
    start = data.sequences.offsets[rows]
    return torch.from_numpy(items_before(data.sequences, start, end, num_items, behavior))


def history_lengths(data: PreparedData, user_ids: UserIds, until: Until = "now") -> pd.Series:
    """Number of events each user has before the cut (all of them, not only ``max_len``).

    Returns:
        A Series indexed by user_id: the input of ``metrics_by_history_length``.
    """
    rows = sequence_rows(data, user_ids)
    counts = history_ends(data, rows, until) - data.sequences.offsets[rows]
    index = pd.Index(pd.Series(np.atleast_1d(user_ids)).infer_objects(), name="user_id")
    return pd.Series(counts, index=index, name="history_length")
