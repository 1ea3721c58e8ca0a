"""How simulated users move through the catalogue: sequence lengths, categories, items, funnel.

Every function works on all users at once (a loop over time steps, never over users or events),
so a million events take seconds. Events are laid out user by user: user u's events are the
flat positions ``offsets[u]:offsets[u + 1]``, in chronological order.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, ndtr

from course_lib.simulate.config import SimulatorConfig
from course_lib.simulate.world import World, choice_scores


def draw_lengths(config: SimulatorConfig, rng: np.random.Generator) -> np.ndarray:
    """Events per user: log-normal around ``events_per_user``, clipped to the configured range."""
    sigma = 0.8
    mu = np.log(config.events_per_user) - sigma**2 / 2  # so that the mean is events_per_user
    lengths = np.rint(rng.lognormal(mu, sigma, size=config.num_users)).astype(np.int64)
    return np.clip(lengths, config.min_events_per_user, config.max_events_per_user)


def walk_categories(
    world: World, offsets: np.ndarray, config: SimulatorConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each event's category from a sticky, drifting interest process.

    Before every event a user's interest logits take a random-walk step (``interest_drift``);
    the event then stays in the previous event's category with probability
    ``category_stickiness`` and otherwise draws a category from softmax(interest logits).

    Returns:
        categories: (N,) category index of every event.
        category_proba: (N, C) float32, the distribution each category was drawn from: the true
            next-category probabilities given everything that happened before the event.
    """
    lengths = np.diff(offsets)
    by_length = np.argsort(-lengths, kind="stable")  # active users form a prefix at every step
    sorted_lengths = lengths[by_length]
    first_event = offsets[:-1][by_length]
    logits = world.user_interest[by_length].copy()  # (U, C)
    num_events, num_cats = offsets[-1], world.num_categories
    categories = np.empty(num_events, dtype=np.int64)
    category_proba = np.empty((num_events, num_cats), dtype=np.float32)
    previous = np.zeros(len(lengths), dtype=np.int64)
    stick = config.category_stickiness
    for step in range(int(sorted_lengths[0])):
        active = int(np.searchsorted(-sorted_lengths, -step, side="left"))  # lengths > step
        if step > 0:
            logits[:active] += config.interest_drift * rng.standard_normal((active, num_cats))
        proba = np.exp(logits[:active] - logits[:active].max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)  # (A, C)
        if step > 0:
            proba *= 1.0 - stick
            proba[np.arange(active), previous[:active]] += stick
        cdf = np.cumsum(proba, axis=1)
        drawn = (cdf < rng.random((active, 1)) * cdf[:, -1:]).sum(axis=1)  # inverse CDF
        previous[:active] = drawn
        positions = first_event[:active] + step
        categories[positions] = drawn
        category_proba[positions] = proba
    return categories, category_proba


