"""Evaluating models over a whole DataLoader: next-item rankings (notebook 03) and every
declared task's metrics (notebook 04).

Models and baselines are evaluated alike: each is a function from a batch to next-item scores
over the catalogue, so a learner can compare an LSTM with a popularity count line by line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from course_lib.data.sequences import Sequences, items_before
from course_lib.data.vocab import PAD
from course_lib.metrics.ranking import RankingAccumulator
from course_lib.metrics.tasks import NO_SAMPLES, task_metrics
from course_lib.tasks import Batch, Task
from course_lib.training.loop import move_batch, predict_outputs


@torch.no_grad()
def evaluate_ranking(
    score: Callable[[Batch], torch.Tensor],
    loader: Iterable[Batch],
    device: torch.device | str,
    ks: Sequence[int] = (10,),
    exclude_seen: Sequences | None = None,
) -> dict[str, float]:
    """HR@K, NDCG@K and MRR of next-item scores, accumulated batch by batch.

    Args:
        score: maps a batch to (B, V) next-item scores, e.g. ``lambda b: model(b)["next_item"]``
            (call ``model.eval()`` first) or ``PopularityBaseline.scores``.
        loader: batches whose ``next_item`` is the target.
        device: where batches go before scoring.
        ks: the cut-offs K.
        exclude_seen: the data's sequences, to drop from each ranking every item the user
            interacted with before the target (their whole past, not only the history the
            model reads), never the target itself: the "recommend something new" protocol.
    """
    accumulator = RankingAccumulator(ks)
    for batch in loader:
        batch = move_batch(batch, device)
        scores = score(batch)  # (B, V)
        exclude = None
        if exclude_seen is not None:
            exclude = seen_items(
                exclude_seen, batch["target"], scores.shape[1], batch["next_item"]
            )
        accumulator.update(scores, batch["next_item"], exclude)
    return accumulator.compute()


def seen_items(
    sequences: Sequences, target: torch.Tensor, num_items: int, keep: torch.Tensor
) -> torch.Tensor:
    """True at every item the user interacted with before each target event, except ``keep``.

    Shape:
        target: (B,) flat positions in the sequences; keep: (B,) -> (B, V) bool, on
        ``keep``'s device
    """
    end = target.cpu().numpy()
    user_start = np.asarray(sequences.offsets[:-1])
    start = user_start[np.searchsorted(user_start, end, side="right") - 1]  # (B,)
    seen = torch.from_numpy(items_before(sequences, start, end, num_items)).to(keep.device)
    seen[torch.arange(len(keep), device=keep.device), keep] = False  # never the target
    seen[:, PAD] = False
    return seen


def evaluate_tasks(
    model: nn.Module, tasks: Sequence[Task], loader: Iterable[Batch], device: torch.device | str
) -> dict[str, dict[str, float]]:
    """Every task's metrics over a whole loader, in evaluation mode.

    Outputs of the non-ranking tasks are gathered on the device and moved to the CPU once at
    the end; ranking tasks are scored batch by batch with a ``RankingAccumulator``.

    Returns:
        ``{task name: {metric name: value}}``, e.g. ``{"click": {"roc_auc": 0.71, ...}}``.
    """
    collected: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {t.name: [] for t in tasks}
    rankings = {t.name: RankingAccumulator((10,)) for t in tasks if t.kind == "ranking"}
    for outputs, batch in predict_outputs(model, loader, device):
        for task in tasks:
            mask = task.sample_mask(batch)  # (B,)
            output, label = outputs[task.name][mask], batch[task.label][mask]
            if task.name in rankings:
                if len(label):
                    rankings[task.name].update(output, label)
            else:
                collected[task.name].append((output, label))
    results = {}
    for task in tasks:
        if task.name in rankings:
            ranking = rankings[task.name]
            results[task.name] = (
                ranking.compute() if ranking.count else dict(NO_SAMPLES["ranking"])
            )
        else:
            output = torch.cat([output for output, _ in collected[task.name]])
            label = torch.cat([label for _, label in collected[task.name]])
            results[task.name] = task_metrics(task, output, label)
    return results
