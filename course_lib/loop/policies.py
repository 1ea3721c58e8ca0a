"""Policies: who decides what each simulated user is shown (notebook 08).

A policy scores every item of the world for a batch of users, and shows each user the K items
it scores highest. The trained multi-task model is one policy; popularity, random and the
oracle (which reads the simulator's truth) are the yardsticks; an exploring wrapper turns any
policy into one that sometimes shows what it does not believe in, so that the next model can
learn about it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from course_lib.data.pipeline import PreparedData
from course_lib.models.multitask_base import MultiTaskModel
from course_lib.recommendation.history import history_batch, sequence_rows
from course_lib.recommendation.scoring import catalogue_logits, scoring_task
from course_lib.simulate.config import SCENARIOS
from course_lib.simulate.slates import buy_given_pick, organic_log_lift
from course_lib.simulate.truth import GroundTruth
from course_lib.training.loop import move_batch

Scores = np.ndarray  # (n, I): one score per world item for each user; higher is shown first


class Policy:
    """Shows each user the K items of highest ``scores``; subclasses say how they score."""

    name = "policy"

    def scores(self, users: np.ndarray, rng: np.random.Generator) -> Scores:
        """Scores of every world item for each user (world user indices). (n,) -> (n, I)"""
        raise NotImplementedError

    def slates(self, users: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """The K items of highest score for each user, best first. (n,) -> (n, K)"""
        return top_k(self.scores(users, rng), k)


class FixedScores(Policy):
    """A policy whose scores never change while it is deployed (a trained model, the truth):
    the same users get the last scores again, without computing them twice."""

    _last: tuple[np.ndarray, Scores] | None = None  # the last users and their scores

    def scores(self, users: np.ndarray, rng: np.random.Generator) -> Scores:
        if self._last is None or not np.array_equal(self._last[0], users):
            self._last = (users.copy(), self.compute_scores(users))
        return self._last[1]

    def compute_scores(self, users: np.ndarray) -> Scores:
        """The scores of every world item for each user. (n,) -> (n, I)"""
        raise NotImplementedError


def top_k(scores: Scores, k: int) -> np.ndarray:
    """The columns of the K largest scores of each row, largest first. (n, I) -> (n, K)"""
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (n, K) in no order
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1)


class RandomPolicy(Policy):
    """K items drawn uniformly for every user: the floor."""

    name = "random"

    def __init__(self, num_items: int) -> None:
        self.num_items = num_items

    def scores(self, users: np.ndarray, rng: np.random.Generator) -> Scores:
        return rng.random((len(users), self.num_items))


class PopularityPolicy(Policy):
    """The items with the most events in a log, the same for every user."""

    name = "popularity"

    def __init__(self, log: pd.DataFrame, truth: GroundTruth) -> None:
        counts = log["item_id"].value_counts()
        self.counts = counts.reindex(truth.world.item_ids, fill_value=0).to_numpy(float)

    def scores(self, users: np.ndarray, rng: np.random.Generator) -> Scores:
        return np.broadcast_to(self.counts, (len(users), len(self.counts)))


class OraclePolicy(FixedScores):
    """Ranks by the truth: the expected buys an item brings when shown (pull x buy chance)."""

    name = "oracle"

    def __init__(self, truth: GroundTruth) -> None:
        self.truth = truth

    def compute_scores(self, users: np.ndarray) -> Scores:
        num_items = self.truth.world.num_items
        items = np.broadcast_to(np.arange(num_items), (len(users), num_items))
        buy = buy_given_pick(self.truth, users, items)  # (n, I)
        return organic_log_lift(self.truth, users, items) + np.log(np.maximum(buy, 1e-12))


class ModelPolicy(FixedScores):
    """A trained multi-task model, scoring each user's whole history by one of its tasks.

    Args:
        model: the model (evaluation mode is set here).
        data: the prepared log it was trained on, whose histories and vocabularies it reads.
        truth: the world's truth, for its item ids (what the model never saw scores -inf).
        score_task: a ranking task or a binary candidate task of the model ("buy", "click").
        max_len: events of history the model reads.
        batch_size: users per forward pass.

    A scenario-aware model (``scenario_design``) scores for the world's first scenario, the
    one slates are shown in (``simulate.slates``).
    """

    def __init__(
        self,
        model: MultiTaskModel,
        data: PreparedData,
        truth: GroundTruth,
        score_task: str = "buy",
        *,
        max_len: int = 20,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
    ) -> None:
        self.model, self.data, self.truth = model.eval(), data, truth
        self.task = scoring_task(model, score_task)
        self.name = f"model ({score_task})"
        self.max_len, self.batch_size, self.device = max_len, batch_size, device
        self.columns = data.vocabularies.item.encode(truth.world.item_ids)  # (I,) model index
        self.scenario = SCENARIOS[0] if model.config.scenario_design != "none" else None

    @torch.no_grad()
    def compute_scores(self, users: np.ndarray) -> Scores:
        rows = sequence_rows(self.data, self.truth.world.user_ids[users])  # (n,)
        end = self.data.sequences.offsets[rows + 1]  # everything logged so far
        out = np.empty((len(users), len(self.columns)))
        for start in range(0, len(rows), self.batch_size):
            part = slice(start, start + self.batch_size)
            batch = history_batch(self.data, rows[part], end[part], self.max_len, self.scenario)
            logits, _ = catalogue_logits(self.model, move_batch(batch, self.device), self.task)
            out[part] = logits[:, torch.from_numpy(self.columns)].double().cpu().numpy()
        return out


class EpsilonGreedy(Policy):
    """Each place of a policy's slate shows a random other item with probability ``epsilon``."""

    def __init__(self, policy: Policy, epsilon: float, num_items: int) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.policy, self.epsilon, self.num_items = policy, epsilon, num_items
        self.name = f"{policy.name}, epsilon-greedy {epsilon:g}"

    def slates(self, users: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        slates = self.policy.slates(users, k, rng)  # (n, K)
        shuffled = rng.random((len(users), self.num_items))  # (n, I)
        np.put_along_axis(shuffled, slates, -1.0, axis=1)  # never an item already shown
        others = top_k(shuffled, k)  # (n, K) random items outside the slate
        explore = rng.random(slates.shape) < self.epsilon
        return np.where(explore, others, slates)


class Boltzmann(Policy):
    """Draws the slate from a policy's scores: item i with weight exp(score_i / temperature),
    K items without replacement (the Gumbel top-K trick); the policy's scores are logits."""

    def __init__(self, policy: Policy, temperature: float) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.policy, self.temperature = policy, temperature
        self.name = f"{policy.name}, Boltzmann T={temperature:g}"

    def scores(self, users: np.ndarray, rng: np.random.Generator) -> Scores:
        scores = self.policy.scores(users, rng) / self.temperature
        return scores + rng.gumbel(size=scores.shape)
