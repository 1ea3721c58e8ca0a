"""The hidden world behind a simulated log: users and items with their latent traits.

A model only ever sees the log and the observable side tables; the simulator keeps these latent
arrays to generate the log and to compute the true probability behind every label.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from course_lib.simulate.config import SCENARIO_PROFILES, SCENARIOS, SimulatorConfig

# Observable user attributes (``SimulatorConfig.attribute_strength``): labels and shares.
AGE_GROUPS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_GROUP_SHARES: tuple[float, ...] = (0.2, 0.3, 0.25, 0.15, 0.1)
REGIONS: tuple[str, ...] = ("north", "east", "south", "west")
REGION_SHARES: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class World:
    """Latent traits of every user and item. Items are stored grouped by category.

    Shapes: ``U`` users, ``I`` items, ``C`` categories, ``d`` taste dimensions.
    """

    user_ids: np.ndarray  # (U,) raw user ids as they appear in the log
    item_ids: np.ndarray  # (I,) raw item ids
    category_ids: np.ndarray  # (C,) raw category ids
    item_category: np.ndarray  # (I,) category index of each item, non-decreasing
    category_start: np.ndarray  # (C + 1,) items of category c are [start[c], start[c + 1])
    category_popularity: np.ndarray  # (C,) log-popularity shared by all users
    item_quality: np.ndarray  # (I,) makes an item chosen more often (drives clicks)
    item_taste: np.ndarray  # (I, d) matched against user_taste (drives clicks)
    item_value: np.ndarray  # (I,) value for money, hidden (drives buys only)
    item_value_taste: np.ndarray  # (I, d) matched against user_value_taste (drives buys only)
    item_price: np.ndarray  # (I,) observable price
    item_relative_price: np.ndarray  # (I,) standardised log price within its category
    user_interest: np.ndarray  # (U, C) initial category preference logits
    user_taste: np.ndarray  # (U, d)
    user_value_taste: np.ndarray  # (U, d)
    user_propensity: np.ndarray  # (U,) how readily a user buys
    user_is_member: np.ndarray  # (U,) observable; members buy more often
    user_age_group: np.ndarray | None = None  # (U,) index into AGE_GROUPS; observable
    user_region: np.ndarray | None = None  # (U,) index into REGIONS; observable
    # With scenarios (``add_scenarios``), how much each driver weighs in each scenario:
    # row s holds the weights of events in scenario s (None without scenarios: weights 1).
    scenario_click: np.ndarray | None = None  # (S, 2) weights of item quality and taste match
    scenario_buy: np.ndarray | None = None  # (S, 3) weights of value and price, and a level

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_categories(self) -> int:
        return len(self.category_ids)

    @property
    def num_scenarios(self) -> int:
        return 1 if self.scenario_click is None else len(self.scenario_click)


def draw_world(config: SimulatorConfig, rng: np.random.Generator) -> World:
    """Draw every user's and item's latent traits from the config's distributions."""
    num_users, num_items, num_cats = config.num_users, config.num_items, config.num_categories
    dim = config.taste_dim

    # Category sizes follow a Zipf-like law (a few big categories), at least one item each.
    weights = 1.0 / np.arange(1, num_cats + 1) ** 0.8
    sizes = 1 + rng.multinomial(num_items - num_cats, weights / weights.sum())
    category_start = np.concatenate([[0], np.cumsum(sizes)])
    item_category = np.repeat(np.arange(num_cats), sizes)
    category_popularity = np.log(sizes / sizes.mean())

    # Taste vectors scaled so that a dot product has unit variance.
    scale = dim**-0.25
    log_price_level = rng.normal(3.0, 0.8, size=num_cats)
    relative_price = rng.standard_normal(num_items)
    item_price = np.round(np.exp(log_price_level[item_category] + 0.5 * relative_price), 2)

    user_propensity = rng.standard_normal(num_users)
    member_logit = 1.5 * user_propensity - 1.0
    user_is_member = rng.random(num_users) < 1.0 / (1.0 + np.exp(-member_logit))

    return World(
        user_ids=np.arange(1, num_users + 1, dtype=np.int64),
        # Raw ids look like a real log's: arbitrary integers, unrelated to the latent order.
        item_ids=1 + rng.choice(5_000_000, size=num_items, replace=False).astype(np.int64),
        category_ids=1 + rng.choice(10_000, size=num_cats, replace=False).astype(np.int64),
        item_category=item_category,
        category_start=category_start,
        category_popularity=category_popularity,
        item_quality=rng.standard_normal(num_items),
        item_taste=scale * rng.standard_normal((num_items, dim)),
        item_value=rng.standard_normal(num_items),
        item_value_taste=scale * rng.standard_normal((num_items, dim)),
        item_price=item_price,
        item_relative_price=relative_price,
        user_interest=category_popularity
        + config.interest_concentration * rng.standard_normal((num_users, num_cats)),
        user_taste=scale * rng.standard_normal((num_users, dim)),
        user_value_taste=scale * rng.standard_normal((num_users, dim)),
        user_propensity=user_propensity,
        user_is_member=user_is_member,
    )


