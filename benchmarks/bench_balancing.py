"""Training-step overhead of the task-balancing methods (notebook 05) against summed losses.

One step is the training loop's own step (``course_lib.training.train_one_epoch``): forward,
every task's loss (``MultiTaskLoss``), ``optimizer.zero_grad``, ``weighting.backward(losses,
shared, others)``, gradient clipping at 1 and the Adam update, with the optimizer built from
``weighting.parameter_groups``. The model is shared-bottom with the LSTM
encoder, the tasks click + buy + next_behavior, on batches of 512 samples from the bundled data
(histories up to 20 events, D = H = 32 as the command line defaults).

Every method gets a fresh model and is timed in the same run on the same batches, in rounds
(each round times every method once, so a busy machine slows them all alike); the best round
counts. Each is reported as samples per second and as the time of a step relative to the plain
sum of the losses (> 1: slower). The backward passes of a step are counted while one step runs,
not taken from the documentation.

Oversampling (``oversampling_weights`` with ``make_loader(sample_weights=...)``) changes only
which samples the batches hold, not the step, so it has no row here.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import torch
from common import best_time, bundled_batches, training_options
from torch import nn

from course_lib import (
    DynamicWeightAverage,
    FixedWeights,
    GradNorm,
    PCGrad,
    PerTaskLearningRates,
    Task,
    UncertaintyWeighting,
    build_model,
    set_seed,
    standard_tasks,
)
from course_lib.data import PreparedData
from course_lib.training import (
    MultiTaskLoss,
    TaskWeighting,
    TrainOptions,
    split_parameters,
    train_one_epoch,
)

LR = 1e-3
WARM_UP_STEPS = 10
TASKS = ("click", "buy", "next_behavior")


def course_tasks(data: PreparedData) -> list[Task]:
    """The benchmark's tasks, as ``standard_tasks`` declares them for the data's vocabularies."""
    vocab = data.vocabularies
    standard = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    return [standard[name] for name in TASKS]


def shared_bottom(data: PreparedData, tasks: list[Task], dim: int) -> nn.Module:
    """A fresh shared-bottom model with the LSTM encoder, seeded so that every row starts alike."""
    set_seed(0)
    return build_model(data, tasks, encoder="lstm", embed_dim=dim, hidden_dim=dim)


def methods(tasks: list[Task]) -> dict[str, tuple[list[Task], TaskWeighting | None]]:
    """Each row: the tasks (the loss remedies change a task) and the weighting (None: sum)."""
    names = [task.name for task in tasks]

    def replace_buy(**changes: float) -> list[Task]:
        return [dataclasses.replace(t, **changes) if t.name == "buy" else t for t in tasks]

    return {
        "sum (reference)": (tasks, None),  # FixedWeights of each Task.weight, all 1
        "pos_weight": (replace_buy(pos_weight=10.0), None),
        "focal loss": (replace_buy(focal_gamma=2.0), None),
        "fixed weights": (tasks, FixedWeights({"click": 1.0, "buy": 5.0, "next_behavior": 0.5})),
        "per-task LR": (tasks, PerTaskLearningRates({"buy": 3.0})),
        "uncertainty": (tasks, UncertaintyWeighting(names)),
        "GradNorm": (tasks, GradNorm(names)),
        "DWA": (tasks, DynamicWeightAverage(names)),
        "PCGrad": (tasks, PCGrad(names)),
    }


def trainer_steps(
    model: nn.Module, tasks: list[Task], weighting: TaskWeighting | None
) -> Callable[[list], object]:
    """A function running the training loop's steps on a list of batches, with its own Adam.

    ``weighting`` None: ``fit``'s default, fixed weights from each ``Task.weight``.
    """
    weighting = weighting or FixedWeights({task.name: task.weight for task in tasks})
    optimizer = torch.optim.Adam(weighting.parameter_groups(model, LR), lr=LR)
    options = TrainOptions(clip_norm=1.0, progress=False)
    return lambda batches: train_one_epoch(
        model, MultiTaskLoss(tasks), batches, optimizer, weighting=weighting, options=options
    )


@contextmanager
def backward_passes(shared: list[nn.Parameter]) -> Iterator[dict[str, int]]:
    """Count the autograd passes run inside the block, and those that reach ``shared``.

    A pass is one call of ``torch.autograd.grad`` or ``torch.autograd.backward`` (which
    ``Tensor.backward`` calls); it reaches ``shared`` when a gradient hook on one of them fires.
    """
    counts = {"passes": 0}
    reached: set[int] = set()

    def counted(function: Callable) -> Callable:
        def call(*args, **kwargs):
            counts["passes"] += 1
            return function(*args, **kwargs)

        return call

    def hook(grad: torch.Tensor) -> None:
        reached.add(counts["passes"])

    handles = [param.register_hook(hook) for param in shared]
    patches = [
        mock.patch.object(torch.autograd, name, counted(getattr(torch.autograd, name)))
        for name in ("grad", "backward")
    ]
    try:
        with patches[0], patches[1]:
            yield counts
    finally:
        for handle in handles:
            handle.remove()
        counts["shared"] = len(reached)


def main() -> None:
    options = training_options(__doc__.splitlines()[0], batch_size=512, max_len=20, dim=32)
    data, batches = bundled_batches(options, num_negatives=4)
    tasks = course_tasks(data)
    print(
        f"batch {options.batch_size}, histories up to {options.max_len} events, "
        f"D = H = {options.dim}, shared-bottom with the LSTM encoder, tasks "
        f"{' + '.join(task.name for task in tasks)} (T = {len(tasks)}), "
        f"{options.steps} steps x {options.repeats} rounds, "
        f"torch threads {torch.get_num_threads()}"
    )
    runs, passes = {}, {}
    for name, (row_tasks, weighting) in methods(tasks).items():
        model = shared_bottom(data, row_tasks, options.dim)
        runs[name] = trainer_steps(model, row_tasks, weighting)
        runs[name](batches[:WARM_UP_STEPS])
        shared, _ = split_parameters(model, [task.name for task in row_tasks])
        with backward_passes(shared) as counts:
            runs[name](batches[:1])
        passes[name] = counts
    seconds = dict.fromkeys(runs, float("inf"))
    for _, (name, run) in itertools.product(range(options.repeats), runs.items()):
        seconds[name] = min(seconds[name], best_time(lambda run=run: run(batches), 1)[0])
    reference = seconds["sum (reference)"]
    print(f"{'method':<18}{'samples/s':>12}{'time vs sum':>14}{'backward passes':>18}")
    for name, value in seconds.items():
        counts = passes[name]
        rest = counts["passes"] - counts["shared"]
        shown = f"{counts['shared']} + {rest}" if rest else str(counts["passes"])
        samples_per_second = len(batches) * options.batch_size / value
        print(f"{name:<18}{samples_per_second:>12,.0f}{value / reference:>14.2f}{shown:>18}")
    print(
        "backward passes: one pass fills every gradient; 'a + b': a passes on the shared "
        "parameters (one per task) + b on the rest (task towers and heads)"
    )


if __name__ == "__main__":
    main()
