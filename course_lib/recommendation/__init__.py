"""Top-K recommendation lists from a trained multi-task model (notebook 06).

``history`` reads users' histories and exclusions from the prepared data, ``scoring`` scores
the catalogue with a ranking head or a candidate task, ``top_k.recommend`` puts them together,
and ``reference`` gives what the lists are judged against (held-out items, popularity);
``predict`` gives every task's prediction for each sample as a table keyed by raw ids, and
``catalogue_scorer`` lets ``evaluate_ranking`` score the catalogue ranking of any task.
"""

from course_lib.recommendation.history import history_lengths
from course_lib.recommendation.predict import predict
from course_lib.recommendation.reference import catalogue_table, held_out_items
from course_lib.recommendation.scoring import catalogue_scorer
from course_lib.recommendation.top_k import recommend

__all__ = [
    "catalogue_scorer",
    "catalogue_table",
    "held_out_items",
    "history_lengths",
    "predict",
    "recommend",
]
