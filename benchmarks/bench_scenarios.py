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

from common import print_relative_step_times, training_options, variant_throughputs

from course_lib import SimulatorConfig, prepare, simulate

TASKS = ["click", "buy", "next_item"]
SHOP = SimulatorConfig(num_scenarios=3, scenario_shares=(0.6, 0.3, 0.1), scenario_strength=1.5)
DESIGNS = {
    "blind": {"scenario_design": "none"},
    "scenario embedding": {"scenario_design": "embedding"},
    "STAR": {"scenario_design": "star"},
}


def main() -> None:
    options = training_options(__doc__.split("\n")[0], batch_size=512, max_len=20, dim=32)
    start, end = SHOP.window
    data = prepare(simulate(SHOP).log, start=start, end=end)
    print_relative_step_times(variant_throughputs(data, TASKS, DESIGNS, options), "blind")


if __name__ == "__main__":
    main()
