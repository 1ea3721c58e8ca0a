"""Training throughput of the multi-task model with side features against the same model without.

The bundled data with its own side tables: membership per user, price per item, and the user
id; plus a multi-valued item feature of three values per item made here (``tags``), the shape
of MovieLens' genres. The model is shared-bottom with the LSTM encoder, click + buy +
next_item (the next-item head scores the whole catalogue, so item features are looked up for
every item at every step), batch 512, histories up to 20 events, D = H = 32.

Each variant is timed in the same run on the same batches (``common.training_throughput``:
Adam steps after a warm-up, best of repeats) and reported as samples per second and as its
step time relative to the model without side features (> 1: slower).
"""

from __future__ import annotations

import itertools

import numpy as np
from common import training_options, training_throughput

from course_lib import (
    Feature,
    build_model,
    bundled_window,
    load_bundled_log,
    load_bundled_side_tables,
    make_loader,
    prepare,
    repeat_batches,
    set_seed,
)
from course_lib.training import MultiTaskLoss

TASKS = ["click", "buy", "next_item"]
FEATURES = (
    Feature("member", "user", column="is_member"),
    Feature("user_id", "user"),
    Feature("price", "item", "numeric"),
    Feature("tags", "item", "multi"),
)
VARIANTS = {
    "no side features": (),
    "user features (member, id)": ("member", "user_id"),
    "item features (price, tags)": ("price", "tags"),
    "all four": ("member", "user_id", "price", "tags"),
}


def main() -> None:
    options = training_options(__doc__.split("\n")[0], batch_size=512, max_len=20, dim=32)
    users, items = load_bundled_side_tables()
    rng = np.random.default_rng(0)
    items["tags"] = ["|".join(rng.choice(list("abcdefgh"), 3, replace=False)) for _ in items.index]
    start, end = bundled_window()
    data = prepare(
        load_bundled_log(), start=start, end=end, features=FEATURES, users=users, items=items
    )
    loader = make_loader(data.dataset("train", options.max_len), options.batch_size, shuffle=True)
    batches = list(itertools.islice(repeat_batches(loader), options.steps))
    rates = {}
    for name, features in VARIANTS.items():
        set_seed(0)
        model = build_model(
            data, TASKS, embed_dim=options.dim, hidden_dim=options.dim, features=features
        )
        rates[name] = training_throughput(model, MultiTaskLoss(model.tasks), batches, options)
    reference = rates["no side features"]
    print(f"{'variant':30} {'samples/s':>10} {'step time / without':>20}")
    for name, rate in rates.items():
        print(f"{name:30} {rate:10,.0f} {reference / rate:20.2f}")


if __name__ == "__main__":
    main()
