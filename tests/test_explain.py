"""Tests for gradient x input explanations (``course_lib.explanation``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import PAD
from course_lib.explanation import explain, history_saliency
from course_lib.models import (
    EncoderOutput,
    LSTMEncoder,
    MultiTaskModel,
    SequenceEncoder,
)

D, H, MAX_LEN = 8, 12, 10


class LinearEncoder(SequenceEncoder):
    """A state that is a linear function of the embedded events: their projected sum."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__(hidden_dim)
        self.linear = nn.Linear(input_dim, hidden_dim, bias=False)

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        steps = self.linear(embedded)  # (B, L, H)
        return EncoderOutput(steps.sum(dim=1), steps)


@pytest.fixture(scope="module")
def model(tiny_model) -> MultiTaskModel:
    return tiny_model("shared_bottom", LSTMEncoder(D, H), D).eval()


@pytest.fixture(scope="module")
def batch(small_prepared: PreparedData) -> dict[str, torch.Tensor]:
    """Training samples whose histories have different lengths, so most rows are padded."""
    dataset = small_prepared.dataset("train", max_len=MAX_LEN)
    lengths = small_prepared.sequences.position_in_sequence[small_prepared.train.target]
    short = np.flatnonzero(lengths < MAX_LEN)[:20]
    return dataset.batch(np.r_[short, np.flatnonzero(lengths >= MAX_LEN)[:4]])


@pytest.mark.parametrize("task", ["next_item", "click", "buy"])
def test_padding_weighs_exactly_zero_and_real_events_do_not(model, batch, task):
    weight = history_saliency(model, batch, task, batch["next_item"])
    assert weight.shape == batch["history_item"].shape
    assert (~batch["mask"]).any()  # the batch does hold padding
    assert (weight[~batch["mask"]] == 0).all()
    assert (weight[batch["mask"]] != 0).float().mean() > 0.9


def test_weights_add_up_to_the_logit_change_for_a_linear_model(tiny_model, batch):
    model = tiny_model("shared_bottom", LinearEncoder(D, H), D).eval()
    items = batch["next_item"]
    weight = history_saliency(model, batch, "next_item", items)  # (B, L)
    padded = {
        **batch,
        **{
            f"history_{n}": torch.full_like(batch["history_item"], PAD)
            for n in ("item", "category", "behavior")
        },
    }
    with torch.no_grad():
        logit = model(batch)["next_item"].gather(1, items[:, None]).squeeze(1)
        empty = model(padded)["next_item"].gather(1, items[:, None]).squeeze(1)
    assert (logit - empty).abs().max() > 1e-3  # the history does move the logit
    np.testing.assert_allclose(weight.sum(dim=1), logit - empty, rtol=1e-4, atol=1e-5)


def test_saliency_leaves_parameter_gradients_alone(model, batch):
    history_saliency(model, batch, "click", batch["next_item"])
    assert all(parameter.grad is None for parameter in model.parameters())


def test_explanation_has_one_row_per_history_event(model, small_prepared):
    vocab, sequences = small_prepared.vocabularies, small_prepared.sequences
    row = int(np.argmax(sequences.lengths >= 3))
    user_id = vocab.user.decode([sequences.users[row]])[0]
    events = slice(sequences.offsets[row], sequences.offsets[row + 1])
    item_id = vocab.item.decode([sequences.item[events][0]])[0]
    frame = explain(model, small_prepared, user_id, item_id, max_len=MAX_LEN)
    window = sequences.item[events][-MAX_LEN:]
    assert list(frame.columns) == ["position", "item_id", "category_id", "behavior", "weight"]
    assert sorted(frame["position"]) == list(range(len(window)))
    in_order = frame.sort_values("position")
    assert in_order["item_id"].tolist() == vocab.item.decode(window).tolist()
    assert set(frame["behavior"]) <= set(vocab.behavior.tokens)
    assert frame["weight"].abs().is_monotonic_decreasing


def test_explaining_an_unknown_item_or_a_multiclass_task_fails_clearly(model, small_prepared):
    user_id = small_prepared.vocabularies.user.tokens[0]
    with pytest.raises(ValueError, match="not in the catalogue"):
        explain(model, small_prepared, user_id, -1)
    item_id = small_prepared.vocabularies.item.tokens[0]
    with pytest.raises(ValueError, match="has no task 'next_behavior'"):
        explain(model, small_prepared, user_id, item_id, task="next_behavior")
