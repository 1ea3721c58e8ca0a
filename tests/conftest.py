"""Shared fixtures: small simulated logs (session-scoped, so each is made once per test run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from course_lib.bundled import simulate_bundled
from course_lib.data.io import write_log
from course_lib.data.pipeline import PreparedData, prepare
from course_lib.models import (
    ESMMSettings,
    MultiTaskModel,
    SequenceEncoder,
    SharedBottomSettings,
    build_model,
)
from course_lib.simulate import Simulation, SimulatorConfig, simulate

TinyModelFactory = Callable[[str, SequenceEncoder, int], MultiTaskModel]


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
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV log of 200 users on 100 items, for tests that train from a file (the CLI)."""
    config = SimulatorConfig(num_users=200, num_items=100, num_categories=6)
    path = tmp_path_factory.mktemp("data") / "log.csv"
    write_log(simulate(config).log, path)
    return path


@pytest.fixture(scope="session")
def bundled_simulation() -> Simulation:
    """The bundled data set regenerated in memory (~1 s), with its truth."""
    return simulate_bundled()


@pytest.fixture(scope="session")
def tiny_model(small_prepared: PreparedData) -> TinyModelFactory:
    """Builds an untrained model on ``small_prepared`` with click, buy and next_item, seeded
    after the encoder: ``tiny_model("esmm", LSTMEncoder(D, H), D)``."""
    bottoms = {"shared_bottom": SharedBottomSettings((16,)), "esmm": ESMMSettings((16,))}

    def build(architecture: str, encoder: SequenceEncoder, embed_dim: int) -> MultiTaskModel:
        torch.manual_seed(0)
        return build_model(
            small_prepared,
            ["click", "buy", "next_item"],
            architecture=architecture,
            encoder=encoder,
            embed_dim=embed_dim,
            hidden_dim=encoder.output_dim,
            tower_dims=(8,),
            settings=bottoms.get(architecture),
        )

    return build
