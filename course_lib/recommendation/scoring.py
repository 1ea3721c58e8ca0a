"""Scoring the whole catalogue for a batch of users, with a ranking head or a candidate task.

Taught in notebook 06. A ranking task ("next_item") scores every item in one forward pass. A
candidate task ("click", "buy") scores one (history, candidate) pair per row, so the catalogue
is fed as candidates in chunks, each user's history repeated for every candidate. Re-running
the sequence encoder on each repeat would cost users x items encoder passes (30 to 90 seconds
for 300 users and 2,000 items on a 2-core CPU), although the user's state does not depend on
the candidate. So each user's state is computed once, and during the candidate passes the
model's ``user_state`` is swapped for a stand-in that hands those states back. The pass still
goes through the model's own ``forward``, so every architecture (ESMM's product of towers
included) scores exactly as it does in training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from course_lib.data.vocab import NUM_RESERVED
from course_lib.models.multitask_base import MultiTaskModel
from course_lib.tasks import Batch, Task

CHUNK_ROWS = 32_768  # (user, candidate) rows per forward pass: ~10 MB of features per pass


def scoring_task(model: MultiTaskModel, name: str) -> Task:
    """The model's task called ``name``, checked to be one that can rank the catalogue."""
    tasks = {task.name: task for task in model.tasks}
    if name not in tasks:
        raise ValueError(
            f"the model has no task {name!r}; its tasks are {list(tasks)}. Fix: pass one of "
            "them as score_task (a ranking task, or a binary candidate task such as 'click')."
        )
    task = tasks[name]
    if task.kind != "ranking" and not (task.kind == "binary" and task.uses_candidate):
        raise ValueError(
            f"score_task {name!r} is a {task.kind} task; recommendations need a ranking task "
            f"(one score per item) or a binary candidate task (a probability per item)"
        )
    return task


def binary_candidate_tasks(model: MultiTaskModel) -> list[str]:
    """Names of the model's binary tasks that score a candidate item (click, buy)."""
    return [t.name for t in model.tasks if t.uses_candidate and t.kind == "binary"]


@contextmanager
def _candidate_passes(model: MultiTaskModel, state: torch.Tensor) -> Iterator[None]:
    """Inside: the model's ``user_state`` returns ``state`` and only candidate tasks are computed.

    Dropping the other tasks saves a (rows, V) next-item matrix per pass that nobody reads;
    with ``next_item_prior`` the candidate logits read it, so it stays.
    """
    tasks = model.tasks
    needed = "next_item" if model.config.next_item_prior else None
    model.user_state = lambda batch: state  # an instance attribute shadows the method
    model.tasks = [task for task in tasks if task.uses_candidate or task.name == needed]
    try:
        yield
    finally:
        del model.user_state  # the method again
        model.tasks = tasks


def candidate_logits(
    model: MultiTaskModel,
    state: torch.Tensor,
    user: torch.Tensor,
    items: torch.Tensor,
    scenario: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Logits of every binary candidate task for each user's candidate items.

    Args:
        model: the multi-task model, in evaluation mode.
        state: each user's state, ``model.user_state(batch)`` of their history.
        user: each user's index (``batch["user"]``), for the pair biases.
        items: the candidate item indices of each user.
        scenario: each request's scenario index (``batch["scenario"]``), for a
            scenario-aware model; None for one blind to scenarios.

    Shape:
        state: (B, H); user, scenario: (B,); items: (B, C) -> {task name: (B, C)}
    """
    B, C = items.shape
    candidates = items.reshape(B * C)  # (N,) row b * C + c is user b's candidate c
    batch = {  # no history: user_state hands the states back
        "user": user.repeat_interleave(C),
        "candidate": candidates,
        "candidate_category": model.item_category[candidates],
    }
    if scenario is not None:
        batch["scenario"] = scenario.repeat_interleave(C)
    with _candidate_passes(model, state.repeat_interleave(C, dim=0)):  # (N, H)
        outputs = model(batch)
    return {name: outputs[name].view(B, C) for name in binary_candidate_tasks(model)}


def catalogue_logits(
    model: MultiTaskModel, batch: Batch, task: Task, chunk_rows: int = CHUNK_ROWS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item's logit under ``task`` for each user of ``batch``, and the users' states.

    Args:
        model: the multi-task model, in evaluation mode, on the batch's device.
        batch: the users' histories (``history_batch``).
        task: a ranking task or a binary candidate task (``scoring_task``).
        chunk_rows: (user, candidate) rows per forward pass of a candidate task.

    Returns:
        The logits, PAD and UNK at -inf, and the states (for ``candidate_logits``).

    Shape:
        batch -> logits (B, V), state (B, H)
    """
    state = model.user_state(batch)  # (B, H)
    if task.kind == "ranking":
        logits = model(batch)[task.name].float()  # (B, V)
        return logits.masked_fill(model.reserved_items, -torch.inf), state
    B, V = len(state), model.config.num_items
    logits = torch.full((B, V), -torch.inf, device=state.device)  # (B, V)
    items = torch.arange(NUM_RESERVED, V, device=state.device)  # (V - 2,)
    for chunk in items.split(max(1, chunk_rows // B)):
        candidates = chunk.expand(B, -1)  # (B, chunk) the same items for every user
        scores = candidate_logits(model, state, batch["user"], candidates, batch.get("scenario"))
        logits[:, chunk] = scores[task.name].float()
    return logits, state


def catalogue_scorer(model: MultiTaskModel, task_name: str) -> Callable[[Batch], torch.Tensor]:
    """A score function for ``evaluate_ranking``: the catalogue ranked by any scoring task.

    With a ranking task it is the task's logits; with a binary candidate task ("buy") every
    item is scored as a candidate, so a model without a next-item head gets HR@K and NDCG@K
    of the ranking it would show. Call ``model.eval()`` first.

    Shape:
        batch -> (B, V), PAD and UNK at -inf
    """
    task = scoring_task(model, task_name)
    return lambda batch: catalogue_logits(model, batch, task)[0]
