"""Saving a trained multi-task model with everything needed to use it again (notebook 07).

A checkpoint is one ``torch.save`` file of plain types only: the architecture's and encoder's
names, the config and the architecture's settings as dicts, the tasks, the vocabularies and the
weights; loading rebuilds the model with ``model_from_config``. So it loads with
``torch.load(path, weights_only=True)``, which never runs code from the file, and it carries
the vocabularies that give its item indices their meaning: data encoded with other
vocabularies would be scored with the wrong item vectors, silently.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from course_lib.data.encode import Vocabularies
from course_lib.data.vocab import NUM_RESERVED
from course_lib.models.factory import ARCHITECTURES, ENCODERS, model_from_config
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel
from course_lib.tasks import Task

# The entries save_checkpoint writes; a file without them is not one of its checkpoints.
CHECKPOINT_KEYS = (
    "architecture",
    "config",
    "settings",
    "encoder",
    "tasks",
    "vocabularies",
    "state_dict",
)
_RETRAIN = (
    "train a model with `python -m course_lib train --out FOLDER` (it writes FOLDER/model.pt)"
)
_EDITED = "the file was edited or written by another version of course_lib; retrain and save it"
# Weights added to the models after checkpoints of earlier versions were written, each with the
# start value that reproduces the earlier model: a checkpoint without them loads with that value.
ADDED_WEIGHTS = ("encoder.empty_state",)  # a zero state for empty histories
# What torch.load raises for a file that is truncated, empty or not a torch file at all.
_UNREADABLE = (
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    IndexError,
    KeyError,
    zipfile.BadZipFile,
)


class CheckpointError(ValueError):
    """A file that is not a checkpoint this version can load: truncated, empty, foreign, unsafe
    (it holds code) or edited. The message names the file and the fix."""


class LoadedModel(NamedTuple):
    """What ``load_checkpoint`` returns; the model is in evaluation mode on the device."""

    model: MultiTaskModel
    config: MultiTaskConfig
    tasks: list[Task]
    vocabularies: Vocabularies
    metrics: dict | None


def save_checkpoint(
    path: str | os.PathLike,
    model: MultiTaskModel,
    *,
    architecture: str,
    encoder: str,
    vocabularies: Vocabularies,
    metrics: dict | None = None,
) -> None:
    """Write the model, how to rebuild it and its vocabularies to one file.

    Args:
        architecture, encoder: the names the model was built with (``build_model``); its
            config, settings and tasks are read from the model.
        metrics: optional plain dict of results to keep with the model (e.g. test metrics).

    Raises:
        ValueError: If the names are unknown or not those of the model's classes.
    """
    for registry, name, part in (
        (ARCHITECTURES, architecture, model),
        (ENCODERS, encoder, model.encoder),
    ):
        if registry.get(name) is not type(part):
            raise ValueError(
                f"the model's {type(part).__name__} was not built as {name!r}; pass the "
                f"names given to build_model, of {sorted(registry)}"
            )
    checkpoint = {
        "architecture": architecture,
        "config": dataclasses.asdict(model.config),
        "settings": dataclasses.asdict(model.settings),
        "encoder": encoder,
        "tasks": [dataclasses.asdict(task) for task in model.tasks],
        "vocabularies": vocabularies.to_dict(),
        "metrics": metrics,
        "state_dict": {key: value.cpu() for key, value in model.state_dict().items()},
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    vocabularies: Vocabularies | None = None,
    device: torch.device | str = "cpu",
) -> LoadedModel:
    """Rebuild a model saved by ``save_checkpoint`` (safely: ``weights_only=True``).

    Args:
        vocabularies: the vocabularies your data was encoded with; if given, they must be the
            checkpoint's own, or a ValueError says which one differs and how.
        device: where to put the model.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        CheckpointError: If the file is a folder, truncated, empty, not a torch file, not a
            checkpoint of ``save_checkpoint``, holds code, or was edited (a ValueError).
        ValueError: If ``vocabularies`` differ from the checkpoint's.
    """
    path = Path(path)
    checkpoint = _read_checkpoint(path)
    try:
        saved = Vocabularies.from_dict(checkpoint["vocabularies"])
        tasks = [Task(**task) for task in checkpoint["tasks"]]
        config = MultiTaskConfig(**checkpoint["config"])
        model_class = ARCHITECTURES[checkpoint["architecture"]]
        settings = model_class.settings_class(**checkpoint["settings"])
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path}: its vocabularies, tasks, config or settings cannot be read ({error!r}). "
            f"Fix: {_EDITED} again"
        ) from error
    if vocabularies is not None:
        _check_same_vocabularies(saved, vocabularies)
    try:
        sizes = (len(saved.item), len(saved.category), len(saved.behavior))
        if sizes != (config.num_items, config.num_categories, config.num_behaviors):
            raise ValueError(f"the vocabularies give the sizes {sizes}")
        model = model_from_config(
            config,
            tasks,
            architecture=checkpoint["architecture"],
            encoder=checkpoint["encoder"],
            settings=settings,
        )  # item_category and side feature tables: loaded with the weights
        load_weights(model, checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path}: the saved weights do not fit the saved {checkpoint['architecture']!r} "
            f"config {checkpoint['config']}: {error}. Fix: {_EDITED} again"
        ) from error
    model.to(device).eval()
    return LoadedModel(model, config, tasks, saved, checkpoint.get("metrics"))


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state_dict)``, except that a weight of ``ADDED_WEIGHTS`` missing
    from the file keeps the start value the model was built with (RuntimeError otherwise)."""
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    others = [key for key in missing if key not in ADDED_WEIGHTS]
    if others or unexpected:
        raise RuntimeError(f"missing weights {others}, unexpected weights {unexpected}")


