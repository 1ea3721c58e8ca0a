"""Training throughput of the multi-task models (notebook 04's models) with the LSTM encoder.

One step = forward, the click, buy and next-behavior losses, backward, Adam update, on batches
of 512 samples from the bundled data (histories up to 20 events, D = H = 32 as the command line
defaults). Every architecture is timed in the same run and reported as samples per second and
as a ratio to shared-bottom, the simplest one.
"""

from __future__ import annotations

import argparse
import itertools

import torch
from common import best_time

from course_lib import (
    ESMMModel,
    LSTMEncoder,
    MMoEModel,
    MultiTaskConfig,
    MultiTaskLoss,
    PLEModel,
    SharedBottomModel,
    bundled_window,
    load_bundled_log,
    make_loader,
    prepare,
    repeat_batches,
    set_seed,
    standard_tasks,
    train_steps,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--dim", type=int, default=32, help="embedding and hidden size")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start, end = bundled_window()
    data = prepare(load_bundled_log(), start=start, end=end, num_negatives=4)
    vocab = data.vocabularies
    all_tasks = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = [all_tasks[name] for name in ("click", "buy", "next_behavior")]
    loader = make_loader(data.dataset("train", args.max_len), args.batch_size, shuffle=True)
    batches = list(itertools.islice(repeat_batches(loader), args.steps))  # built before timing
    loss = MultiTaskLoss(tasks)
    config = MultiTaskConfig(
        len(vocab.item), len(vocab.category), len(vocab.behavior), args.dim, args.dim
    )
    architectures = {
        "shared-bottom": SharedBottomModel,
        "MMoE": MMoEModel,
        "PLE": PLEModel,
        "ESMM": ESMMModel,
    }
    print(
        f"batch {args.batch_size}, histories up to {args.max_len} events, D = H = {args.dim}, "
        f"LSTM encoder, tasks click + buy + next_behavior, torch threads "
        f"{torch.get_num_threads()}"
    )
    throughput = {}
    for name, architecture in architectures.items():
        set_seed(0)
        encoder = LSTMEncoder(args.dim, args.dim)
        model = architecture(config, tasks, encoder, torch.as_tensor(data.item_category))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def total_loss(outputs, batch):
            return loss(outputs, batch)[0]

        train_steps(model, batches[:10], total_loss, optimizer, "cpu")  # warm-up

        def run(model=model, optimizer=optimizer) -> None:
            train_steps(model, batches, total_loss, optimizer, "cpu")

        seconds, _ = best_time(run, args.repeats)
        throughput[name] = args.steps * args.batch_size / seconds
    print(f"{'architecture':<16}{'samples/s':>12}{'vs shared-bottom':>18}")
    for name, value in throughput.items():
        print(f"{name:<16}{value:>12,.0f}{value / throughput['shared-bottom']:>18.2f}")


if __name__ == "__main__":
    main()
