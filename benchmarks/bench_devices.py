"""Training throughput of the full multi-task model at several batch sizes, on CPU or a GPU.

One step is the training loop's own (``course_lib.training.train_one_epoch``): copy the batch
to the device (non-blocking from pinned memory on CUDA), forward with autocast (bfloat16 on
CUDA where supported, else float16 with a gradient scaler; none on CPU), the five standard
tasks' losses, backward, clipping, Adam. The model is MMoE with the LSTM encoder, D = H = 64,
histories up to 20 events, on the bundled data. Batches are built before timing, so a second
number, the rate at which the CPU builds batches from the prepared data
(``BehaviorDataset.batch``, what the loader does per batch), shows whether feeding the device
could limit it. Ratios are against
the smallest batch size, timed in the same run.

Run: ``.venv/bin/python benchmarks/bench_devices.py [--device cuda] [--batch-sizes 128,512,2048]``.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
from common import best_time
from torch import nn

from course_lib import (
    Task,
    build_model,
    bundled_window,
    get_device,
    load_bundled_log,
    make_loader,
    prepare,
    repeat_batches,
    set_seed,
    standard_tasks,
)
from course_lib.training import MultiTaskLoss, Precision, TrainOptions, train_one_epoch


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto")
    parser.add_argument("--batch-sizes", default="128,512,2048", help="comma-separated")
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64, help="embedding and hidden size")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=2)
    return parser.parse_args()


def training_seconds(
    model: nn.Module,
    tasks: list[Task],
    batches: list[dict],
    device: torch.device,
    dtype: torch.dtype | None,
    repeats: int,
) -> float:
    """Best time of the trainer's steps over ``batches``, after a short warm-up."""
    loss_fn = MultiTaskLoss(tasks)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    precision = Precision(dtype, scaler)
    options = TrainOptions(progress=False)

    def run(some_batches: list) -> object:
        # the loop reads its losses once, at the end: that waits for the device
        return train_one_epoch(
            model, loss_fn, some_batches, optimizer, options=options, precision=precision
        )

    run(batches[:5])  # warm-up: allocations, kernel choice
    seconds, _ = best_time(lambda: run(batches), repeats)
    return seconds


def batch_indices(num_samples: int, batch_size: int, seed: int) -> np.ndarray:
    """The sample indices of one random batch, as a shuffling loader would draw them."""
    return np.random.default_rng(seed).choice(num_samples, batch_size, replace=False)


def main() -> None:
    options = parse_options()
    device = get_device(None if options.device == "auto" else options.device)
    start, end = bundled_window()
    data = prepare(load_bundled_log(), start=start, end=end, num_negatives=4)
    vocab = data.vocabularies
    known = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = list(known.values())
    dtype = Precision.choose(device, None).dtype
    print(
        f"device {device}, autocast {dtype}, MMoE + LSTM, D = H = {options.dim}, histories up "
        f"to {options.max_len}, tasks {[t.name for t in tasks]}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'batch':>6}{'samples/s':>12}{'vs smallest':>13}{'batching samples/s':>20}")
    reference = None
    for batch_size in (int(size) for size in options.batch_sizes.split(",")):
        train_set = data.dataset("train", options.max_len)
        loader = make_loader(train_set, batch_size, True, 0, device)
        batches = list(itertools.islice(repeat_batches(loader), options.steps))
        indices = [
            batch_indices(len(train_set), batch_size, step) for step in range(options.steps)
        ]
        load_seconds, _ = best_time(
            lambda train_set=train_set, indices=indices: [train_set.batch(i) for i in indices],
            options.repeats,
        )
        set_seed(0)
        model = build_model(
            data,
            tasks,
            architecture="mmoe",
            encoder="lstm",
            embed_dim=options.dim,
            hidden_dim=options.dim,
        )
        seconds = training_seconds(
            model.to(device), tasks, batches, device, dtype, options.repeats
        )
        throughput = len(batches) * batch_size / seconds
        reference = reference or throughput
        loading = options.steps * batch_size / load_seconds
        ratio = throughput / reference
        print(f"{batch_size:>6}{throughput:>12,.0f}{ratio:>13.2f}{loading:>20,.0f}")


if __name__ == "__main__":
    main()
