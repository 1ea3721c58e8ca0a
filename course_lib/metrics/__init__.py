"""Metrics for the course's tasks; ``ranking`` scores next-item lists."""

from course_lib.metrics.ranking import (
    RankingAccumulator,
    history_mask,
    rank_of_target,
    ranking_metrics,
)

__all__ = ["RankingAccumulator", "history_mask", "rank_of_target", "ranking_metrics"]
