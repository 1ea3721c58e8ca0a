"""Tests for course_lib.env: set_seed, get_device and environment_report."""

from __future__ import annotations

import importlib.metadata
import platform
import random

import numpy as np
import pytest
import torch

from course_lib.bundled import DATA_DIR_VARIABLE
from course_lib.env import environment_report, get_device, set_seed


@pytest.fixture(autouse=True)
def keep_global_generators():
    """set_seed changes process-wide generators: give the other tests theirs back."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    yield
    random.setstate(states[0])
    np.random.set_state(states[1])  # noqa: NPY002
    torch.set_rng_state(states[2])


def draws() -> tuple:
    """One draw from each generator set_seed covers, and a freshly initialised layer."""
    return (
        random.random(),
        np.random.rand(3).tolist(),  # noqa: NPY002
        torch.rand(3).tolist(),
        torch.nn.Linear(4, 2).weight.detach().clone(),
        torch.nn.functional.dropout(torch.ones(20), 0.5).tolist(),
    )


def test_set_seed_makes_every_generator_repeat() -> None:
    set_seed(123)
    first = draws()
    set_seed(123)
    again = draws()
    assert first[:3] == again[:3]
    torch.testing.assert_close(first[3], again[3])
    assert first[4] == again[4]


def test_another_seed_gives_other_numbers() -> None:
    set_seed(1)
    first = draws()
    set_seed(2)
    other = draws()
    for a, b in zip(first[:3], other[:3], strict=True):
        assert a != b
    assert not torch.equal(first[3], other[3])


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(),
    reason="this machine has an accelerator, so the automatic choice is not the CPU",
)
def test_get_device_is_the_cpu_without_an_accelerator() -> None:
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    device = get_device()
    assert isinstance(device, torch.device)
    assert device == torch.device(expected)


@pytest.mark.parametrize("prefer", ["cpu", "cuda", "cuda:1", "mps"])
def test_get_device_honours_prefer(monkeypatch, prefer: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: prefer == "cpu")
    assert get_device(prefer) == torch.device(prefer)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_get_device_finds_cuda() -> None:
    device = get_device()
    assert device.type == "cuda"
    assert torch.ones(2, device=device).sum().item() == 2.0


def test_environment_report_contents(monkeypatch) -> None:
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    report = environment_report()
    assert report.index.name == "check"
    assert list(report.columns) == ["value"]
    values = report["value"]
    assert values["python"] == platform.python_version()
    assert values["torch"] == importlib.metadata.version("torch")
    assert values["numpy"] == np.__version__
    for package in ("pandas", "scikit-learn", "matplotlib", "jupyterlab"):
        assert values[package] == importlib.metadata.version(package)
    assert values["device"] == str(get_device())
    assert values["torch threads"] == str(torch.get_num_threads())
    for name in ("log", "users", "items"):
        assert values[f"data: {name}"] == "found"


def test_environment_report_flags_missing_data_and_packages(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    real_version = importlib.metadata.version

    def version(package: str) -> str:
        if package == "jupyterlab":
            raise importlib.metadata.PackageNotFoundError(package)
        return real_version(package)

    monkeypatch.setattr(importlib.metadata, "version", version)
    values = environment_report()["value"]
    assert values["jupyterlab"] == "not installed"
    assert values["pandas"] == real_version("pandas")
    missing = tmp_path / "simulated" / "behavior_log.csv.gz"
    assert values["data: log"] == f"MISSING ({missing})"
