"""Predictions as a table keyed by raw ids: what a trained model says about each sample.

Metrics summarise a model; a practitioner also needs its answers, one row per sample, in the
ids of their own log, to join with other tables, inspect or ship. ``predict`` scores one part
of the prepared data (the test users' samples, say) and decodes every index back to its id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from course_lib.data.dataset import make_loader
from course_lib.data.pipeline import PreparedData
from course_lib.models.multitask_base import MultiTaskModel
from course_lib.training.loop import predict_outputs


def predict(
    model: MultiTaskModel,
    data: PreparedData,
    part: str = "test",
    *,
    max_len: int = 50,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """One row per sample of ``part``: its ids, its time and every task's prediction.

    Args:
        model: a trained multi-task model (it is put in evaluation mode).
        data: the prepared data the model was trained on.
        part: "train", "valid" or "test".
        max_len: events of history each sample keeps (as in training).
        batch_size: samples scored at once.
        device: where to score; None: where the model's weights are.

    Returns:
        A frame in sample order with ``event_index`` (the target event's row label in the log),
        ``user_id``, ``item_id`` (the candidate), ``timestamp`` (of the target event), and per
        task: a binary task's probability, a regression task's value, a multiclass task's
        probability of each class (columns ``"task=k"``), a ranking task's probability that
        the candidate is the answer (for whole lists, see ``recommend``).
    """
    device = device or next(model.parameters()).device
    loader = make_loader(data.dataset(part, max_len), batch_size)  # refuses an unknown part
    samples = getattr(data, part)
    columns: dict[str, list[np.ndarray]] = {}
    for outputs, batch in predict_outputs(model, loader, device):
        for task in model.tasks:
            output = outputs[task.name].float()
            if task.kind == "ranking":
                proba = output.softmax(dim=-1).gather(1, batch["candidate"][:, None])  # (B, 1)
                columns.setdefault(task.name, []).append(proba.squeeze(1).cpu().numpy())
            elif task.kind == "multiclass":
                proba = output.softmax(dim=-1).cpu().numpy()  # (B, K)
                for k in range(task.num_classes):
                    columns.setdefault(f"{task.name}={k}", []).append(proba[:, k])
            else:  # binary: probability; regression: the value itself
                columns.setdefault(task.name, []).append(task.probabilities(output).cpu().numpy())
    vocab, sequences = data.vocabularies, data.sequences
    table = pd.DataFrame(
        {
            "event_index": samples.event_index,
            # decoded ids come back as Python objects: infer_objects gives int64 ids their dtype
            "user_id": pd.Series(vocab.user.decode(samples.user)).infer_objects(),
            "item_id": pd.Series(vocab.item.decode(samples.candidate)).infer_objects(),
            "timestamp": sequences.timestamp[samples.target],
        }
    )
    for name, parts in columns.items():
        table[name] = np.concatenate(parts) if parts else np.zeros(0)
    return table
