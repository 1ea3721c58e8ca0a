"""The closed loop: deploy a policy, let the simulated users answer, retrain, deploy again.

Taught in notebook 08. Every number before it was offline, on a log some earlier policy made.
Here the policy decides what users are shown, so it decides what they can click, and the next
model learns from that log. One round:

1. ``make_policy(log, round)`` builds the round's policy from everything logged so far
   (a model trained from scratch on it, say; popularity counts it; the oracle ignores it);
2. every served user sees ``sessions`` slates of K items (``LoopSettings``) and answers each
   (``simulate.slates.answer_slates``); the picks join the log as events, with their place in
   the slate (``position``, 0 for the organic events) and the ``round``;
3. the round's outcome is measured exactly from the truth: the expected clicks and buys per
   user, their regret against the oracle's slates, the share of the catalogue shown and how
   unequal the impressions were (Gini).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course_lib.data.schema import TAOBAO_BEHAVIORS
from course_lib.loop.outcomes import gini
from course_lib.loop.policies import OraclePolicy, Policy
from course_lib.simulate.config import SCENARIOS
from course_lib.simulate.simulator import Simulation
from course_lib.simulate.slates import IGNORE_UTILITY, answer_slates, expected_outcomes

SESSION_SECONDS = 3_600  # time between two sessions of a user in the loop's log


@dataclass(frozen=True)
class LoopSettings:
    """How the world is served: slates per user and round, their size, the users' answers."""

    k: int = 10  # items per slate
    sessions: int = 3  # slates each user sees per round
    position_bias: float = 0.0  # > 0: lower places are less seen (log2 discount); 0: off
    ignore_utility: float = IGNORE_UTILITY  # the pull of ignoring a slate

    def __post_init__(self) -> None:
        if self.k < 1 or self.sessions < 1 or self.position_bias < 0:
            raise ValueError(f"need k >= 1, sessions >= 1, position_bias >= 0; got {self}")


@dataclass
class LoopResult:
    """Every round's metrics (one row per round), policy and the whole log (with ``round``)."""

    metrics: pd.DataFrame
    log: pd.DataFrame
    policies: list[Policy] = field(default_factory=list)


def deploy(
    simulation: Simulation,
    policy: Policy,
    users: np.ndarray,
    settings: LoopSettings,
    rng: np.random.Generator,
    *,
    round_number: int = 1,
    start_time: int = 0,
    oracle: OraclePolicy | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Serve ``users`` one round of slates from ``policy``; the events and the round's outcome.

    Args:
        simulation: the world (its truth answers the slates).
        users: world user indices to serve.
        start_time: unix seconds of the round's first session.
        oracle: the world's `OraclePolicy`, to reuse its scores from round to round; None
            makes one.

    Returns:
        The picked events in the log's columns plus ``position`` and ``round`` (in a world
        with scenarios, ``scenario`` is the first one's, where slates are shown), and the
        metrics: expected clicks and buys per slate (a user's session), the oracle's buys,
        the regret (oracle minus policy buys per slate), catalogue coverage (the share of
        items shown at least once) and the Gini of impressions.
    """
    truth, world = simulation.truth, simulation.truth.world
    answer = {"position_bias": settings.position_bias, "ignore_utility": settings.ignore_utility}
    oracle = OraclePolicy(truth) if oracle is None else oracle
    best = oracle.slates(users, settings.k, rng)
    _, oracle_buys = expected_outcomes(truth, users, best, **answer)
    impressions = np.zeros(world.num_items)
    clicks = buys = 0.0
    frames = []
    for session in range(settings.sessions):
        slates = policy.slates(users, settings.k, rng)  # (n, K)
        np.add.at(impressions, slates.reshape(-1), 1)
        expected_clicks, expected_buys = expected_outcomes(truth, users, slates, **answer)
        clicks, buys = clicks + expected_clicks.mean(), buys + expected_buys.mean()
        picked = answer_slates(truth, users, slates, rng, **answer)
        chosen = picked.position > 0
        item = picked.item[chosen]
        events = {
            "user_id": world.user_ids[users[chosen]],
            "item_id": world.item_ids[item],
            "category_id": world.category_ids[world.item_category[item]],
            "behavior": np.asarray(TAOBAO_BEHAVIORS)[picked.behavior[chosen]],
            "timestamp": start_time + session * SESSION_SECONDS,
        }
        if world.num_scenarios > 1:  # slates are shown in the first scenario (simulate.slates)
            events["scenario"] = SCENARIOS[0]
        events |= {"position": picked.position[chosen], "round": round_number}
        frames.append(pd.DataFrame(events))
    sessions = settings.sessions
    metrics = {
        "clicks per slate": clicks / sessions,
        "buys per slate": buys / sessions,
        "oracle buys per slate": float(oracle_buys.mean()),
        "regret": float(oracle_buys.mean()) - buys / sessions,
        "coverage": float((impressions > 0).mean()),
        "gini": gini(impressions),
    }
    return pd.concat(frames, ignore_index=True), metrics


def run_loop(
    simulation: Simulation,
    make_policy: Callable[[pd.DataFrame, int], Policy],
    users: np.ndarray,
    *,
    rounds: int,
    settings: LoopSettings | None = None,
    seed: int = 0,
) -> LoopResult:
    """Deploy, collect and rebuild for ``rounds`` rounds, starting from the organic log.

    Args:
        simulation: the world and its organic log (round 0).
        make_policy: builds a round's policy from the log so far and the round number
            (1, 2, ...); train a model on the log here to close the loop.
        users: world user indices served every round.
        seed: seeds every slate and answer (a model's own training takes its seed in
            ``make_policy``); the same seed gives the same loop.
    """
    settings = LoopSettings() if settings is None else settings
    rng = np.random.default_rng(seed)
    log = simulation.log.assign(position=0, round=0)
    clock = int(log["timestamp"].max()) + SESSION_SECONDS
    rows, policies, oracle = [], [], OraclePolicy(simulation.truth)
    for round_number in range(1, rounds + 1):
        policy = make_policy(log, round_number)
        events, metrics = deploy(
            simulation,
            policy,
            users,
            settings,
            rng,
            round_number=round_number,
            start_time=clock,
            oracle=oracle,
        )
        clock += settings.sessions * SESSION_SECONDS
        log = pd.concat([log, events], ignore_index=True)
        rows.append({"round": round_number, "policy": policy.name, **metrics})
        policies.append(policy)
    return LoopResult(pd.DataFrame(rows), log, policies)
