"""Federated averaging: training without collecting users' logs in one place.

Users' behavior sequences are personal data. In federated learning each client (one user's
device, or a group of users) keeps its own log; a round of federated averaging (FedAvg,
McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data",
AISTATS 2017) is:

1. the server sends the global weights to a sample of the clients;
2. each trains a copy on its own samples for a few local steps (SGD in the paper; Adam, started
   afresh every round, learns the course's embeddings much faster in few rounds);
3. each sends back only its new weights; the server averages them, each weighted by the
   client's number of samples, into the next global weights.

Nothing but weights leaves a client. With one client holding every sample, a round is plain
SGD on that client's batches (a test checks it); with many clients, each round trades
accuracy for privacy and communication. Written out as teaching code: a loop over clients and
a weighted mean of state dicts.

Weights can still leak what a client's users did. **Differential privacy** bounds that
(DP-FedAvg, McMahan et al., "Learning Differentially Private Recurrent Language Models", ICLR
2018): each client's update (its new weights minus the global ones) is clipped to an L2 norm
of at most ``clip_norm``, the server averages the clipped updates with equal weights, and adds
Gaussian noise of standard deviation ``noise_multiplier * clip_norm / clients``. One client's
data then changes the result by a bounded amount, hidden in the noise; ``privacy_epsilon``
gives the (epsilon, delta) budget a number of rounds spends, from Opacus' RDP accountant.
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

CLIENT_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


@dataclass(frozen=True)
class FederatedSettings:
    """One round's sizes: how many clients train, for how long, how fast."""

    clients_per_round: int = 10  # clients sampled each round (all of them if fewer)
    local_steps: int = 5  # optimizer steps each sampled client takes on its own samples
    lr: float = 0.01  # the clients' learning rate
    client_optimizer: str = "adam"  # "sgd" (FedAvg as published) or "adam", fresh each round
    batch_size: int = 128  # samples per local step
    clip_norm: float | None = None  # differential privacy: the most a client's update may move
    noise_multiplier: float = 0.0  # Gaussian noise, in units of clip_norm / clients (needs it)

    def __post_init__(self) -> None:
        if min(self.clients_per_round, self.local_steps, self.batch_size) < 1 or self.lr <= 0:
            raise ValueError(f"every size must be >= 1 and lr > 0; got {self}")
        if self.client_optimizer not in CLIENT_OPTIMIZERS:
            raise ValueError(f"client_optimizer must be one of {list(CLIENT_OPTIMIZERS)}")
        if self.noise_multiplier < 0 or (self.noise_multiplier > 0 and self.clip_norm is None):
            raise ValueError(
                f"noise_multiplier must be >= 0, and noise needs clip_norm (the sensitivity "
                f"it is scaled to); got {self}"
            )


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
        optimizer = CLIENT_OPTIMIZERS[settings.client_optimizer](
            local.parameters(), lr=settings.lr
        )
        train_one_epoch(local, loss_fn, repeat_batches(loader), optimizer, options=options)
        states.append(local.state_dict())  # the only thing the client sends back
        counts.append(len(clients[index]))
    if settings.clip_norm is None:
        model.load_state_dict(average_weights(states, counts))
    else:
        private_average(model, states, settings, rng)
    return chosen


@torch.no_grad()
def private_average(
    model: nn.Module,
    states: Sequence[dict[str, torch.Tensor]],
    settings: FederatedSettings,
    rng: np.random.Generator,
) -> None:
    """DP-FedAvg's server step: clip every client's update, average them, add noise.

    Only the parameters are updated: buffers (lookup tables) are the global model's.
    """
    names = [name for name, _ in model.named_parameters()]
    start = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    total = {name: torch.zeros_like(value) for name, value in start.items()}
    for state in states:
        update = {name: state[name] - start[name] for name in names}
        norm = torch.sqrt(sum((delta.double() ** 2).sum() for delta in update.values()))
        scale = min(1.0, settings.clip_norm / max(float(norm), 1e-12))  # norm <= clip_norm
        for name in names:
            total[name] += scale * update[name]
    noise_std = settings.noise_multiplier * settings.clip_norm / len(states)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    for name, parameter in model.named_parameters():
        noise = torch.randn(parameter.shape, generator=generator) * noise_std
        parameter.copy_(start[name] + total[name] / len(states) + noise.to(parameter.device))


def privacy_epsilon(
    noise_multiplier: float, sample_rate: float, rounds: int, delta: float = 1e-5
) -> float:
    """The epsilon of (epsilon, delta)-differential privacy that ``rounds`` rounds spend.

    Opacus' Renyi-DP accountant, for the Gaussian mechanism sampled at ``sample_rate`` (the
    clients per round over all clients) and repeated ``rounds`` times. The guarantee is per
    client: whatever one client's users did changes the chance of any outcome by a factor of
    at most e^epsilon (except with probability delta). The accountant assumes each client
    joins a round independently at that rate; sampling a fixed number per round, as
    ``federated_round`` does, is the usual approximation of it.
    """
    from opacus.accountants import RDPAccountant  # here: importing Opacus takes about 1 s

    if noise_multiplier <= 0:
        raise ValueError("without noise (noise_multiplier 0) there is no finite privacy budget")
    accountant = RDPAccountant()
    for _ in range(rounds):
        accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    return float(accountant.get_epsilon(delta))


def client_datasets(
    dataset: BehaviorDataset, parts: Sequence[np.ndarray]
) -> list[BehaviorDataset]:
    """One ``BehaviorDataset`` per client, over its own samples of ``dataset``.

    In this simulation the clients share one copy of the sequences; a sample's history is
    always its own user's events, so a client reads nothing of another client's users.
    """
    return [
        BehaviorDataset(dataset.sequences, dataset.samples.take(part), dataset.max_len)
        for part in parts
    ]
