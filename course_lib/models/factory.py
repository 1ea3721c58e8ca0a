"""One model factory: every multi-task model of the course, built by name from the data.

Taught in notebook 04; used by the notebooks, the command line, checkpoints, benchmarks and
tests alike, so that a model is described once. ``build_model`` reads the vocabulary sizes
from the data, picks the tasks by name, builds the encoder and the architecture from the
registries below, and can start the output layers at the label rates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from course_lib.data.encode import Vocabularies
from course_lib.data.pipeline import PreparedData
from course_lib.models.attention import SelfAttentionEncoder
from course_lib.models.cnn import CNNEncoder
from course_lib.models.encoder_base import SequenceEncoder
from course_lib.models.esmm import ESMMModel, ESMMSettings
from course_lib.models.gru import GRUEncoder
from course_lib.models.lstm import LSTMEncoder
from course_lib.models.mean_pool import MeanPoolEncoder
from course_lib.models.mmoe import MMoEModel, MMoESettings
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel
from course_lib.models.ple import PLEModel, PLESettings
from course_lib.models.shared_bottom import SharedBottomModel, SharedBottomSettings
from course_lib.models.side_features import feature_specs
from course_lib.tasks import Task, explicit_tasks, standard_tasks

ArchitectureSettings = SharedBottomSettings | MMoESettings | PLESettings | ESMMSettings

ARCHITECTURES: dict[str, type[MultiTaskModel]] = {
    "shared_bottom": SharedBottomModel,
    "mmoe": MMoEModel,
    "ple": PLEModel,
    "esmm": ESMMModel,
}
ENCODERS: dict[str, type[SequenceEncoder]] = {
    "mean": MeanPoolEncoder,
    "lstm": LSTMEncoder,
    "gru": GRUEncoder,
    "cnn": CNNEncoder,
    "attention": SelfAttentionEncoder,
}


def build_model(
    data: PreparedData | Vocabularies,
    tasks: Sequence[str | Task],
    *,
    architecture: str = "shared_bottom",
    encoder: str | SequenceEncoder = "lstm",
    embed_dim: int = 32,
    hidden_dim: int = 32,
    tower_dims: tuple[int, ...] = (32,),
    dropout: float = 0.0,
    next_item_prior: bool = False,
    pair_biases: bool = False,
    history_values: bool = False,
    features: Sequence[str] = (),
    scenario_design: str = "none",
    settings: ArchitectureSettings | None = None,
    item_category: np.ndarray | torch.Tensor | None = None,
    label_rates: Mapping[str, torch.Tensor] | None = None,
) -> MultiTaskModel:
    """A multi-task model for the data's vocabularies, its encoder built first, then the rest.

    Seed before calling (``set_seed``): the same seed gives the same initial weights.

    Args:
        data: prepared data, or only its vocabularies (then ``item_category`` is needed).
        tasks: task names of ``standard_tasks`` (sized to the vocabularies) or declared
            ``Task`` objects, in the order of the model's outputs.
        architecture: a key of ``ARCHITECTURES``.
        encoder: a key of ``ENCODERS`` (built with ``embed_dim`` -> ``hidden_dim``), or your
            own ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        embed_dim, hidden_dim, tower_dims, dropout, next_item_prior, pair_biases,
            history_values: as ``MultiTaskConfig`` (with pair_biases, its num_users is the
            user vocabulary's; history_values needs data whose log has a value column).
        features: names of the data's side features (``prepare(features=...)``) the model
            reads, through ``SideFeatureEmbedding``; () reads none.
        scenario_design: how the model tells the log's scenarios apart: "none" (it does not),
            "embedding" or "star" (``models.scenarios``); needs a log with a scenario column.
        settings: the architecture's own sizes (``MMoESettings(num_experts=8)``); None: its
            defaults.
        item_category: the category index of every item index; defaults to the data's.
        label_rates: ``label_rates(tasks, data.train)``, to start every output layer at its
            task's base rate (``MultiTaskModel.init_output_biases``); None leaves them at 0.

    Returns:
        The model, in training mode on the CPU.

    Raises:
        ValueError: If a name is unknown, the settings belong to another architecture, or
            the tasks, encoder and item table do not fit together.
    """
    vocab = data.vocabularies if isinstance(data, PreparedData) else data
    if item_category is None or features:
        if not isinstance(data, PreparedData):
            raise ValueError(
                "build_model(vocabularies, ...) needs item_category= and reads no side "
                "features; pass the prepared data instead"
            )
        item_category = data.item_category if item_category is None else item_category
    without_values = isinstance(data, PreparedData) and data.sequences.value is None
    if history_values and without_values:
        raise ValueError(
            "history_values=True reads each history event's value, but the data's log has no "
            "value column; prepare a log with one (ratings) or leave history_values off"
        )
    if scenario_design != "none" and vocab.scenario is None:
        raise ValueError(
            f"scenario_design={scenario_design!r} tells scenarios apart, but the data's log has "
            "no scenario column; prepare a log with one or use scenario_design='none'"
        )
    side_features = data.features.pick(features) if features else None
    config = MultiTaskConfig(
        len(vocab.item),
        len(vocab.category),
        len(vocab.behavior),
        embed_dim,
        hidden_dim,
        tower_dims,
        dropout,
        next_item_prior,
        pair_biases=pair_biases,
        num_users=len(vocab.user) if pair_biases else 0,
        history_values=history_values,
        features=feature_specs(side_features) if side_features else (),
        num_scenarios=len(vocab.scenario) if scenario_design != "none" else 0,
        scenario_design=scenario_design,
    )
    model = model_from_config(
        config,
        pick_tasks(vocab, tasks),
        architecture=architecture,
        encoder=encoder,
        settings=settings,
        item_category=torch.as_tensor(item_category),
    )
    if side_features is not None:
        model.side_features.set_tables(side_features)
    if label_rates is not None:
        model.init_output_biases(dict(label_rates))
    return model


def model_from_config(
    config: MultiTaskConfig,
    tasks: Sequence[Task],
    *,
    architecture: str,
    encoder: str | SequenceEncoder,
    settings: ArchitectureSettings | None = None,
    item_category: torch.Tensor | None = None,
) -> MultiTaskModel:
    """The model a config describes, with untrained weights (what a checkpoint rebuilds).

    ``build_model`` fills the config in from data; this builds it as given. Without
    ``item_category`` (and with side features) the tables are zeros, to be loaded from a
    state dict.
    """
    model_class = _lookup(ARCHITECTURES, architecture, "architecture")
    settings = model_class.settings_class() if settings is None else settings
    if not isinstance(settings, model_class.settings_class):
        raise ValueError(
            f"architecture {architecture!r} takes {model_class.settings_class.__name__}, "
            f"got {type(settings).__name__}"
        )
    if isinstance(encoder, str):
        encoder = _lookup(ENCODERS, encoder, "encoder")(config.embed_dim, config.hidden_dim)
    if item_category is None:
        item_category = torch.zeros(config.num_items, dtype=torch.long)
    return model_class(config, list(tasks), encoder, item_category, settings)


def pick_tasks(vocab: Vocabularies, tasks: Sequence[str | Task]) -> list[Task]:
    """Each name as its ``standard_tasks`` (sized to these vocabularies) or ``explicit_tasks``
    declaration; tasks as given."""
    known = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    known |= explicit_tasks()
    names = [task for task in tasks if isinstance(task, str) and task not in known]
    if names:
        raise ValueError(f"unknown task(s) {names}; choose from {list(known)} or pass a Task")
    return [known[task] if isinstance(task, str) else task for task in tasks]


def _lookup(registry: dict[str, type], name: str, what: str) -> type:
    """``registry[name]``, or a ValueError listing the names it knows."""
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; choose from {sorted(registry)}")
    return registry[name]
