"""Training throughput of the multi-task models (notebook 04's models) with the LSTM encoder.

One step = forward, the click, buy and next-behavior losses, backward, Adam update, on batches
of 512 samples from the bundled data (histories up to 20 events, D = H = 32 as the command line
defaults). Every architecture is timed in the same run and reported as samples per second and
as a ratio to shared-bottom, the simplest one.
"""

from __future__ import annotations

import torch
from common import bundled_batches, training_options, training_throughput

from course_lib import build_model, set_seed, standard_tasks
from course_lib.training import MultiTaskLoss


def main() -> None:
    options = training_options(__doc__.splitlines()[0], batch_size=512, max_len=20, dim=32)
    data, batches = bundled_batches(options, num_negatives=4)
    vocab = data.vocabularies
    all_tasks = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = [all_tasks[name] for name in ("click", "buy", "next_behavior")]
    loss = MultiTaskLoss(tasks)
    architectures = {
        "shared-bottom": "shared_bottom",
        "MMoE": "mmoe",
        "PLE": "ple",
        "ESMM": "esmm",
    }
    print(
        f"batch {options.batch_size}, histories up to {options.max_len} events, "
        f"D = H = {options.dim}, LSTM encoder, tasks click + buy + next_behavior, "
        f"torch threads {torch.get_num_threads()}"
    )
    throughput = {}
    for name, architecture in architectures.items():
        set_seed(0)
        model = build_model(
            data,
            tasks,
            architecture=architecture,
            encoder="lstm",
            embed_dim=options.dim,
            hidden_dim=options.dim,
        )
        throughput[name] = training_throughput(model, loss, batches, options)
    print(f"{'architecture':<16}{'samples/s':>12}{'vs shared-bottom':>18}")
    for name, value in throughput.items():
        print(f"{name:<16}{value:>12,.0f}{value / throughput['shared-bottom']:>18.2f}")


if __name__ == "__main__":
    main()
