"""Top-K recommendation lists from a trained multi-task model (notebook 06).

For each user: encode the history, score every item of the catalogue (``scoring``), leave out
PAD, UNK and the items the user should not be offered again (``history.past_items``), and keep
the K best, as a DataFrame of raw ids that a notebook can print or join with item tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import NUM_RESERVED
from course_lib.models.multitask_base import MultiTaskModel
from course_lib.recommendation.history import (
    Exclude,
    Until,
    UserIds,
    history_batch,
    history_ends,
    past_items,
    sequence_rows,
)
from course_lib.recommendation.scoring import (
    CHUNK_ROWS,
    candidate_logits,
    catalogue_logits,
    scoring_task,
)
from course_lib.training.loop import move_batch


@torch.no_grad()
def recommend(
    model: MultiTaskModel,
    data: PreparedData,
    user_ids: UserIds,
    k: int = 10,
    *,
    score_task: str = "next_item",
    exclude: Exclude = "bought",
    until: Until = "now",
    max_len: int = 50,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    chunk_rows: int = CHUNK_ROWS,
    scenario: str | None = None,
) -> pd.DataFrame:
    """The K best items for each user, scored by a ranking head or by a candidate task.

    Args:
        model: a trained multi-task model on ``device``; it is put in evaluation mode.
        data: the prepared data the model was trained on (same vocabularies).
        user_ids: one raw user id (the log's user_id) or several.
        k: length of each list; at most the number of items in the catalogue.
        score_task: the task whose score ranks the items: a ranking task ("next_item": one
            forward pass scores the catalogue) or a binary candidate task ("click", "buy": the
            catalogue is scored as candidates, in chunks). With ESMM, "buy" is the logit of
            p(click) · p(buy | click), so it ranks by the expected conversion.
        exclude: items left out besides PAD and UNK: "bought" (the default: items the user
            already converted on), "interacted" (every item of the history) or "none".
        until: the events a history may use: "now" (all of them) or "valid" / "test" (those
            before the user's first target of that part, see ``history``).
        max_len: events of history the model reads (the last ones); exclusions use them all.
        device: where the model runs.
        batch_size: users per forward pass.
        chunk_rows: (user, candidate) rows per forward pass of a candidate task.
        scenario: the surface the lists are for (a name in the log's scenario column), which
            a scenario-aware model (``scenario_design``) needs; a blind model ignores it.

    Returns:
        One row per (user, rank), users in the order given, ranks 1..k: user_id, rank,
        item_id, category_id (raw ids), score (the probability under ``score_task``: a softmax
        over the catalogue for a ranking task, a sigmoid for a binary one), and one
        ``p_<task>`` column per binary candidate task of the model (p_click, p_buy).
    """
    task = scoring_task(model, score_task)
    _check_sizes(model, data, k)
    if model.config.scenario_design != "none" and scenario is None:
        known = data.vocabularies.scenario.tokens if data.vocabularies.scenario else []
        raise ValueError(
            f"this model tells scenarios apart (scenario_design="
            f"{model.config.scenario_design!r}): pass the scenario the lists are for, "
            f"scenario= one of {known}"
        )
    model.eval()
    rows = sequence_rows(data, user_ids)  # (U,)
    end = history_ends(data, rows, until)  # (U,)
    frames = []
    for start in range(0, len(rows), batch_size):
        part = slice(start, start + batch_size)
        blocked = past_items(data, rows[part], end[part], exclude).to(device)  # (B, V)
        _check_enough_items(data, rows[part], blocked, k)
        batch = history_batch(data, rows[part], end[part], max_len, scenario)
        batch = move_batch(batch, device)
        logits, state = catalogue_logits(model, batch, task, chunk_rows)  # (B, V), (B, H)
        top = logits.masked_fill(blocked, -torch.inf).topk(k, dim=1)  # (B, k) best first
        columns = {"score": task.probabilities(logits).gather(1, top.indices)}  # (B, k)
        scores = candidate_logits(model, state, batch["user"], top.indices, batch.get("scenario"))
        for name, logit in scores.items():
            columns[f"p_{name}"] = torch.sigmoid(logit)  # (B, k)
        frames.append(_list_frame(data, rows[part], top.indices, columns))
    return pd.concat(frames, ignore_index=True)


def _list_frame(
    data: PreparedData, rows: np.ndarray, items: torch.Tensor, columns: dict[str, torch.Tensor]
) -> pd.DataFrame:
    """The lists of one batch of users as raw ids, one row per (user, rank).

    Shape:
        rows: (B,); items and every column: (B, k)
    """
    vocab = data.vocabularies
    B, k = items.shape
    items = items.cpu().numpy().reshape(-1)  # (B * k,)
    frame = pd.DataFrame(
        {
            "user_id": vocab.user.decode(np.repeat(data.sequences.users[rows], k)),
            "rank": np.tile(np.arange(1, k + 1), B),
            "item_id": vocab.item.decode(items),
            "category_id": vocab.category.decode(data.item_category[items]),
        }
    ).infer_objects()  # raw ids as int64 (or str), not object
    for name, values in columns.items():
        frame[name] = values.float().cpu().numpy().reshape(-1)
    return frame


def _check_sizes(model: MultiTaskModel, data: PreparedData, k: int) -> None:
    """Raise when the model does not fit the data's vocabulary or K does not fit the catalogue."""
    num_items = len(data.vocabularies.item)
    if model.config.num_items != num_items:
        raise ValueError(
            f"the model scores {model.config.num_items} item indices but the data's item "
            f"vocabulary has {num_items}. Fix: pass the data the model was trained on."
        )
    catalogue = num_items - NUM_RESERVED
    if not 1 <= k <= catalogue:
        raise ValueError(f"k must be between 1 and the catalogue size {catalogue}, got {k}")


def _check_enough_items(
    data: PreparedData, rows: np.ndarray, blocked: torch.Tensor, k: int
) -> None:
    """Raise when the exclusions leave some user fewer than k items to recommend."""
    left = (~blocked[:, NUM_RESERVED:]).sum(dim=1).cpu().numpy()  # (B,)
    short = left < k
    if short.any():
        users = data.vocabularies.user.decode(data.sequences.users[rows[short]][:5]).tolist()
        raise ValueError(
            f"after exclusions, {int(short.sum())} users have fewer than k={k} items left, "
            f"e.g. {users} with {left[short][:5].tolist()}. Fix: ask for a smaller k or use "
            "exclude='bought' or exclude='none'."
        )
