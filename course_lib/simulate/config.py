"""The knobs of the behavior-log simulator (taught in notebook 01, used by later notebooks)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# The scenarios a log can have, in order (a config with num_scenarios = S has the first S),
# each with how it reweighs what drives clicks and buys, times ``scenario_strength``: the
# log-weights of item quality and taste match (clicks), of item value and price (buys), and
# a shift of the buy level. Browsing a home feed follows general appeal; a search follows
# the user's own taste and compares prices; an item page, reached from a specific item,
# follows taste most and buys less; a checkout page's suggestions are bought on value.
SCENARIO_PROFILES: dict[str, tuple[float, float, float, float, float]] = {
    # name:      quality, taste, value, price, buy level
    "home": (0.5, -0.5, 0.0, 0.0, 0.0),
    "search": (-0.5, 0.5, 0.0, 0.5, 0.5),
    "item_page": (-0.5, 1.0, 0.5, -0.5, -0.5),
    "checkout": (0.0, -0.5, 1.0, 1.0, 1.0),
    "video": (1.0, 0.0, -0.5, -0.5, -0.5),
    "live": (0.5, 0.5, 0.5, -1.0, 0.0),
}
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_PROFILES)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes a simulated behavior log. The same config gives the same log.

    The generative process is described in ``course_lib.simulate.simulator``; each field below
    says which part of it the knob turns.
    """

    num_users: int = 4_000
    num_items: int = 2_000
    num_categories: int = 25
    events_per_user: float = 50.0  # mean; lengths are log-normal, so a few users are very active
    min_events_per_user: int = 3  # shortest history a simulated user can have
    max_events_per_user: int = 1_000  # cap on the long tail of very active users

    # Sequence dynamics: why the order of a history matters.
    category_stickiness: float = 0.6  # P(next event stays in the current category)
    interest_drift: float = 0.3  # std of the per-event random walk of category interests
    interest_concentration: float = 1.5  # std of a user's initial category preferences (logits)
    taste_dim: int = 4  # size of the hidden user and item taste vectors

    # Funnel pv -> fav -> cart -> buy (an ordinal model of how far an interaction goes).
    task_relatedness: float = 0.7  # 0: click and buy have independent drivers; 1: the same
    buy_rate: float = 0.03  # share of events that are buys
    cart_rate: float = 0.06  # share of events that stop at cart
    fav_rate: float = 0.03  # share of events that stop at fav
    utility_scale: float = 2.0  # how strongly the hidden utility decides how deep the funnel goes

    # Observable user attributes (age group, region) that shape tastes: 0 leaves them out of
    # the world and the side table; s in (0, 1] makes each user's taste and category interests
    # a mix of their groups' (weight s) and their own (weight sqrt(1 - s^2)).
    attribute_strength: float = 0.0

    # Explicit feedback: the share of interactions that leave a rating of 1 to 5 stars, the
    # `value` column (0: no ratings and no `value` column). A rating is the hidden utility,
    # centred and spread, plus Gaussian noise, rounded to a whole star and clipped to 1..5.
    rating_rate: float = 0.0
    rating_center: float = 3.0  # stars at a hidden utility of 0 (chosen items average more)
    rating_spread: float = 0.9  # stars per unit of hidden utility
    rating_noise: float = 0.8  # std of the Gaussian noise, in stars

    # Scenarios: the surfaces an event happens on (home feed, search, item page, ...), a
    # `scenario` column in the log. 1 leaves scenarios out of the world and the log. Each event
    # draws its scenario by ``scenario_shares`` (empty: equal traffic); ``scenario_strength``
    # k is how differently users click and buy in each: scenario s weighs item quality, taste
    # match, value and price by exp(k w) and shifts its buy level by k w, with its profile's
    # w (``SCENARIO_PROFILES``, ``world.add_scenarios``); 0 makes the scenarios alike.
    num_scenarios: int = 1
    scenario_shares: tuple[float, ...] = ()
    scenario_strength: float = 0.0

    # The clock: every event falls in [start, start + days), unix seconds, UTC.
    start: str = "2017-11-25"
    days: int = 9

    # Dirt that real logs have and cleaning must remove (shares of the clean event count).
    duplicate_rate: float = 0.002  # events logged twice
    outside_window_rate: float = 0.001  # events with a timestamp before the window

    seed: int = 0

    @property
    def traffic(self) -> tuple[float, ...]:
        """The share of events in each scenario (``scenario_shares``, or equal shares)."""
        return self.scenario_shares or (1.0 / self.num_scenarios,) * self.num_scenarios

    @property
    def window(self) -> tuple[int, int]:
        """The log's time window [start, end) in unix seconds (UTC), e.g. for ``clean_log``."""
        start = int(pd.Timestamp(self.start, tz="UTC").timestamp())
        return start, start + self.days * 86_400

    def __post_init__(self) -> None:
        """Reject knob values the process cannot honour, naming the knob and the valid range."""
        checks = {
            "num_users": self.num_users >= 1,
            "num_items": self.num_items >= self.num_categories,
            "num_categories": self.num_categories >= 2,
            "events_per_user": self.events_per_user >= self.min_events_per_user,
            "min_events_per_user": self.min_events_per_user >= 1,
            "max_events_per_user": self.max_events_per_user >= self.events_per_user,
            "category_stickiness": 0.0 <= self.category_stickiness < 1.0,
            "interest_drift": self.interest_drift >= 0.0,
            "task_relatedness": 0.0 <= self.task_relatedness <= 1.0,
            "buy_rate": self.buy_rate > 0.0,
            "cart_rate": self.cart_rate > 0.0,
            "fav_rate": self.fav_rate > 0.0,
            "days": isinstance(self.days, int) and self.days >= 1,
            "taste_dim": self.taste_dim >= 1,
            "duplicate_rate": 0.0 <= self.duplicate_rate < 1.0,
            "outside_window_rate": 0.0 <= self.outside_window_rate < 1.0,
            "attribute_strength": 0.0 <= self.attribute_strength <= 1.0,
            "rating_rate": 0.0 <= self.rating_rate <= 1.0,
            "rating_center": 1.0 <= self.rating_center <= 5.0,
            "rating_spread": self.rating_spread >= 0.0,
            "rating_noise": self.rating_noise > 0.0,
            "num_scenarios": 1 <= self.num_scenarios <= len(SCENARIOS),
            "scenario_shares": not self.scenario_shares
            or (
                len(self.scenario_shares) == self.num_scenarios
                and min(self.scenario_shares) > 0
                and abs(sum(self.scenario_shares) - 1.0) < 1e-9
            ),
            "scenario_strength": 0.0 <= self.scenario_strength <= 1.5,
        }
        expected = {
            "num_items": f">= num_categories ({self.num_categories})",
            "events_per_user": f">= min_events_per_user ({self.min_events_per_user})",
            "max_events_per_user": f">= events_per_user ({self.events_per_user})",
            "category_stickiness": "in [0, 1)",
            "task_relatedness": "in [0, 1]",
            "days": "a whole number of days >= 1",
            "attribute_strength": "in [0, 1]",
            "rating_rate": "in [0, 1]",
            "rating_center": "in [1, 5] (stars)",
            "rating_spread": ">= 0",
            "num_scenarios": f"in 1..{len(SCENARIOS)} (one per name in SCENARIOS)",
            "scenario_shares": f"empty (equal traffic) or {self.num_scenarios} positive shares "
            "summing to 1, one per scenario",
            "scenario_strength": "in [0, 1.5] (beyond it, a scenario's weights make item "
            "choices too sharp for float64 sums)",
        }
        for name, ok in checks.items():
            if not ok:
                rule = expected.get(name, "positive" if "rate" not in name else "in (0, 1)")
                raise ValueError(f"SimulatorConfig.{name}={getattr(self, name)!r} must be {rule}")
        try:
            pd.Timestamp(self.start, tz="UTC")
        except ValueError as error:
            raise ValueError(
                f"SimulatorConfig.start={self.start!r} must be a date like '2017-11-25': {error}"
            ) from None
        if self.num_scenarios > 1 and self.rating_rate > 0:
            raise ValueError(
                "SimulatorConfig: ratings (rating_rate > 0) and several scenarios "
                "(num_scenarios > 1) are not simulated together; turn one of them off"
            )
        if self.buy_rate + self.cart_rate + self.fav_rate >= 1.0:
            raise ValueError(
                "SimulatorConfig: buy_rate + cart_rate + fav_rate must be below 1 "
                f"(got {self.buy_rate + self.cart_rate + self.fav_rate:.3f}); the rest are pv"
            )
