"""Shared fixtures: small simulated logs (session-scoped, so each is made once per test run)."""

from __future__ import annotations

import pytest

from course_lib.bundled import simulate_bundled
from course_lib.data.pipeline import PreparedData, prepare
from course_lib.simulate import Simulation, SimulatorConfig, simulate


def window(config: SimulatorConfig) -> tuple[int, int]:
    """A config's time window [start, end) in unix seconds."""
    return config.window


@pytest.fixture(scope="session")
def small_config() -> SimulatorConfig:
    """~24k events of 600 users over 400 items; 1% each of duplicates and early rows."""
    return SimulatorConfig(
        num_users=600,
        num_items=400,
        num_categories=12,
        events_per_user=40,
        max_events_per_user=200,
        duplicate_rate=0.01,
        outside_window_rate=0.01,
        seed=3,
    )


@pytest.fixture(scope="session")
def small_window(small_config: SimulatorConfig) -> tuple[int, int]:
    """``small_config``'s window [start, end) in unix seconds."""
    return window(small_config)


@pytest.fixture(scope="session")
def small_simulation(small_config: SimulatorConfig) -> Simulation:
    """The simulated log of ``small_config`` (do not modify its frames)."""
    return simulate(small_config)


@pytest.fixture(scope="session")
def small_prepared(small_simulation: Simulation) -> PreparedData:
    """``small_simulation`` through ``prepare``: leave-last-out, 4 negatives, its window."""
    start, end = window(small_simulation.config)
    return prepare(small_simulation.log, start=start, end=end, num_negatives=4, seed=0)


@pytest.fixture(scope="session")
def bundled_simulation() -> Simulation:
    """The bundled data set regenerated in memory (~1 s), with its truth."""
    return simulate_bundled()