def _read_checkpoint(path: Path) -> dict:
    """``torch.load(path, weights_only=True)`` of a checkpoint, or an error naming the file.

    ``weights_only=True`` unpickles only tensors and plain containers, so a file that holds
    code is refused instead of running it.
    """
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint. Fix: pass {path / 'model.pt'}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint. Fix: check the path, or {_RETRAIN}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _first_sentence(str(error).partition("WeightsUnpickler error:")[2])
        raise CheckpointError(
            f"{path}: holds objects other than tensors and plain data, which could run code "
            f"when loaded, so it was not loaded ({refused}). Fix: load only checkpoints "
            f"written by save_checkpoint; or {_RETRAIN}"
        ) from error
    except _UNREADABLE as error:
        said = f"{type(error).__name__} {_first_sentence(str(error))!r}"
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({path.stat().st_size:,} bytes; torch.load "
            f"raised {said}). Fix: the file is truncated, empty or not a torch file: copy it "
            f"again, or {_RETRAIN}"
        ) from error
    missing = [
        key for key in CHECKPOINT_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint
    ]
    if missing:
        raise CheckpointError(
            f"{path}: a torch file, but not a course_lib checkpoint: it lacks {missing}. Fix: "
            f"load files written by save_checkpoint; or {_RETRAIN}"
        )
    return checkpoint


def _first_sentence(text: str) -> str:
    """The first sentence of an error's text: torch's run to many lines of advice."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line.split(". ")[0].rstrip(".")


def _check_same_vocabularies(saved: Vocabularies, given: Vocabularies) -> None:
    """Raise a ValueError naming the first vocabulary that differs, and how."""
    for name in saved.__dataclass_fields__:  # a missing vocabulary (scenario) has no ids
        ours, theirs = (
            [] if vocab is None else vocab.tokens
            for vocab in (getattr(saved, name), getattr(given, name))
        )
        if ours == theirs:
            continue
        pairs = zip(ours, theirs, strict=False)
        position = next(
            (i for i, (a, b) in enumerate(pairs) if a != b), min(len(ours), len(theirs))
        )
        ours_at, theirs_at = (
            t[position] if position < len(t) else "(none)" for t in (ours, theirs)
        )
        raise ValueError(
            f"the {name} vocabulary differs from the checkpoint's: the checkpoint has "
            f"{len(ours)} ids, the given one {len(theirs)}; first difference at index "
            f"{position + NUM_RESERVED}: {ours_at!r} in the checkpoint, {theirs_at!r} given. "
            "Fix: encode your data with the checkpoint's vocabularies (load without "
            "vocabularies= and use LoadedModel.vocabularies), or retrain on your data"
        )
