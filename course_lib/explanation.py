"""Which events of a user's history weigh most for the score of one recommended item.

Taught in notebook 06. The method is *gradient x input* saliency: for each event t of the
history, with embedded vector e_t (item + category + behavior, see ``BehaviorEmbedding``), the
weight is the dot product of e_t with the gradient of the item's logit with respect to e_t.
It is the first-order (Taylor) estimate of how much the logit would change if that event's
vector were shrunk to zero, the vector of a padding event.

Read the weights as a rough, local hint, not as the model's reasoning:
- they are exact only for a model that is linear in the embeddings; an LSTM or a gate is not,
  so removing an event for real can move the score by a different amount, even in sign;
- they describe this one user, item and set of weights; retraining with another seed can
  reorder them;
- they say how the score depends on an event, not why the user will act.
Padding events have a zero vector, so their weight is exactly zero.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import NUM_RESERVED, UNK
from course_lib.models.multitask_base import MultiTaskModel
from course_lib.recommendation.history import Until, history_batch, history_ends, sequence_rows
from course_lib.recommendation.scoring import scoring_task
from course_lib.tasks import Batch
from course_lib.training.loop import move_batch


def history_saliency(
    model: MultiTaskModel, batch: Batch, task: str, items: torch.Tensor
) -> torch.Tensor:
    """Gradient x input weight of every history event for the logit of one item per user.

    Args:
        model: a multi-task model; it is put in evaluation mode and its parameters' gradients
            are left untouched.
        batch: padded histories (``history_*``, ``lengths``) on the model's device.
        task: the task whose logit is explained: a ranking task (the item's column of the
            catalogue scores) or a binary candidate task (the item as candidate).
        items: the item index to explain for each user.

    Returns:
        One weight per history position, summed over the embedding dimension; exactly zero
        at padding positions.

    Shape:
        batch["history_item"]: (B, L); items: (B,) -> (B, L)
    """
    scored = scoring_task(model, task)
    if (items < NUM_RESERVED).any():
        raise ValueError(f"items must be real item indices (>= {NUM_RESERVED}), not PAD or UNK")
    model.eval()
    batch = {**batch, "candidate": items, "candidate_category": model.item_category[items]}
    captured: list[torch.Tensor] = []

    def as_input(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        embedded = output.detach().requires_grad_()  # (B, L, D) the leaf we differentiate by
        captured.append(embedded)
        return embedded

    hook = model.embedding.register_forward_hook(as_input)  # the call on the histories
    try:
        # cuDNN computes an RNN's backward pass only in training mode; the native kernels do
        # it in evaluation mode too, so dropout stays off.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            output = model(batch)[scored.name]  # (B,) or (B, V)
            if scored.kind == "ranking":
                output = output.gather(1, items[:, None]).squeeze(1)  # (B,)
            # rows do not interact in evaluation mode: the sum's gradient is each row's own
            (gradient,) = torch.autograd.grad(output.sum(), captured[0])  # (B, L, D)
    finally:
        hook.remove()
    return (gradient * captured[0]).sum(dim=-1).detach()  # (B, L)


def explain(
    model: MultiTaskModel,
    data: PreparedData,
    user_id: object,
    item_id: object,
    *,
    task: str = "next_item",
    until: Until = "now",
    max_len: int = 50,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """The events of one user's history, by how much they weigh for one item's score.

    An approximate, local attribution (gradient x input, see the module docstring), not the
    model's reasoning. Use the same ``task``, ``until`` and ``max_len`` as ``recommend``.

    Args:
        model: a trained multi-task model on ``device``.
        data: the prepared data the model was trained on.
        user_id, item_id: raw ids (the log's), e.g. a row of ``recommend``'s output.
        task: the task whose logit is explained ("next_item", "click", "buy", ...).
        until, max_len: which events form the history, as in ``recommend``.
        device: where the model runs.

    Returns:
        One row per event the model reads: position (0 = the oldest event read, the last =
        the most recent), item_id, category_id, behavior (raw values) and weight (positive:
        the event raises the item's logit), sorted by |weight|, largest first.
    """
    vocab = data.vocabularies
    item = vocab.item.encode([item_id])  # (1,)
    if item[0] == UNK:
        raise ValueError(
            f"item_id {item_id!r} is not in the catalogue; pass a raw item id from the log, "
            "e.g. from recommend(...)['item_id']"
        )
    rows = sequence_rows(data, [user_id])  # (1,)
    batch = history_batch(data, rows, history_ends(data, rows, until), max_len)
    weight = history_saliency(
        model, move_batch(batch, device), task, torch.as_tensor(item, device=device)
    )  # (1, L)
    frame = pd.DataFrame(
        {
            "position": range(batch["history_item"].shape[1]),
            "item_id": vocab.item.decode(batch["history_item"][0].numpy()),
            "category_id": vocab.category.decode(batch["history_category"][0].numpy()),
            "behavior": vocab.behavior.decode(batch["history_behavior"][0].numpy()),
            "weight": weight[0].cpu().numpy(),
        }
    )
    frame = frame.infer_objects()  # raw ids as int64 (or str), not object
    return frame.sort_values("weight", key=abs, ascending=False, kind="stable").reset_index(
        drop=True
    )
