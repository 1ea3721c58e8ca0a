"""Training throughput of the scenario-aware designs against the same model blind to scenarios.

A simulated shop of 4,000 users and 2,000 items with three scenarios (60/30/10% of the
traffic). The model is shared-bottom with the LSTM encoder, click + buy + next_item, batch 512,
histories up to 20 events, D = H = 32. The embedding design adds two table lookups; STAR adds
one (B, 32, 32) weight per sample and task, built from the shared and the scenario's weights.

Each variant is timed in the same run on the same batches (``common.training_throughput``:
Adam steps after a warm-up, best of repeats) and reported as samples per second and as its
step time relative to the blind model (> 1: slower).
"""

from __future__ import annotations

import itertools

from common import training_options, training_throughput

from course_lib import (
    SimulatorConfig,
    build_model,
    make_loader,
    prepare,
    repeat_batches,
    set_seed,
    simulate,
)
from course_lib.training import MultiTaskLoss

TASKS = ["click", "buy", "next_item"]
SHOP = SimulatorConfig(num_scenarios=3, scenario_shares=(0.6, 0.3, 0.1), scenario_strength=1.5)
DESIGNS = {"blind to scenarios": "none", "scenario embedding": "embedding", "STAR": "star"}


def main() -> None:
    options = training_options(__doc__.split("\n")[0], batch_size=512, max_len=20, dim=32)
    start, end = SHOP.window
    data = prepare(simulate(SHOP).log, start=start, end=end)
    loader = make_loader(data.dataset("train", options.max_len), options.batch_size, shuffle=True)
    batches = list(itertools.islice(repeat_batches(loader), options.steps))
    rates = {}
    for name, design in DESIGNS.items():
        set_seed(0)
        model = build_model(
            data, TASKS, embed_dim=options.dim, hidden_dim=options.dim, scenario_design=design
        )
        rates[name] = training_throughput(model, MultiTaskLoss(model.tasks), batches, options)
    reference = rates["blind to scenarios"]
    print(f"{'design':22} {'samples/s':>10} {'step time / blind':>18}")
    for name, rate in rates.items():
        print(f"{name:22} {rate:10,.0f} {reference / rate:18.2f}")


if __name__ == "__main__":
    main()
