"""How simulated users answer a slate of recommended items (notebook 08).

In the organic log a user finds items by themselves: a category from their interests, then an
item of it by its choice score (``world.choice_scores``). When a recommender shows a slate of K
items, the same tastes decide the answer, as a choice among the shown items and "none of them":

    P(pick slate item k) = exp(v_k) / (exp(v_0) + sum_j exp(v_j)),
    v_k = log(I * P_organic(item k)) - position_bias * log2(1 + k),

where ``P_organic`` is the chance the user would have picked the item unprompted (their
category interests times the item's share of its category) and ``I`` the catalogue size, so
v_k is 0 for an item exactly as likely as a uniform pick; ``v_0 = ignore_utility`` is the pull
of ignoring the slate. A picked item is viewed (a click), then goes as deep in the funnel as
its hidden utility says (``funnel_proba``): the same funnel, so the same buy rates per pair.
``position_bias`` > 0 makes lower places less seen (a log2 discount, as in NDCG); 0 is off.

Everything is exact, so the expected clicks and buys of any slate are known: that is what
lets notebook 08 measure a policy's regret against the oracle without sampling noise.
In a world with several scenarios, slates are shown in the first one (the home feed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.simulate.dynamics import funnel_proba
from course_lib.simulate.truth import GroundTruth
from course_lib.simulate.world import buy_utility, choice_scores

IGNORE_UTILITY = 2.0  # v_0: with a slate of 10 uniform-like items, about 1 in 2 is ignored


@dataclass(frozen=True)
class SlateAnswers:
    """What each user did with their slate: a pick (or none) and how deep it went."""

    position: np.ndarray  # (n,) 1-based place of the picked item in the slate; 0: ignored
    item: np.ndarray  # (n,) world item index of the pick; -1: ignored
    behavior: np.ndarray  # (n,) funnel stage of the pick: 0 view, 1 fav, 2 cart, 3 buy; -1


def organic_log_lift(truth: GroundTruth, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """log(I * P(the user picks the item unprompted)): each item's pull on each user.

    Args:
        users: (n,) world user indices.
        items: (n, K) world item indices: each user's slate, or every item.

    Shape:
        users (n,), items (n, K) -> (n, K)
    """
    world = truth.world
    interest = world.user_interest[users]  # (n, C) category logits
    log_category = interest - np.logaddexp.reduce(interest, axis=1, keepdims=True)  # (n, C)
    rows = np.repeat(users, items.shape[1])  # (n K,)
    flat = items.reshape(-1)
    categories = world.item_category[flat]
    scores = choice_scores(world, rows, flat) - truth.log_normaliser[0, rows, categories]
    log_proba = log_category[np.repeat(np.arange(len(users)), items.shape[1]), categories]
    return (log_proba + scores).reshape(items.shape) + np.log(world.num_items)


def buy_given_pick(truth: GroundTruth, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """P(a picked item is bought), from the funnel. Shape: users (n,), items (n, K) -> (n, K)."""
    rows = np.repeat(users, items.shape[1])
    utility = buy_utility(truth.world, rows, items.reshape(-1), truth.relatedness)
    buy = funnel_proba(utility, truth.thresholds, truth.utility_scale)[:, 3]
    return buy.reshape(items.shape)


def pick_proba(
    truth: GroundTruth,
    users: np.ndarray,
    slates: np.ndarray,
    *,
    position_bias: float = 0.0,
    ignore_utility: float = IGNORE_UTILITY,
) -> np.ndarray:
    """P(the user picks slate item k), for every place k; the rest is P(ignore the slate).

    Shape:
        users (n,), slates (n, K) world item indices -> (n, K)
    """
    places = np.arange(1, slates.shape[1] + 1)
    utility = organic_log_lift(truth, users, slates) - position_bias * np.log2(1 + places)
    ignore = np.full((len(users), 1), ignore_utility)
    both = np.concatenate([ignore, utility], axis=1)  # (n, 1 + K)
    proba = np.exp(both - np.logaddexp.reduce(both, axis=1, keepdims=True))
    return proba[:, 1:]


def expected_outcomes(
    truth: GroundTruth,
    users: np.ndarray,
    slates: np.ndarray,
    *,
    position_bias: float = 0.0,
    ignore_utility: float = IGNORE_UTILITY,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected clicks and buys of each user's slate (exact, no sampling).

    Shape:
        users (n,), slates (n, K) -> clicks (n,), buys (n,)
    """
    pick = pick_proba(
        truth, users, slates, position_bias=position_bias, ignore_utility=ignore_utility
    )
    return pick.sum(axis=1), (pick * buy_given_pick(truth, users, slates)).sum(axis=1)


def answer_slates(
    truth: GroundTruth,
    users: np.ndarray,
    slates: np.ndarray,
    rng: np.random.Generator,
    *,
    position_bias: float = 0.0,
    ignore_utility: float = IGNORE_UTILITY,
) -> SlateAnswers:
    """Draw every user's answer to their slate: which item (if any), then how far it goes.

    Shape:
        users (n,), slates (n, K) -> each field (n,)
    """
    pick = pick_proba(
        truth, users, slates, position_bias=position_bias, ignore_utility=ignore_utility
    )
    cumulative = np.cumsum(pick, axis=1)  # (n, K)
    draw = rng.random(len(users))  # (n,) below cumulative[:, -1]: a pick; above: ignored
    place = (draw[:, None] >= cumulative).sum(axis=1)  # (n,) 0-based place of the pick
    position = np.where(draw < cumulative[:, -1], place + 1, 0)
    picked = position > 0
    item = np.where(picked, slates[np.arange(len(users)), np.maximum(position - 1, 0)], -1)
    behavior = np.full(len(users), -1)
    if picked.any():
        utility = buy_utility(truth.world, users[picked], item[picked], truth.relatedness)
        stages = funnel_proba(utility, truth.thresholds, truth.utility_scale)  # (m, 4)
        behavior[picked] = (rng.random(picked.sum())[:, None] > stages.cumsum(1)).sum(1)
    return SlateAnswers(position=position, item=item, behavior=behavior)
