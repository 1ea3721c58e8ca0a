"""Generate a behavior log in the data contract, with the truth behind it (notebook 01).

The process, step by step (every knob is a ``SimulatorConfig`` field):

1. **World.** Items belong to categories of Zipf-like sizes and have a quality, a taste vector,
   a hidden value for money and a price. Users have category interests, a taste vector, a
   propensity to buy and an observable membership flag (members buy more).
2. **Categories.** Before each event a user's interests drift (a random walk); the event stays in
   the previous category with probability ``category_stickiness``, else it draws a category from
   the interests. Recent events therefore say more about the next one than old events do.
3. **Items.** Within the category the user picks an item with probability softmax(quality +
   taste match): this is what click models learn.
4. **Funnel.** How far an interaction goes (pv < fav < cart < buy) is an ordinal draw on a hidden
   utility that mixes the click driver with an independent buy driver (propensity, value, price),
   weighted by ``task_relatedness``. Thresholds are solved to give ``buy_rate`` etc.
5. **Clock and dirt.** Events get increasing timestamps inside each user's active period in the
   window; a few rows are then logged twice or with a timestamp before the window, as real logs
   are, for the cleaning step to find.

Two optional parts, off by default (the bundled log has neither):

- **User attributes** (``attribute_strength``): an age group and a region per user, in the
  user side table, whose groups share tastes and interests (``world.add_attributes``).
- **Ratings** (``rating_rate``): a share of the interactions leave 1 to 5 stars in a ``value``
  column (missing elsewhere), drawn from the same hidden utility as the funnel
  (``dynamics.rating_proba``); the truth gives each one's distribution and expected value.

- **Scenarios** (``num_scenarios``): every event happens on one surface (home feed, search,
  item page, ...), drawn by the scenarios' traffic shares, in a ``scenario`` column. Each
  scenario weighs what drives clicks and buys in its own way (``world.add_scenarios``), as
  far apart as ``scenario_strength`` says.

The first two draw from random streams of their own, so switching them on changes nothing
else: the same seed gives the same events, items, behaviors and timestamps with or without
them. Scenarios draw from their own stream too and leave users, categories and timestamps as
they were; the items and behaviors of the events follow each scenario's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from course_lib.data.schema import TAOBAO_BEHAVIORS
from course_lib.simulate.config import SCENARIOS, SimulatorConfig
from course_lib.simulate.dynamics import (
    choose_items,
    draw_behaviors,
    draw_lengths,
    draw_ratings,
    draw_timestamps,
    funnel_thresholds,
    walk_categories,
)
from course_lib.simulate.truth import GroundTruth
from course_lib.simulate.world import (
    AGE_GROUPS,
    REGIONS,
    add_attributes,
    add_scenarios,
    buy_utility,
    draw_world,
)


@dataclass(frozen=True)
class Simulation:
    """A simulated log, its observable side tables and the truth behind it."""

    config: SimulatorConfig
    log: pd.DataFrame  # the data contract: user_id, item_id, category_id, behavior, timestamp
    # (and value, the stars of a rated interaction, when the config asks for ratings; and
    # scenario, the surface of each event, when it asks for several)
    users: pd.DataFrame  # observable user side table: user_id, is_member (age_group, region)
    items: pd.DataFrame  # observable item side table: item_id, category_id, price
    truth: GroundTruth


def simulate(config: SimulatorConfig | None = None) -> Simulation:
    """Run the generative process described in this module's docstring.

    Args:
        config: the knobs; the defaults make the course's bundled data set.

    Returns:
        The log sorted by user and time (row labels 0..N-1), the side tables and the truth.
    """
    config = config or SimulatorConfig()
    rng = np.random.default_rng(config.seed)
    world = add_attributes(draw_world(config, rng), config)
    offsets = np.concatenate([[0], np.cumsum(draw_lengths(config, rng))])
    event_user = np.repeat(np.arange(world.num_users), np.diff(offsets))

    world = add_scenarios(world, config)
    scenarios_rng = np.random.default_rng([config.seed, 3])  # its own stream (module doc)
    scenario = scenarios_rng.choice(config.num_scenarios, size=len(event_user), p=config.traffic)

    categories, category_proba = walk_categories(world, offsets, config, rng)
    items, log_normaliser = choose_items(world, offsets, categories, rng, scenario)
    utility = buy_utility(world, event_user, items, config.task_relatedness, scenario)
    thresholds = funnel_thresholds(utility, config)
    behaviors = draw_behaviors(utility, thresholds, config.utility_scale, rng)
    start, end = config.window
    timestamps = draw_timestamps(offsets, start, end - start, rng)
    stars = np.full(len(event_user), np.nan)  # (N,) the rating of a rated event, else missing
    if config.rating_rate > 0:
        ratings_rng = np.random.default_rng([config.seed, 2])  # its own stream (module doc)
        rated = ratings_rng.random(len(event_user)) < config.rating_rate
        stars[rated] = draw_ratings(utility[rated], config, ratings_rng)

    # Dirt: copies of random events, logged twice or with a clock set days before the window.
    num_events = len(event_user)
    duplicated = rng.choice(num_events, size=round(config.duplicate_rate * num_events))
    early = rng.choice(num_events, size=round(config.outside_window_rate * num_events))
    source = np.concatenate([np.arange(num_events), duplicated, early])
    timestamps = np.concatenate(
        [timestamps, timestamps[duplicated], start - rng.integers(3_600, 3 * 86_400, len(early))]
    )
    injected = np.arange(len(source)) >= num_events

    user_ids = world.user_ids[event_user[source]]
    order = np.lexsort((injected, timestamps, user_ids))  # by user, then time; copies after
    source, timestamps, injected = source[order], timestamps[order], injected[order]
    log = pd.DataFrame(
        {
            "user_id": world.user_ids[event_user[source]],
            "item_id": world.item_ids[items[source]],
            "category_id": world.category_ids[categories[source]],
            "behavior": pd.array(np.asarray(TAOBAO_BEHAVIORS)[behaviors[source]], dtype="str"),
            "timestamp": timestamps,
        }
    )
    if config.rating_rate > 0:
        log["value"] = stars[source]  # a duplicated row repeats its event's rating
    if config.num_scenarios > 1:
        log["scenario"] = pd.array(np.asarray(SCENARIOS)[scenario[source]], dtype="str")
    truth = GroundTruth(
        world=world,
        event_user=event_user[source],
        event_scenario=scenario[source],
        category_proba=category_proba[source],
        log_normaliser=log_normaliser,
        thresholds=thresholds,
        utility_scale=config.utility_scale,
        relatedness=config.task_relatedness,
        injected=injected,
        config=config,
    )
    users = pd.DataFrame({"user_id": world.user_ids, "is_member": world.user_is_member})
    if world.user_age_group is not None and world.user_region is not None:
        users["age_group"] = pd.array(np.asarray(AGE_GROUPS)[world.user_age_group], dtype="str")
        users["region"] = pd.array(np.asarray(REGIONS)[world.user_region], dtype="str")
    items_table = pd.DataFrame(
        {
            "item_id": world.item_ids,
            "category_id": world.category_ids[world.item_category],
            "price": world.item_price,
        }
    ).sort_values("item_id", ignore_index=True)
    return Simulation(config=config, log=log, users=users, items=items_table, truth=truth)