def choice_scores(
    world: World,
    users: np.ndarray,
    items: np.ndarray | None = None,
    scenarios: np.ndarray | int = 0,
) -> np.ndarray:
    """Scores that decide which item of a category a user picks (the click driver).

    Args:
        users: user indices, shape (n,).
        items: item indices, shape (n,) to score pairs; None scores every item for every user.
        scenarios: the scenario index of each user or pair, shape (n,), or one for all (a
            world without scenarios has only scenario 0).

    Returns:
        (n,) pair scores, or (n, I) scores of all items. Unit-variance parts: quality + taste,
        each weighted by the scenario's weight when the world has scenarios.
    """
    if items is None:
        quality, taste = world.item_quality, world.user_taste[users] @ world.item_taste.T
    else:
        quality = world.item_quality[items]
        taste = np.einsum("nd,nd->n", world.user_taste[users], world.item_taste[items])
    if world.scenario_click is None:
        return quality + taste
    weights = world.scenario_click[scenarios]  # (2,) or (n, 2)
    if items is None and weights.ndim == 2:  # one row of all items per user
        weights = weights[:, None, :]  # (n, 1, 2)
    return weights[..., 0] * quality + weights[..., 1] * taste


def buy_utility(
    world: World,
    users: np.ndarray,
    items: np.ndarray,
    relatedness: float,
    scenarios: np.ndarray | int = 0,
) -> np.ndarray:
    """The hidden utility of an interaction that decides how deep it goes in the funnel.

    It mixes the click driver (the choice score) with an independent buy driver (the user's
    propensity, the item's hidden value, value taste and relative price), with weights set by
    ``relatedness``: at 1 buys depend only on what drives clicks, at 0 on nothing that does.
    Both parts have unit variance, so the utility has unit variance at every relatedness.
    In a world with scenarios each part follows its scenario's weights, scaled back to unit
    variance, and the buy driver adds the scenario's level.

    Returns:
        (n,) utility of each (user, item) pair.
    """
    value_taste = np.einsum(
        "nd,nd->n", world.user_value_taste[users], world.item_value_taste[items]
    )
    value, price = world.item_value[items], world.item_relative_price[items]
    click_scale, buy_scale, level = np.sqrt(2.0), 2.0, 0.0  # the parts' standard deviations
    if world.scenario_click is not None:
        click = world.scenario_click[scenarios]  # (2,) or (n, 2)
        buy = world.scenario_buy[scenarios]  # (3,) or (n, 3)
        click_scale = np.sqrt((click**2).sum(axis=-1))
        buy_scale = np.sqrt(2.0 + buy[..., 0] ** 2 + buy[..., 1] ** 2)
        value, price, level = buy[..., 0] * value, buy[..., 1] * price, buy[..., 2]
    click_part = choice_scores(world, users, items, scenarios) / click_scale
    buy_part = (world.user_propensity[users] + value + value_taste - price) / buy_scale + level
    return relatedness * click_part + np.sqrt(1.0 - relatedness**2) * buy_part


def add_attributes(world: World, config: SimulatorConfig) -> World:
    """Give every user an age group and a region that shape their tastes and interests.

    Each age group and each region has a taste vector, a value-taste vector and category
    interest offsets of its own; a user's are a mix of their two groups' (weight
    ``attribute_strength`` s) and the individual ones already drawn (weight sqrt(1 - s^2)), so
    their spread is unchanged and attributes tell a model about a user it has barely seen.
    The attributes come from their own random stream (seeded by ``config.seed``), so the rest
    of the world is drawn exactly as without them. With s = 0 the world is returned unchanged.
    """
    strength = config.attribute_strength
    if strength == 0:
        return world
    rng = np.random.default_rng([config.seed, 1])  # not the world's stream: see above
    age = rng.choice(len(AGE_GROUPS), size=world.num_users, p=AGE_GROUP_SHARES)
    region = rng.choice(len(REGIONS), size=world.num_users, p=REGION_SHARES)

    def of_groups(size: int, std: float) -> np.ndarray:
        """(U, size): the mean of the user's age-group and region vectors, spread ``std``."""
        by_age = rng.standard_normal((len(AGE_GROUPS), size))
        by_region = rng.standard_normal((len(REGIONS), size))
        return std * (by_age[age] + by_region[region]) / np.sqrt(2.0)

    own = np.sqrt(1.0 - strength**2)
    scale = config.taste_dim**-0.25  # as draw_world's taste vectors
    deviation = world.user_interest - world.category_popularity  # the individual part
    interest = of_groups(world.num_categories, config.interest_concentration)
    return replace(
        world,
        user_taste=own * world.user_taste + strength * of_groups(config.taste_dim, scale),
        user_value_taste=own * world.user_value_taste
        + strength * of_groups(config.taste_dim, scale),
        user_interest=world.category_popularity + own * deviation + strength * interest,
        user_age_group=age,
        user_region=region,
    )


def add_scenarios(world: World, config: SimulatorConfig) -> World:
    """Give each scenario its own weights on what drives clicks and buys.

    Scenario s weighs item quality and taste match (clicks), and item value and price (buys),
    by exp(k w) each, and shifts the buy driver by k w, where w comes from the scenario's
    profile (``SCENARIO_PROFILES``) and k is ``scenario_strength``: at 0 every scenario
    behaves alike. With one scenario the world is returned unchanged.
    """
    if config.num_scenarios == 1:
        return world
    names = SCENARIOS[: config.num_scenarios]
    profiles = config.scenario_strength * np.array([SCENARIO_PROFILES[n] for n in names])
    return replace(
        world,
        scenario_click=np.exp(profiles[:, :2]),
        scenario_buy=np.column_stack([np.exp(profiles[:, 2:4]), profiles[:, 4]]),
    )
