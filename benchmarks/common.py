"""Shared helpers for the benchmark scripts: simulator sizes, a timer, training throughput."""

from __future__ import annotations

import argparse
import itertools
import time
from argparse import Namespace
from collections.abc import Callable, Sequence

import torch
from torch import nn

from course_lib import (
    SimulatorConfig,
    TrainOptions,
    build_model,
    bundled_window,
    load_bundled_log,
    make_loader,
    prepare,
    repeat_batches,
    set_seed,
    train_one_epoch,
)
from course_lib.data import PreparedData
from course_lib.training import MultiTaskLoss


def config_for_events(events: int, seed: int = 0) -> SimulatorConfig:
    """A simulator config of about ``events`` events: 50 per user, 1 item per 2 users."""
    users = max(10, events // 50)
    return SimulatorConfig(
        num_users=users, num_items=max(100, users // 2), num_categories=50, seed=seed
    )


def best_time(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls (the least disturbed one) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def training_options(description: str, batch_size: int, max_len: int, dim: int) -> Namespace:
    """Parse the options every training-throughput benchmark takes, with its own defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--max-len", type=int, default=max_len)
    parser.add_argument("--dim", type=int, default=dim, help="embedding and hidden size")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def bundled_batches(options: Namespace, num_negatives: int) -> tuple[PreparedData, list]:
    """The bundled data prepared, and ``options.steps`` training batches built in advance,
    so that every model is timed on the same batches and none pays for building them."""
    start, end = bundled_window()
    data = prepare(load_bundled_log(), start=start, end=end, num_negatives=num_negatives)
    train_set = data.dataset("train", options.max_len)
    loader = make_loader(train_set, options.batch_size, shuffle=True)
    return data, list(itertools.islice(repeat_batches(loader), options.steps))


def training_throughput(
    model: nn.Module, loss_fn: Callable, batches: list, options: Namespace
) -> float:
    """Samples per second of Adam training steps (``train_one_epoch``, no clipping), after a
    10-step warm-up; best of repeats."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    plain = TrainOptions(clip_norm=None, progress=False)
    train_one_epoch(model, loss_fn, batches[:10], optimizer, options=plain)  # warm-up
    seconds, _ = best_time(
        lambda: train_one_epoch(model, loss_fn, batches, optimizer, options=plain),
        options.repeats,
    )
    return len(batches) * options.batch_size / seconds


def variant_throughputs(
    data: PreparedData, tasks: Sequence[str], variants: dict[str, dict], options: Namespace
) -> dict[str, float]:
    """Samples per second of ``build_model(data, tasks, **variant)`` for each variant, every
    one seeded alike and timed on the same batches of the data's training samples."""
    loader = make_loader(data.dataset("train", options.max_len), options.batch_size, shuffle=True)
    batches = list(itertools.islice(repeat_batches(loader), options.steps))
    rates = {}
    for name, variant in variants.items():
        set_seed(0)
        model = build_model(data, tasks, embed_dim=options.dim, hidden_dim=options.dim, **variant)
        rates[name] = training_throughput(model, MultiTaskLoss(model.tasks), batches, options)
    return rates


def print_relative_step_times(rates: dict[str, float], reference: str) -> None:
    """A table of samples per second and of step time relative to the ``reference`` variant."""
    width = max(map(len, rates)) + 2
    print(f"{'variant':{width}} {'samples/s':>10} {f'step time / {reference}':>30}")
    for name, rate in rates.items():
        print(f"{name:{width}} {rate:10,.0f} {rates[reference] / rate:30.2f}")
