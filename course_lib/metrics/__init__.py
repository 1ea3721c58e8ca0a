"""Metrics for the course's tasks; ``ranking`` scores next-item lists, ``tasks`` every task of a
multi-task model, ``lists`` top-K recommendation lists, ``catalogue`` their coverage and
popularity bias, ``calibration`` binary probabilities and ``protocols`` full-catalogue versus
sampled-negative evaluation."""

from course_lib.metrics.calibration import calibration_table, expected_calibration_error
from course_lib.metrics.catalogue import (
    catalogue_coverage,
    popularity_bias,
    popularity_percentile,
)
from course_lib.metrics.lists import (
    list_metrics,
    metrics_by_history_length,
    per_user_list_metrics,
)
from course_lib.metrics.protocols import compare_protocols, sampled_negatives, sampled_rank
from course_lib.metrics.ranking import (
    RankingAccumulator,
    history_mask,
    rank_of_target,
    ranking_metrics,
)
from course_lib.metrics.tasks import metrics_table, task_metrics

__all__ = [
    "RankingAccumulator",
    "calibration_table",
    "catalogue_coverage",
    "compare_protocols",
    "expected_calibration_error",
    "history_mask",
    "list_metrics",
    "metrics_by_history_length",
    "metrics_table",
    "per_user_list_metrics",
    "popularity_bias",
    "popularity_percentile",
    "rank_of_target",
    "ranking_metrics",
    "sampled_negatives",
    "sampled_rank",
    "task_metrics",
]
