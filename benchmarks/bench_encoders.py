"""Training throughput of next-item models with each sequence encoder (notebook 03's models).

One training step = forward, full-softmax loss over the catalogue, backward, Adam update, on
batches from the bundled data (histories up to 50 events, batch 256, embedding and hidden size
64). Each encoder is timed in the same run, and reported as sequences per second and as a
ratio to the LSTM encoder, the course's reference.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
from common import best_time

from course_lib import (
    CNNEncoder,
    GRUEncoder,
    LSTMEncoder,
    MeanPoolEncoder,
    NextItemConfig,
    NextItemModel,
    SelfAttentionEncoder,
    bundled_window,
    load_bundled_log,
    make_loader,
    prepare,
    repeat_batches,
    set_seed,
    train_steps,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--dim", type=int, default=64, help="embedding and hidden size")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start, end = bundled_window()
    data = prepare(load_bundled_log(), start=start, end=end, num_negatives=0)
    vocab = data.vocabularies
    loader = make_loader(data.dataset("train", args.max_len), args.batch_size, shuffle=True)
    # The same batches for every encoder, built before the clock starts.
    batches = list(itertools.islice(repeat_batches(loader), args.steps))
    dim = args.dim
    encoders = {
        "LSTM": lambda: LSTMEncoder(dim, dim),
        "mean pooling": lambda: MeanPoolEncoder(dim, dim),
        "GRU": lambda: GRUEncoder(dim, dim),
        "CNN": lambda: CNNEncoder(dim, dim),
        "self-attention": lambda: SelfAttentionEncoder(dim, dim, max_len=args.max_len),
    }
    print(
        f"batch {args.batch_size}, histories up to {args.max_len} events, D = H = {dim}, "
        f"{len(vocab.item):,} items, torch threads {torch.get_num_threads()}"
    )
    throughput = {}
    for name, make_encoder in encoders.items():
        set_seed(0)
        config = NextItemConfig(
            len(vocab.item), len(vocab.category), len(vocab.behavior), dim, dim
        )
        model = NextItemModel(config, make_encoder(), torch.as_tensor(data.item_category))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        train_steps(model, batches[:10], model.loss, optimizer, "cpu")  # warm-up

        def run(model=model, optimizer=optimizer) -> None:
            train_steps(model, batches, model.loss, optimizer, "cpu")

        seconds, _ = best_time(run, args.repeats)
        throughput[name] = args.steps * args.batch_size / seconds
    begin = time.perf_counter()
    for _ in itertools.islice(repeat_batches(loader), args.steps):
        pass
    loading = args.steps * args.batch_size / (time.perf_counter() - begin)

    print(f"{'encoder':<16}{'sequences/s':>14}{'vs LSTM':>10}")
    for name, value in throughput.items():
        print(f"{name:<16}{value:>14,.0f}{value / throughput['LSTM']:>10.2f}")
    print(f"{'data loading':<16}{loading:>14,.0f}{loading / throughput['LSTM']:>10.2f}")


if __name__ == "__main__":
    main()
