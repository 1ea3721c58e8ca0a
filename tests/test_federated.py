"""Federated averaging (`course_lib.training.federated`): clients, averaging, rounds."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from course_lib.data.dataset import make_loader
from course_lib.data.pipeline import PreparedData
from course_lib.models import build_model
from course_lib.training import MultiTaskLoss, TrainOptions, evaluate_tasks, train_one_epoch
from course_lib.training.federated import (
    FederatedSettings,
    average_weights,
    client_datasets,
    federated_round,
    partition_clients,
    privacy_epsilon,
)
from course_lib.training.loop import repeat_batches

TASKS = ["click", "buy"]


def small_model(data: PreparedData) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(data, TASKS, embed_dim=8, hidden_dim=8, encoder="mean")


def test_clients_hold_whole_users_and_every_sample_once(small_prepared) -> None:
    user = small_prepared.train.user
    parts = partition_clients(user, 7, seed=1)
    assert len(parts) == 7
    together = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(together, np.arange(len(user)))
    owners = [set(user[part]) for part in parts]
    assert all(a.isdisjoint(b) for i, a in enumerate(owners) for b in owners[i + 1 :])
    assert max(len(o) for o in owners) - min(len(o) for o in owners) <= 1  # dealt evenly
    again = partition_clients(user, 7, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    with pytest.raises(ValueError, match=r"num_clients must be in 1\.\."):
        partition_clients(user, 0)


def test_the_average_is_weighted_by_sample_counts() -> None:
    a = {"w": torch.tensor([0.0, 4.0]), "steps": torch.tensor(3)}
    b = {"w": torch.tensor([4.0, 8.0]), "steps": torch.tensor(9)}
    averaged = average_weights([a, b], [1, 3])
    torch.testing.assert_close(averaged["w"], torch.tensor([3.0, 7.0]))
    assert averaged["steps"] == 3  # not averaged: taken from the first client


def test_one_client_with_every_sample_is_plain_sgd(small_prepared) -> None:
    dataset = small_prepared.dataset("train", max_len=10)
    settings = FederatedSettings(
        clients_per_round=1, local_steps=3, lr=0.1, batch_size=64, client_optimizer="sgd"
    )
    federated = small_model(small_prepared)
    central = copy.deepcopy(federated)
    rng = np.random.default_rng(5)
    draws = np.random.default_rng(5)  # the draws the round makes: its clients, then a seed
    draws.choice(1, size=1, replace=False)
    seed = int(draws.integers(2**31))
    loss = MultiTaskLoss(federated.tasks)
    federated_round(federated, loss, client_datasets(dataset, [np.arange(len(dataset))]),
                    settings, rng)  # fmt: skip
    loader = make_loader(dataset, 64, shuffle=True, seed=seed)
    optimizer = torch.optim.SGD(central.parameters(), lr=0.1)
    options = TrainOptions(max_steps_per_epoch=3, progress=False)
    train_one_epoch(central, loss, repeat_batches(loader), optimizer, options=options)
    for name, value in central.state_dict().items():
        torch.testing.assert_close(federated.state_dict()[name], value)


def test_federated_rounds_learn(small_prepared) -> None:
    model = small_model(small_prepared)
    train = small_prepared.dataset("train", max_len=10)
    valid = make_loader(small_prepared.dataset("valid", max_len=10), 256)
    clients = client_datasets(train, partition_clients(small_prepared.train.user, 20, seed=0))
    before = evaluate_tasks(model, model.tasks, valid, "cpu")["click"]["roc_auc"]
    rng = np.random.default_rng(0)
    settings = FederatedSettings(clients_per_round=5, local_steps=5, lr=0.01)
    for _ in range(20):
        chosen = federated_round(model, MultiTaskLoss(model.tasks), clients, settings, rng)
        assert len(chosen) == 5 and len(set(chosen)) == 5
    after = evaluate_tasks(model, model.tasks, valid, "cpu")["click"]["roc_auc"]
    assert after > before + 0.05


def test_private_rounds_clip_each_update_and_add_noise(small_prepared) -> None:
    train = small_prepared.dataset("train", max_len=10)
    clients = client_datasets(train, partition_clients(small_prepared.train.user, 4, seed=0))
    start = small_model(small_prepared)
    loss = MultiTaskLoss(start.tasks)
    before = torch.cat([p.detach().flatten() for p in start.parameters()])

    def moved(settings: FederatedSettings, seed: int) -> torch.Tensor:
        model = copy.deepcopy(start)
        federated_round(model, loss, clients, settings, np.random.default_rng(seed))
        return torch.cat([p.detach().flatten() for p in model.parameters()]) - before

    base = {"clients_per_round": 4, "local_steps": 3, "lr": 1.0, "client_optimizer": "sgd"}
    clipped = moved(FederatedSettings(**base, clip_norm=0.01), 0)
    assert clipped.norm() <= 0.01 + 1e-6  # the mean of updates each at most 0.01 long
    free = moved(FederatedSettings(**base, clip_norm=1e9), 0)
    plain = moved(FederatedSettings(**base), 0)
    assert free.norm() > 0.1  # a clip it never reaches: the equal-weight mean of the updates
    torch.testing.assert_close(free.norm(), plain.norm(), rtol=0.2, atol=0)
    noisy = [
        moved(FederatedSettings(**base, clip_norm=0.01, noise_multiplier=1.0), s) for s in (0, 1)
    ]
    assert not torch.allclose(noisy[0], noisy[1])
    expected = 1.0 * 0.01 / 4 * np.sqrt(len(before))  # the noise's norm dwarfs the signal's
    assert 0.8 * expected < float((noisy[0] - clipped).norm()) < 1.2 * expected
    with pytest.raises(ValueError, match="noise needs clip_norm"):
        FederatedSettings(noise_multiplier=1.0)


def test_the_privacy_budget_grows_with_rounds_and_shrinks_with_noise() -> None:
    budget = privacy_epsilon(1.0, 0.1, rounds=50)
    assert 0 < budget < privacy_epsilon(1.0, 0.1, rounds=200)
    assert privacy_epsilon(2.0, 0.1, rounds=50) < budget
    assert privacy_epsilon(1.0, 0.05, rounds=50) < budget  # rarer sampling, less spent
    with pytest.raises(ValueError, match="no finite privacy budget"):
        privacy_epsilon(0.0, 0.1, rounds=10)