def choose_items(
    world: World,
    offsets: np.ndarray,
    categories: np.ndarray,
    rng: np.random.Generator,
    scenarios: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick each event's item within its category: P(item) = softmax of the user's scores.

    Items of a category are contiguous, so for one user the category's probability mass is a
    slice of the cumulative sum over all items. Scaling each user's cumulative sum to (0, 1]
    and adding the user's row number lines all users up in one increasing array, and one
    ``searchsorted`` samples every event of a block of users at once. In a world with
    scenarios the scores are the scenario's (``choice_scores``): one pass per scenario.

    Args:
        scenarios: (N,) scenario index of every event; None: all in scenario 0.

    Returns:
        items: (N,) item index of every event.
        log_normaliser: (S, U, C) log of sum_j exp(score) over each category's items in each
            scenario, so that P(item j | user u, category c, scenario s) =
            exp(score[s, u, j] - log_normaliser[s, u, c]).
    """
    num_users, num_items = world.num_users, world.num_items
    starts, ends = world.category_start[:-1], world.category_start[1:]
    if scenarios is None:
        scenarios = np.zeros(offsets[-1], dtype=np.int64)
    items = np.empty(offsets[-1], dtype=np.int64)
    log_normaliser = np.empty((world.num_scenarios, num_users, world.num_categories))
    chunk = max(1, 2**22 // num_items)  # keeps each (users, items) block near 32 MB
    for first in range(0, num_users, chunk):
        users = np.arange(first, min(first + chunk, num_users))
        events = slice(offsets[first], offsets[users[-1] + 1])
        rows = np.repeat(np.arange(len(users)), np.diff(offsets[first : users[-1] + 2]))
        category = categories[events]
        uniform = rng.random(len(rows))  # where in its category's mass each event falls
        for scenario in range(world.num_scenarios):
            scores = choice_scores(world, users, scenarios=scenario)  # (n, I)
            row_max = scores.max(axis=1, keepdims=True)
            weights = np.exp(scores - row_max)  # (n, I)
            cumulative = np.cumsum(weights, axis=1)  # (n, I)
            before = np.where(starts > 0, cumulative[:, starts - 1], 0.0)  # (n, C) before c
            totals = cumulative[:, ends - 1] - before  # (n, C) mass of category c
            # the normaliser from each category's own sum: a difference of two large
            # cumulative sums loses a small category's mass to rounding
            masses = np.add.reduceat(weights, starts, axis=1)  # (n, C)
            log_normaliser[scenario, users] = np.log(masses) + row_max
            row_total = cumulative[:, -1:]
            keys = (np.arange(len(users))[:, None] + cumulative / row_total).ravel()
            here = scenarios[events] == scenario
            row, cat = rows[here], category[here]
            mass = before[row, cat] + uniform[here] * totals[row, cat]
            flat = np.searchsorted(keys, row + mass / row_total[row, 0], side="right")
            # Rounding can put a draw a hair outside its category: keep it inside.
            chosen = np.clip(flat - row * num_items, starts[cat], ends[cat] - 1)
            items[offsets[first] + np.flatnonzero(here)] = chosen
    return items, log_normaliser


def funnel_thresholds(utility: np.ndarray, config: SimulatorConfig) -> np.ndarray:
    """Thresholds of the ordinal funnel that give the configured share of each behavior.

    An interaction with utility g reaches stage k (fav = 1, cart = 2, buy = 3) or beyond with
    probability sigmoid(utility_scale * g - threshold[k - 1]). Each threshold is solved so that
    the share of events reaching the stage matches the config over the drawn utilities.

    Returns:
        (3,) increasing thresholds for fav, cart, buy.
    """
    scaled = config.utility_scale * utility
    reach = [
        config.fav_rate + config.cart_rate + config.buy_rate,
        config.cart_rate + config.buy_rate,
        config.buy_rate,
    ]
    return np.array(
        [brentq(lambda t, r=r: expit(scaled - t).mean() - r, -50.0, 50.0) for r in reach]
    )


def funnel_proba(utility: np.ndarray, thresholds: np.ndarray, scale: float) -> np.ndarray:
    """P(behavior) for each interaction, columns in funnel order pv, fav, cart, buy. (n, 4)."""
    reach = expit(scale * utility[:, None] - thresholds[None, :])  # (n, 3): P(stage >= k)
    at_least = np.concatenate([np.ones((len(utility), 1)), reach, np.zeros((len(utility), 1))], 1)
    return at_least[:, :-1] - at_least[:, 1:]


def draw_behaviors(
    utility: np.ndarray, thresholds: np.ndarray, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Draw how far each interaction goes: 0 pv, 1 fav, 2 cart, 3 buy (logistic noise)."""
    uniform = rng.random(len(utility))
    latent = scale * utility + np.log(uniform / (1.0 - uniform))
    return (latent[:, None] > thresholds[None, :]).sum(axis=1)


STARS = np.arange(1, 6)  # the rating scale: 1 to 5 stars


def rating_proba(utility: np.ndarray, config: SimulatorConfig) -> np.ndarray:
    """P(rating = 1, ..., 5 stars) of each interaction, from its hidden utility. (n, 5).

    A rating is ``rating_center + rating_spread * utility + rating_noise * N(0, 1)``, rounded
    to the nearest star and clipped to 1..5; so star k collects the normal's mass in
    [k - 0.5, k + 0.5), star 1 everything below 1.5 and star 5 everything from 4.5.
    """
    mean = config.rating_center + config.rating_spread * utility  # (n,)
    edges = (STARS[:-1] + 0.5)[None, :]  # (1, 4): 1.5, 2.5, 3.5, 4.5
    below = ndtr((edges - mean[:, None]) / config.rating_noise)  # (n, 4): P(latent < edge)
    cumulative = np.concatenate([np.zeros((len(mean), 1)), below, np.ones((len(mean), 1))], 1)
    return np.diff(cumulative, axis=1)


def draw_ratings(
    utility: np.ndarray, config: SimulatorConfig, rng: np.random.Generator
) -> np.ndarray:
    """Stars of each interaction (float64, 1.0 to 5.0) drawn as ``rating_proba`` describes."""
    mean = config.rating_center + config.rating_spread * utility
    latent = mean + config.rating_noise * rng.standard_normal(len(utility))
    return np.clip(np.rint(latent), 1, 5)


def draw_timestamps(
    offsets: np.ndarray, start: int, span: int, rng: np.random.Generator
) -> np.ndarray:
    """Strictly increasing unix seconds per user, inside the user's own active period.

    Each user is active during a random part of the window [start, start + span), so a global
    time cut finds some users only before it and others only after it, as in a real log.
    """
    lengths = np.diff(offsets)
    num_users = len(lengths)
    # Most users are active over the whole window; one in five joins late, one in five leaves
    # early (a user can do both), as in a real log.
    joins_late = rng.random(num_users) < 0.2
    leaves_early = rng.random(num_users) < 0.2
    begin = np.where(joins_late, rng.uniform(0.1, 0.6, num_users), 0.0)
    end = np.where(leaves_early, begin + (0.999 - begin) * rng.uniform(0.3, 0.8, num_users), 0.999)
    event_user = np.repeat(np.arange(num_users), lengths)
    uniform = rng.random(offsets[-1])
    uniform = uniform[np.lexsort((uniform, event_user))]  # sorted within each user
    fraction = begin[event_user] + (end - begin)[event_user] * uniform
    seconds = np.floor(span * fraction).astype(np.int64)
    # Make times strictly increasing within each user: t_i = max(t_i, t_{i-1} + 1). Lifting
    # each user's values above the previous user's lets one global running maximum do it.
    local_step = np.arange(offsets[-1]) - offsets[:-1][event_user]
    lift = event_user * (span + 2 * int(lengths.max(initial=1)))
    strict = np.maximum.accumulate(seconds - local_step + lift) - lift + local_step
    return start + strict
