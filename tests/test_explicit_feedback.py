"""Explicit feedback: a log whose events carry a value (a rating) becomes like and rating labels.

The two sample schemes of ``prepare``: implicit (the true next item and sampled negatives,
the click and buy tasks) and explicit (every event one sample of its own item, labelled by
its value). Logs come from the simulator with ratings, whose truth gives the best scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.baselines import BiasBaseline
from course_lib.cli import main
from course_lib.data import LogValidationError
from course_lib.data.dataset import make_loader
from course_lib.data.io import write_log
from course_lib.data.pipeline import PreparedData, prepare
from course_lib.models import build_model
from course_lib.simulate import Simulation, SimulatorConfig, simulate
from course_lib.tasks import explicit_tasks, label_rates, standard_tasks
from course_lib.training import TrainOptions, evaluate_tasks, fit

CONFIG = SimulatorConfig(
    num_users=300,
    num_items=150,
    num_categories=8,
    events_per_user=30,
    max_events_per_user=120,
    rating_rate=0.8,  # a fifth of the interactions are left unrated
    seed=4,
)


@pytest.fixture(scope="module")
def rated() -> Simulation:
    return simulate(CONFIG)


@pytest.fixture(scope="module")
def explicit(rated: Simulation) -> PreparedData:
    start, end = CONFIG.window
    return prepare(rated.log, start=start, end=end, feedback="explicit")


def test_explicit_samples_are_the_events_themselves(explicit: PreparedData) -> None:
    train, sequences = explicit.train, explicit.sequences
    assert len(train) == len(explicit.split.train)  # one sample per target, no negatives
    np.testing.assert_array_equal(train.candidate, train.next_item)
    assert (train.click == 1).all()
    value = sequences.value[train.target]
    np.testing.assert_array_equal(train.rating, value)
    rated = ~np.isnan(train.rating)
    assert 0.7 < rated.mean() < 0.9  # rating_rate 0.8: the rest have no label
    np.testing.assert_array_equal(train.like[rated], train.rating[rated] >= 4)
    assert np.isnan(train.like[~rated]).all()


def test_implicit_samples_of_a_rated_log_rate_only_the_positive(rated: Simulation) -> None:
    start, end = CONFIG.window
    data = prepare(rated.log, start=start, end=end, num_negatives=2, like_threshold=5)
    positive = data.train.click == 1
    np.testing.assert_array_equal(
        data.train.rating[positive], data.sequences.value[data.train.target[positive]]
    )
    assert np.isnan(data.train.rating[~positive]).all()  # a negative was never rated
    rated = positive & ~np.isnan(data.train.rating)
    np.testing.assert_array_equal(data.train.like[rated], data.train.rating[rated] == 5)


def test_a_log_without_values_has_no_value_labels(small_prepared: PreparedData) -> None:
    assert small_prepared.sequences.value is None and small_prepared.train.rating is None
    batch = small_prepared.dataset("train").batch(np.arange(4))
    assert "rating" not in batch and "like" not in batch
    with pytest.raises(ValueError, match="rating and like need a log with a value column"):
        label_rates([explicit_tasks()["like"]], small_prepared.train)


def test_bad_schemes_are_refused_with_the_fix(rated: Simulation, small_simulation) -> None:
    with pytest.raises(LogValidationError, match="add a numeric column 'value'"):
        prepare(small_simulation.log, feedback="explicit")
    with pytest.raises(ValueError, match="num_negatives=2 with feedback='explicit': use 0"):
        prepare(rated.log, feedback="explicit", num_negatives=2)
    with pytest.raises(ValueError, match="feedback must be 'implicit' or 'explicit'"):
        prepare(rated.log, feedback="ratings")


def test_tasks_skip_samples_without_a_label(explicit: PreparedData) -> None:
    like, rating = explicit_tasks()["like"], explicit_tasks()["rating"]
    batch = explicit.dataset("train").batch(np.arange(64))
    labelled = ~torch.isnan(batch["rating"])
    assert 0 < labelled.sum() < 64
    assert torch.equal(rating.sample_mask(batch), labelled)
    output = torch.zeros(64)
    expected = torch.mean(batch["rating"][labelled] ** 2)  # squared error against 0
    torch.testing.assert_close(rating.loss(output, batch), expected)
    assert torch.isfinite(like.loss(output, batch))
    rates = label_rates([like, rating], explicit.train)
    train_rating = explicit.train.rating
    assert rates["rating"].item() == pytest.approx(np.nanmean(train_rating), rel=1e-6)
    assert rates["like"].item() == pytest.approx(np.nanmean(explicit.train.like), rel=1e-6)


def test_the_full_model_learns_like_rating_and_next_item(explicit: PreparedData) -> None:
    """A short fit beats the global mean on rating and chance on like."""
    tasks = [explicit_tasks()["like"], explicit_tasks()["rating"]]
    tasks.append(standard_tasks(len(explicit.vocabularies.item), 1, 1)["next_item"])
    torch.manual_seed(0)
    model = build_model(
        explicit,
        tasks,
        embed_dim=16,
        hidden_dim=16,
        tower_dims=(16,),
        pair_biases=True,
        label_rates=label_rates(tasks, explicit.train),
    )
    loaders = {
        part: make_loader(explicit.dataset(part, 20), 256, shuffle=part == "train")
        for part in ("train", "valid", "test")
    }
    fit(
        model,
        tasks,
        loaders["train"],
        loaders["valid"],
        epochs=3,
        lr=3e-3,
        monitor={("like", "roc_auc"): 1.0, ("rating", "rmse"): -1.0},
        options=TrainOptions(device="cpu", progress=False),
    )
    test = evaluate_tasks(model, tasks, loaders["test"], "cpu")
    ratings = explicit.test.rating[~np.isnan(explicit.test.rating)]
    global_mean = BiasBaseline(users=False, items=False)
    train = explicit.train
    kept = ~np.isnan(train.rating)
    global_mean.fit(train.user[kept], train.candidate[kept], train.rating[kept])
    mean_rmse = np.sqrt(np.mean((ratings - global_mean.mean) ** 2))
    assert test["rating"]["rmse"] < mean_rmse
    assert test["like"]["roc_auc"] > 0.55
    assert np.isfinite(test["next_item"]["MRR"])


def test_the_command_line_trains_on_a_ratings_file(tmp_path: Path, rated: Simulation) -> None:
    path = tmp_path / "ratings.csv"
    write_log(rated.log, path)
    arguments = ["train", "--data", str(path), "--feedback", "explicit"]
    arguments += ["--tasks", "like,rating,next_item", "--behaviors", "pv,fav,cart,buy"]
    arguments += ["--epochs", "1", "--max-steps-per-epoch", "3", "--embed-dim", "8"]
    arguments += ["--hidden-dim", "8", "--history-values", "--pair-biases"]
    arguments += ["--no-progress", "--out", str(tmp_path / "run")]
    assert main(arguments) == 0
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(report["test"]) == {"like", "rating", "next_item"}
    assert report["options"]["feedback"] == "explicit" and report["config"]["history_values"]


def test_the_command_line_refuses_value_tasks_on_a_log_without_values(
    tmp_path: Path, log_file: Path, capsys
) -> None:
    arguments = ["train", "--data", str(log_file), "--tasks", "click,rating"]
    assert main([*arguments, "--no-progress", "--out", str(tmp_path)]) == 2
    assert "--tasks rating read the log's value column" in capsys.readouterr().err
    arguments = ["train", "--data", str(log_file), "--history-values", "--out", str(tmp_path)]
    assert main(arguments) == 2
    assert "--history-values read the log's value column" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--feedback", "explicit", "--num-negatives", "3"])
    assert "explicit feedback samples every event" in capsys.readouterr().err


def test_write_log_keeps_the_values(tmp_path: Path, rated: Simulation) -> None:
    path = tmp_path / "ratings.csv"
    write_log(rated.log, path)
    back = pd.read_csv(path)
    assert "value" in back and back["value"].isna().mean() == pytest.approx(0.2, abs=0.03)


def test_batches_carry_history_values_with_nan_for_unrated_events(explicit) -> None:
    dataset = explicit.dataset("train", max_len=6)
    batch = dataset.batch(np.arange(200))
    value, mask = batch["history_value"], batch["mask"]
    assert value.dtype == torch.float32 and value.shape == mask.shape
    assert (value[~mask] == 0).all()  # padding, as collate_batch pads
    assert torch.isnan(value[mask]).any() and not torch.isnan(value[mask]).all()
    row = int(torch.argmax(batch["lengths"]))
    start = dataset.history_starts(explicit.train.target[[row]])[0]
    past = explicit.sequences.value[start : explicit.train.target[row]]
    np.testing.assert_array_equal(value[row, : len(past)].numpy(), past)


def test_history_values_reach_the_model_and_survive_a_checkpoint(explicit, tmp_path) -> None:
    from course_lib.checkpoint import load_checkpoint, save_checkpoint

    tasks = list(explicit_tasks().values())
    torch.manual_seed(0)
    model = build_model(explicit, tasks, embed_dim=8, hidden_dim=8, history_values=True).eval()
    batch = explicit.dataset("train", max_len=6).batch(np.arange(50))
    changed = dict(batch)
    changed["history_value"] = torch.where(batch["mask"], 5.0, 0.0)  # every past event: 5 stars
    padded = dict(batch)
    padded["history_value"] = torch.where(batch["mask"], batch["history_value"], 3.0)
    with torch.no_grad():
        before, after, pad = model(batch), model(changed), model(padded)
    assert not torch.allclose(before["rating"], after["rating"])  # the values are read
    torch.testing.assert_close(pad["rating"], before["rating"], atol=0, rtol=0)  # not padding
    save_checkpoint(
        tmp_path / "model.pt",
        model,
        architecture="shared_bottom",
        encoder="lstm",
        vocabularies=explicit.vocabularies,
    )
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.config.history_values
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(batch)["rating"], before["rating"])
    with pytest.raises(ValueError, match="history_values=True reads each history event's value"):
        build_model(small_log_data(), tasks, history_values=True)


def small_log_data() -> PreparedData:
    """A log without values."""
    config = SimulatorConfig(num_users=50, num_items=40, num_categories=4, seed=1)
    start, end = config.window
    return prepare(simulate(config).log, start=start, end=end)
