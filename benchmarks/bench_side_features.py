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

import numpy as np
from common import print_relative_step_times, training_options, variant_throughputs

from course_lib import (
    Feature,
    bundled_window,
    load_bundled_log,
    load_bundled_side_tables,
    prepare,
)

TASKS = ["click", "buy", "next_item"]
FEATURES = (
    Feature("member", "user", column="is_member"),
    Feature("user_id", "user"),
    Feature("price", "item", "numeric"),
    Feature("tags", "item", "multi"),
)
VARIANTS = {
    "without": {"features": ()},
    "user features (member, id)": {"features": ("member", "user_id")},
    "item features (price, tags)": {"features": ("price", "tags")},
    "all four": {"features": ("member", "user_id", "price", "tags")},
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
    print_relative_step_times(variant_throughputs(data, TASKS, VARIANTS, options), "without")


if __name__ == "__main__":
    main()
