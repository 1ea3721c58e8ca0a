"""Training throughput of next-item models with each sequence encoder (notebook 03's models).

One training step = forward, full-softmax loss over the catalogue, backward, Adam update, on
batches from the bundled data (histories up to 50 events, batch 256, embedding and hidden size
64). Each encoder is timed in the same run, and reported as sequences per second and as a
ratio to the LSTM encoder, the course's reference.
"""

from __future__ import annotations

import itertools
import time

import torch
from common import bundled_batches, training_options, training_throughput

from course_lib import (
    CNNEncoder,
    GRUEncoder,
    LSTMEncoder,
    MeanPoolEncoder,
    NextItemConfig,
    NextItemModel,
    SelfAttentionEncoder,
    make_loader,
    repeat_batches,
    set_seed,
)


def main() -> None:
    options = training_options(__doc__.splitlines()[0], batch_size=256, max_len=50, dim=64)
    data, batches = bundled_batches(options, num_negatives=0)
    vocab, dim = data.vocabularies, options.dim
    encoders = {
        "LSTM": lambda: LSTMEncoder(dim, dim),
        "mean pooling": lambda: MeanPoolEncoder(dim, dim),
        "GRU": lambda: GRUEncoder(dim, dim),
        "CNN": lambda: CNNEncoder(dim, dim),
        "self-attention": lambda: SelfAttentionEncoder(dim, dim, max_len=options.max_len),
    }
    print(
        f"batch {options.batch_size}, histories up to {options.max_len} events, "
        f"D = H = {dim}, {len(vocab.item):,} items, torch threads {torch.get_num_threads()}"
    )
    config = NextItemConfig(len(vocab.item), len(vocab.category), len(vocab.behavior), dim, dim)
    throughput = {}
    for name, make_encoder in encoders.items():
        set_seed(0)
        model = NextItemModel(config, make_encoder(), torch.as_tensor(data.item_category))
        throughput[name] = training_throughput(model, model.loss, batches, options)
    loader = make_loader(data.dataset("train", options.max_len), options.batch_size, True)
    begin = time.perf_counter()
    for _ in itertools.islice(repeat_batches(loader), options.steps):
        pass
    loading = options.steps * options.batch_size / (time.perf_counter() - begin)

    print(f"{'encoder':<16}{'sequences/s':>14}{'vs LSTM':>10}")
    for name, value in throughput.items():
        print(f"{name:<16}{value:>14,.0f}{value / throughput['LSTM']:>10.2f}")
    print(f"{'data loading':<16}{loading:>14,.0f}{loading / throughput['LSTM']:>10.2f}")


if __name__ == "__main__":
    main()
