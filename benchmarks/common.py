"""Shared helpers for the benchmark scripts: a 1M-event simulator config and a timer."""

from __future__ import annotations

import time
from collections.abc import Callable

from course_lib import SimulatorConfig


def config_for_events(events: int, seed: int = 0) -> SimulatorConfig:
    """A simulator config of about ``events`` events: 50 per user, 1 item per 2 users."""
    users = max(10, events // 50)
    return SimulatorConfig(
        num_users=users, num_items=max(100, users // 2), num_categories=50, seed=seed
    )


def best_time(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls (the least disturbed one) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result
