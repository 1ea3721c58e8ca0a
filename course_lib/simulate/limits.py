"""The best achievable scores on a simulated log: click and buy AUC, rating RMSE and like AUC.

Notebook 01 builds this number step by step; notebook 04 and ``python -m course_lib train``
report models as a fraction of it. It scores every sample with the simulator's true
probability, which knows each user's hidden state (current category interests, taste); a model
that sees only the log can estimate that state but not know it, so it stays below the limit.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from course_lib.data.encode import Vocabularies
from course_lib.data.samples import Samples
from course_lib.data.vocab import NUM_RESERVED
from course_lib.simulate.truth import GroundTruth


def true_probabilities(
    truth: GroundTruth, samples: Samples, vocabularies: Vocabularies, num_negatives: int
) -> dict[str, np.ndarray]:
    """The true P(click = 1) and P(buy = 1) of every sample: the Bayes-optimal predictions.

    Args:
        truth: the truth behind the log the samples were prepared from (``Simulation.truth``).
        samples: e.g. ``prepared.test``.
        vocabularies: the ones that encoded the samples (``prepared.vocabularies``).
        num_negatives: negatives per positive the samples were drawn with.

    Returns:
        ``{"click": (S,), "buy": (S,)}``; in a world with scenarios each sample is scored in
        its target event's scenario.
    """
    users = vocabularies.user.decode(samples.user).astype(np.int64)
    items = vocabularies.item.decode(samples.candidate).astype(np.int64)
    num_candidates = len(vocabularies.item) - NUM_RESERVED  # the items negatives come from
    click = truth.click_proba(samples.event_index, items, num_negatives, num_candidates)
    scenarios = truth.scenarios_of(samples.event_index)
    return {"click": click, "buy": click * truth.buy_proba(users, items, scenarios)}


def bayes_limit_auc(
    truth: GroundTruth, samples: Samples, vocabularies: Vocabularies, num_negatives: int
) -> dict[str, float]:
    """ROC-AUC of the true click and buy probabilities on ``samples``: the best achievable.

    Arguments as for `true_probabilities`.

    Returns:
        ``{"click": auc, "buy": auc}``.
    """
    proba = true_probabilities(truth, samples, vocabularies, num_negatives)
    return {
        "click": float(roc_auc_score(samples.click, proba["click"])),
        "buy": float(roc_auc_score(samples.buy, proba["buy"])),
    }


def rating_limits(
    truth: GroundTruth,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    stars: np.ndarray,
    like_threshold: float = 4,
) -> dict[str, float]:
    """The best achievable rating RMSE and like AUC on these ratings of a simulated log.

    Each rating is predicted by its true expected value (``GroundTruth.expected_rating``), which
    minimises the expected squared error, and a like (stars >= ``like_threshold``) is scored by
    its true probability, whose AUC no model can beat except by chance.

    Args:
        truth: the truth of a simulation with ratings (``rating_rate`` > 0).
        user_ids, item_ids: raw ids of the rated interactions, shape (n,).
        stars: their ratings, 1 to 5, shape (n,).

    Returns:
        ``{"rating_rmse": ..., "like_auc": ...}``.
    """
    stars = np.asarray(stars, dtype=np.float64)
    expected = truth.expected_rating(user_ids, item_ids)
    like = truth.like_proba(user_ids, item_ids, like_threshold)
    return {
        "rating_rmse": float(np.sqrt(np.mean((stars - expected) ** 2))),
        "like_auc": float(roc_auc_score(stars >= like_threshold, like)),
    }
