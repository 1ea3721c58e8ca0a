"""The true probabilities behind a simulated log's labels, and so the best achievable scores.

Because the simulator knows the hidden state before every event, it can say how likely each
outcome was. Scoring a test set with these probabilities gives the Bayes limit: no model that
sees only the log can beat it except by chance (notebooks 01 and 04 use it as the yardstick).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from course_lib.simulate.config import SCENARIOS, SimulatorConfig
from course_lib.simulate.dynamics import STARS, funnel_proba, rating_proba
from course_lib.simulate.world import World, buy_utility, choice_scores


@dataclass(frozen=True)
class GroundTruth:
    """True probabilities for the events of one simulated log.

    Events are named by their row label in the simulated log (``Simulation.log.index``), which
    the data pipeline keeps as ``event_index`` all the way to the training samples.
    """

    world: World
    event_user: np.ndarray  # (N,) user index of each log row
    event_scenario: np.ndarray  # (N,) scenario index of each log row (0 without scenarios)
    category_proba: np.ndarray  # (N, C) P(category of this event | everything before it)
    log_normaliser: np.ndarray  # (S, U, C) within-category softmax normaliser of choice scores
    thresholds: np.ndarray  # (3,) funnel thresholds for fav, cart, buy
    utility_scale: float
    relatedness: float
    injected: np.ndarray  # (N,) True for the duplicate / out-of-window rows added as dirt
    config: SimulatorConfig | None = None  # the knobs the log was simulated with

    def _users(self, user_ids: np.ndarray) -> np.ndarray:
        return _lookup(self.world.user_ids, user_ids, "user_id")

    def _items(self, item_ids: np.ndarray) -> np.ndarray:
        return _lookup(self.world.item_ids, item_ids, "item_id")

    def _scenarios(self, scenarios: np.ndarray | None) -> np.ndarray | int:
        """Scenario indices of the log's scenario names; None is fine in a one-scenario world."""
        if scenarios is None:
            if self.world.num_scenarios > 1:
                raise ValueError(
                    f"this world has {self.world.num_scenarios} scenarios, whose users click and "
                    "buy differently: pass each interaction's scenario (the log's scenario "
                    "column) as scenarios="
                )
            return 0
        names = SCENARIOS[: self.world.num_scenarios]
        return _lookup(np.asarray(names), np.asarray(scenarios), "scenario")

    def scenarios_of(self, event_index: np.ndarray) -> np.ndarray | None:
        """The scenario of each event, as the log names it; None in a one-scenario world."""
        if self.world.num_scenarios == 1:
            return None
        return np.asarray(SCENARIOS)[self.event_scenario[np.asarray(event_index)]]

    def as_if_in(self, scenario: str) -> GroundTruth:
        """The truth had every event happened in one scenario: what ignoring scenarios costs.

        Scoring a scenario's samples with another scenario's probabilities shows how much
        even a perfect model loses by not knowing where a request comes from.
        """
        index = self._scenarios(np.array([scenario]))[0]
        return replace(self, event_scenario=np.full_like(self.event_scenario, index))

    def next_category_proba(self, event_index: np.ndarray) -> pd.DataFrame:
        """P(the event's category) given its user's past, one row per event.

        Returns:
            (n, C) DataFrame whose columns are the raw category ids.
        """
        proba = self.category_proba[np.asarray(event_index)]
        return pd.DataFrame(proba, columns=pd.Index(self.world.category_ids, name="category_id"))

    def item_proba(self, event_index: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """P(the event is an interaction with this item) given its user's past. Shape (n,)."""
        events = np.asarray(event_index)
        users, items = self.event_user[events], self._items(item_ids)
        categories, scenarios = self.world.item_category[items], self.event_scenario[events]
        scores = choice_scores(self.world, users, items, scenarios)
        within = np.exp(scores - self.log_normaliser[scenarios, users, categories])
        return self.category_proba[events, categories] * within

    def click_proba(
        self,
        event_index: np.ndarray,
        item_ids: np.ndarray,
        num_negatives: int,
        num_candidates: int,
    ) -> np.ndarray:
        """P(click label = 1) for a candidate under uniform negative sampling. Shape (n,).

        A click sample pairs the true next item (label 1) with ``num_negatives`` items drawn
        uniformly from the other ``num_candidates - 1`` items (label 0). Item j is the positive
        with probability P(j) and one of the negatives with probability about
        num_negatives * (1 - P(j)) / (num_candidates - 1), so the label is 1 with probability
        P(j) / (P(j) + num_negatives * (1 - P(j)) / (num_candidates - 1)). That ranks candidates
        exactly as P(j) does, so its AUC is the Bayes limit of the click task.
        """
        proba = self.item_proba(event_index, item_ids)
        return proba / (proba + num_negatives * (1.0 - proba) / (num_candidates - 1))

    def behavior_proba(
        self, user_ids: np.ndarray, item_ids: np.ndarray, scenarios: np.ndarray | None = None
    ) -> np.ndarray:
        """P(behavior) of an interaction, columns in funnel order pv, fav, cart, buy. (n, 4).

        ``scenarios``: the scenario of each interaction, as the log names it; needed when the
        world has several (this is true of every method taking it).
        """
        users, items = self._users(user_ids), self._items(item_ids)
        scenario = self._scenarios(scenarios)
        utility = buy_utility(self.world, users, items, self.relatedness, scenario)
        return funnel_proba(utility, self.thresholds, self.utility_scale)

    def buy_proba(
        self, user_ids: np.ndarray, item_ids: np.ndarray, scenarios: np.ndarray | None = None
    ) -> np.ndarray:
        """P(an interaction of this user with this item is a buy). Shape (n,)."""
        return self.behavior_proba(user_ids, item_ids, scenarios)[:, 3]

    def rating_proba(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """P(a rating of this user for this item is 1, ..., 5 stars). Shape (n, 5).

        Raises:
            ValueError: the log was simulated without ratings (``rating_rate`` = 0).
        """
        if self.config is None or self.config.rating_rate == 0:
            raise ValueError(
                "this simulation has no ratings: simulate with SimulatorConfig(rating_rate=...) "
                "above 0 to give interactions a rating and the truth its distribution"
            )
        utility = buy_utility(
            self.world, self._users(user_ids), self._items(item_ids), self.relatedness
        )
        return rating_proba(utility, self.config)

    def expected_rating(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """E[stars] of a rating of this user for this item: the best RMSE prediction. (n,)."""
        return self.rating_proba(user_ids, item_ids) @ STARS

    def like_proba(
        self, user_ids: np.ndarray, item_ids: np.ndarray, threshold: float = 4
    ) -> np.ndarray:
        """P(a rating of this user for this item is at least ``threshold`` stars). Shape (n,)."""
        return self.rating_proba(user_ids, item_ids)[:, threshold <= STARS].sum(axis=1)

    def next_behavior_proba(self, event_index: np.ndarray) -> np.ndarray:
        """P(the event's behavior) before its item is known: summed over every item. (n, 4)."""
        events = np.asarray(event_index)
        world, out = self.world, np.empty((len(events), 4))
        for start in range(0, len(events), 256):
            part = events[start : start + 256]
            users, scenarios = self.event_user[part], self.event_scenario[part]
            scores = choice_scores(world, users, None, scenarios)  # (n, I)
            normaliser = self.log_normaliser[scenarios, users][:, world.item_category]
            item_proba = self.category_proba[part][:, world.item_category] * np.exp(
                scores - normaliser
            )  # (n, I)
            pairs_user = np.repeat(users, world.num_items)
            pairs_item = np.tile(np.arange(world.num_items), len(users))
            pairs_scenario = np.repeat(scenarios, world.num_items)
            utility = buy_utility(world, pairs_user, pairs_item, self.relatedness, pairs_scenario)
            behavior = funnel_proba(utility, self.thresholds, self.utility_scale)
            out[start : start + 256] = np.einsum(
                "ni,nib->nb", item_proba, behavior.reshape(len(users), world.num_items, 4)
            )
        return out


def _lookup(known: np.ndarray, ids: np.ndarray, column: str) -> np.ndarray:
    """Positions of raw ids in ``known``; an id the simulator never made is an error."""
    positions = pd.Index(known).get_indexer(np.asarray(ids))
    if (positions < 0).any():
        unknown = np.asarray(ids)[positions < 0][:5].tolist()
        raise KeyError(f"{column} values not in the simulated world: {unknown}")
    return positions
