"""Federated averaging: training without collecting users' logs in one place.

Users' behavior sequences are personal data. In federated learning each client (one user's
device, or a group of users) keeps its own log; a round of federated averaging (FedAvg,
McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data",
AISTATS 2017) is:

1. the server sends the global weights to a sample of the clients;
2. each trains a copy on its own samples for a few local steps (plain SGD);
3. each sends back only its new weights; the server averages them, each weighted by the
   client's number of samples, into the next global weights.

Nothing but weights leaves a client. With one client holding every sample, a round is plain
SGD on that client's batches (a test checks it); with many clients, each round trades
accuracy for privacy and communication. Written out as teaching code: a loop over clients and
a weighted mean of state dicts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_lib.data.dataset import BehaviorDataset, make_loader
from course_lib.training.loop import LossFn, repeat_batches, train_one_epoch
from course_lib.training.options import TrainOptions


@dataclass(frozen=True)
class FederatedSettings:
    """One round's sizes: how many clients train, for how long, how fast."""

    clients_per_round: int = 10  # clients sampled each round (all of them if fewer)
    local_steps: int = 5  # SGD steps each sampled client takes on its own samples
    lr: float = 0.05  # the clients' SGD learning rate
    batch_size: int = 128  # samples per local step

    def __post_init__(self) -> None:
        if min(self.clients_per_round, self.local_steps, self.batch_size) < 1 or self.lr <= 0:
            raise ValueError(f"every size must be >= 1 and lr > 0; got {self}")


def partition_clients(user: np.ndarray, num_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Split samples into clients by user: every user's samples go to one client.

    Args:
        user: (S,) the user index of every sample (``data.train.user``).
        num_clients: how many clients; users are dealt to them at random, about equally.

    Returns:
        One array of sample indices per client, each in increasing order.
    """
    users = np.unique(user)
    if not 1 <= num_clients <= len(users):
        raise ValueError(f"num_clients must be in 1..{len(users)} (the users), got {num_clients}")
    rng = np.random.default_rng(seed)
    client_of_user = np.empty(users.max() + 1, dtype=np.int64)
    client_of_user[rng.permutation(users)] = np.arange(len(users)) % num_clients
    client = client_of_user[user]  # (S,)
    return [np.flatnonzero(client == c) for c in range(num_clients)]


def average_weights(
    states: Sequence[dict[str, torch.Tensor]], counts: Sequence[int]
) -> dict[str, torch.Tensor]:
    """The weighted mean of the clients' state dicts, each weighted by its sample count.

    Floating-point tensors are averaged; any other (an integer counter) is taken from the
    first state.
    """
    shares = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    averaged = {}
    for name, first in states[0].items():
        if not first.is_floating_point():
            averaged[name] = first.clone()
            continue
        stacked = torch.stack([state[name].double() for state in states])  # (clients, ...)
        weights = shares.view(-1, *([1] * first.dim()))
        averaged[name] = (weights * stacked).sum(0).to(first.dtype)
    return averaged


def federated_round(
    model: nn.Module,
    loss_fn: LossFn,
    clients: Sequence[BehaviorDataset],
    settings: FederatedSettings,
    rng: np.random.Generator,
) -> list[int]:
    """One round of federated averaging; updates ``model`` (the global one) in place.

    Args:
        model: the global model.
        loss_fn: ``(outputs, batch) -> {name: loss}``, e.g. ``MultiTaskLoss(tasks)``.
        clients: each client's own samples (``data.dataset`` over its part, see
            ``client_datasets``).
        rng: draws the round's clients and seeds their shuffling.

    Returns:
        The indices of the clients that trained this round.
    """
    count = min(settings.clients_per_round, len(clients))
    chosen = sorted(rng.choice(len(clients), size=count, replace=False).tolist())
    options = TrainOptions(max_steps_per_epoch=settings.local_steps, progress=False)
    states, counts = [], []
    for index in chosen:  # on a real system: on each device, at the same time
        local = copy.deepcopy(model)  # the global weights, sent to the client
        loader = make_loader(
            clients[index], settings.batch_size, shuffle=True, seed=int(rng.integers(2**31))
        )
        optimizer = torch.optim.SGD(local.parameters(), lr=settings.lr)
        train_one_epoch(local, loss_fn, repeat_batches(loader), optimizer, options=options)
        states.append(local.state_dict())  # the only thing the client sends back
        counts.append(len(clients[index]))
    model.load_state_dict(average_weights(states, counts))
    return chosen


def client_datasets(
    dataset: BehaviorDataset, parts: Sequence[np.ndarray]
) -> list[BehaviorDataset]:
    """One ``BehaviorDataset`` per client, over its own samples of ``dataset``."""
    return [
        BehaviorDataset(dataset.sequences, dataset.samples.take(part), dataset.max_len)
        for part in parts
    ]
