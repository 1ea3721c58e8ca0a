"""Seconds per round of the closed loop (notebook 08) over the bundled world's 4,000 users.

One round is ``course_lib.loop.deploy``: every user sees ``--sessions`` slates of ``--k`` items
from the policy and answers each (``simulate.slates``), and the round's outcome is computed
exactly, the oracle's slates included (for the regret; their scores are computed once per
loop, as ``run_loop`` does, and reused). The policies: random, popularity, the
oracle, and the course's multi-task model (LSTM shared-bottom, click and buy, untrained: its
speed does not depend on its weights) scoring the whole catalogue for every user by buy.
Training a model is not part of a round (``fit`` is measured by the other benchmarks).

Each policy is timed in the same run, best of ``--repeats``, and reported in seconds and as a
ratio to the random policy's round, which is the cost of the world's answers alone.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import best_time

from course_lib import build_model, prepare, set_seed, simulate_bundled
from course_lib.loop import (
    LoopSettings,
    ModelPolicy,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    deploy,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=10, help="items per slate")
    parser.add_argument("--sessions", type=int, default=3, help="slates per user and round")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    world = simulate_bundled()
    truth = world.truth
    data = prepare(world.log, start=world.config.window[0])
    users = np.searchsorted(truth.world.user_ids, data.vocabularies.user.tokens)
    set_seed(0)
    model = build_model(data, ["click", "buy"])
    settings = LoopSettings(k=options.k, sessions=options.sessions)
    policies = {
        "random": lambda: RandomPolicy(truth.world.num_items),
        "popularity": lambda: PopularityPolicy(world.log, truth),
        "oracle": lambda: OraclePolicy(truth),
        "model (buy)": lambda: ModelPolicy(model, data, truth, "buy"),  # scores once per round
    }
    oracle = OraclePolicy(truth)
    oracle.slates(users, options.k, np.random.default_rng(0))  # as run_loop: once per loop
    seconds = {}
    for name, make in policies.items():
        rng = np.random.default_rng(0)
        seconds[name], _ = best_time(
            lambda make=make, rng=rng: deploy(world, make(), users, settings, rng, oracle=oracle),
            options.repeats,
        )
    print(
        f"one round: {len(users):,} users x {options.sessions} slates of {options.k} items, "
        f"{truth.world.num_items:,} items in the world"
    )
    print(f"{'policy':14} {'seconds':>8} {'/ random':>9}")
    for name, value in seconds.items():
        print(f"{name:14} {value:8.2f} {value / seconds['random']:9.2f}")


if __name__ == "__main__":
    main()
