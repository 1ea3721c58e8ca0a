"""The training loop (``train_one_epoch``) and the ranking evaluation over a DataLoader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import (
    LSTMEncoder,
    NextItemConfig,
    NextItemModel,
    PopularityBaseline,
    TrainOptions,
    evaluate_ranking,
    history_mask,
    make_loader,
    repeat_batches,
    set_seed,
    train_one_epoch,
)
from course_lib.metrics import ranking_metrics


@pytest.fixture(scope="module")
def next_item_data(small_prepared):
    """Positives-only loaders of the small simulated log (the next-item task)."""
    return small_prepared


def build_model(prepared, seed: int = 0) -> NextItemModel:
    set_seed(seed)
    vocab = prepared.vocabularies
    config = NextItemConfig(len(vocab.item), len(vocab.category), len(vocab.behavior), 16, 16)
    return NextItemModel(config, LSTMEncoder(16, 16), torch.as_tensor(prepared.item_category))


def test_the_loop_runs_the_budget_and_the_loss_falls(next_item_data) -> None:
    model = build_model(next_item_data)
    loader = make_loader(next_item_data.dataset("train", max_len=20), 128, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    options = TrainOptions(max_steps_per_epoch=60, progress=False)
    losses = train_one_epoch(model, model.loss, repeat_batches(loader), optimizer, options=options)
    assert list(losses.losses.columns) == ["next_item", "total"]
    assert len(losses.losses) == 60 and losses.diagnostics.empty
    steps = losses.losses["total"]
    assert steps.iloc[-10:].mean() < steps.iloc[:5].mean() - 0.3


def test_the_loop_stops_at_the_end_of_a_finite_loader(next_item_data) -> None:
    model = build_model(next_item_data)
    dataset = next_item_data.dataset("valid", max_len=20)
    loader = make_loader(dataset, 256)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    assert len(train_one_epoch(model, model.loss, loader, optimizer).losses) == len(loader)


def test_an_empty_loader_is_refused(next_item_data) -> None:
    model = build_model(next_item_data)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="yielded no batch"):
        train_one_epoch(model, model.loss, [], optimizer)


def test_clip_norm_bounds_the_gradient(next_item_data) -> None:
    model = build_model(next_item_data)
    loader = make_loader(next_item_data.dataset("train", max_len=20), 64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # keep the weights: look at grads
    options = TrainOptions(max_steps_per_epoch=1, clip_norm=1e-3, progress=False)
    train_one_epoch(model, model.loss, loader, optimizer, options=options)
    norm = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
    )
    assert norm.item() == pytest.approx(1e-3, rel=1e-3)


def test_same_seed_gives_the_same_losses(next_item_data) -> None:
    runs = []
    for _ in range(2):
        model = build_model(next_item_data, seed=3)
        loader = make_loader(next_item_data.dataset("train", max_len=20), 64, True, seed=3)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        options = TrainOptions(max_steps_per_epoch=5, progress=False)
        log = train_one_epoch(model, model.loss, loader, optimizer, options=options)
        runs.append(log.losses["total"].tolist())
    assert runs[0] == runs[1]


def test_after_step_runs_once_per_step(next_item_data) -> None:
    model = build_model(next_item_data)
    loader = make_loader(next_item_data.dataset("train", max_len=20), 64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    calls = []
    options = TrainOptions(max_steps_per_epoch=3, progress=False)
    train_one_epoch(
        model, model.loss, loader, optimizer, options=options, after_step=lambda: calls.append(1)
    )
    assert len(calls) == 3


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_evaluate_ranking_matches_one_shot_metrics(next_item_data, exclude_seen) -> None:
    """Accumulating over uneven batches gives the metrics of all scores at once."""
    model = build_model(next_item_data).eval()
    dataset = next_item_data.dataset("test", max_len=20)
    loader = make_loader(dataset, 97)
    seen = next_item_data.sequences if exclude_seen else None
    result = evaluate_ranking(
        lambda b: model(b)["next_item"], loader, "cpu", ks=(5, 20), exclude_seen=seen
    )
    batch = next(iter(make_loader(dataset, len(dataset))))
    with torch.no_grad():
        scores = model(batch)["next_item"]
    exclude = None
    if exclude_seen:  # the whole past: a dataset whose histories reach back to the first event
        whole_past = next_item_data.dataset("test", max_len=10**6).batch(np.arange(len(dataset)))
        exclude = history_mask(whole_past["history_item"], scores.shape[1], batch["next_item"])
        window = history_mask(batch["history_item"], scores.shape[1], batch["next_item"])
        assert (exclude & ~window).any()  # items seen before the 20-event history are dropped too
    expected = ranking_metrics(scores, batch["next_item"], ks=(5, 20), exclude=exclude)
    assert result.keys() == expected.keys()
    for key in expected:
        assert result[key] == pytest.approx(expected[key], rel=1e-6)  # float32 sums


def test_evaluate_ranking_takes_a_baseline(next_item_data) -> None:
    popularity = PopularityBaseline().fit(
        next_item_data.train.next_item, len(next_item_data.vocabularies.item)
    )
    loader = make_loader(next_item_data.dataset("test", max_len=20), 256)
    result = evaluate_ranking(popularity.scores, loader, "cpu")
    num_items = len(next_item_data.vocabularies.item) - 2
    assert 10 / num_items < result["HR@10"] < 1.0  # better than a random list, not perfect
