"""Reproducibility and hardware helpers: one seed for everything, one place to pick a device."""

from __future__ import annotations

import importlib.metadata
import platform
import random

import numpy as np
import pandas as pd
import torch


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every CUDA device included).

    Course code draws its randomness from explicit seeds or generators; this covers the rest
    (weight initialisation, dropout), so the same seed gives the same numbers on one machine.
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global generator other libraries use
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device(prefer: str | None = None) -> torch.device:
    """The fastest device available: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: force a device ("cpu", "cuda", "cuda:1", "mps"); None picks automatically.
    """
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def environment_report() -> pd.DataFrame:
    """Versions, the device found and the bundled data's presence, for notebook 00's check."""
    from course_lib.bundled import bundled_files  # local import: bundled imports the data code

    rows = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for package in ("torch", "numpy", "pandas", "scikit-learn", "matplotlib", "jupyterlab"):
        try:
            rows[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            rows[package] = "not installed"
    rows["device"] = str(get_device())
    rows["torch threads"] = str(torch.get_num_threads())
    for name, path in bundled_files().items():
        rows[f"data: {name}"] = "found" if path.is_file() else f"MISSING ({path})"
    return pd.DataFrame({"value": rows}).rename_axis("check")
