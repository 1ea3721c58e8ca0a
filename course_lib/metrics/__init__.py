"""Metrics for the course's tasks; ``ranking`` scores next-item lists, ``tasks`` every task of a
multi-task model."""

from course_lib.metrics.ranking import (
    RankingAccumulator,
    history_mask,
    rank_of_target,
    ranking_metrics,
)
from course_lib.metrics.tasks import metrics_table, task_metrics

__all__ = [
    "RankingAccumulator",
    "history_mask",
    "metrics_table",
    "rank_of_target",
    "ranking_metrics",
    "task_metrics",
]
