"""Training a multi-task model: epochs, validation, early stopping (notebooks 04 onwards).

``fit`` is the whole recipe on one screen: train an epoch (``train_one_epoch``, the loop every
notebook uses), evaluate every task on the validation set (``evaluate_tasks``), keep the weights
of the best epoch, stop when the monitored metric has not improved for ``patience`` epochs. How
the task losses are combined is the ``weighting`` object it receives
(``course_lib.training.weighting``); how the steps run (device, mixed precision, schedule,
weight averaging, several processes under ``torchrun``) is a ``TrainOptions``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from course_lib.env import get_device, set_seed
from course_lib.tasks import Batch, Task
from course_lib.training.evaluate import evaluate_tasks
from course_lib.training.loop import planned_steps, train_one_epoch
from course_lib.training.options import Precision, TrainOptions
from course_lib.training.weighting import FixedWeights, MultiTaskLoss, TaskWeighting

MINIMISED = {"log_loss", "rmse"}  # lower is better; every other metric: higher is better
# A binary task with fewer positives in the validation set gets a warning: its validation
# metrics (AUC above all) then swing with one or two samples, and so would the best epoch.
MIN_VALID_POSITIVES = 10

# What picks the best epoch: one (task, metric) pair, or a weighted sum of several
# {(task, metric): weight}, higher is better (a lower-is-better metric takes a negative weight).
Monitor = tuple[str, str] | Mapping[tuple[str, str], float]


@dataclass
class FitResult:
    """What ``fit`` returns; the model itself is trained in place (best epoch's weights)."""

    history: pd.DataFrame  # per epoch: losses, weights, lr, "task/metric", train_seconds, seconds
    best_epoch: int  # 1-based epoch whose weights the model holds now
    best_score: float  # the monitored validation score at that epoch
    seconds: float  # wall-clock time of the whole fit, validation included
    train_seconds: float  # the part spent in training steps alone
    diagnostics: pd.DataFrame  # per diagnosed step: losses, gradient norms, cosines (may be empty)


def fit(
    model: nn.Module,
    tasks: Sequence[Task],
    train_loader: Collection[Batch],
    valid_loader: Collection[Batch],
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    weighting: TaskWeighting | None = None,
    monitor: Monitor = ("click", "roc_auc"),
    patience: int | None = 2,
    seed: int = 0,
    options: TrainOptions | None = None,
) -> FitResult:
    """Train with Adam, validate every epoch, stop early and restore the best epoch's weights.

    Args:
        weighting: balances the tasks (``course_lib.training.weighting``); None: fixed weights
            from each ``Task.weight``. It also chooses the optimizer's parameter groups.
        monitor: what picks the best epoch among the validation results: a (task, metric)
            pair, higher is better except for the metrics in ``MINIMISED``; or a weighted sum
            of several, ``{("like", "roc_auc"): 1.0, ("rating", "rmse"): -1.0}``, higher is
            better, so a lower-is-better metric takes a negative weight.
        patience: stop after this many epochs without improvement (None: never stop early).
        seed: seeds everything random in training (``set_seed``).
        options: device, step cap, schedule, weight averaging, mixed precision, compiling,
            diagnostics, progress bar, several processes (``TrainOptions``); None: the defaults.

    Warns:
        UserWarning: for each binary task with fewer than ``MIN_VALID_POSITIVES`` positives
            in the validation set, before training (see ``warn_few_positives``).
    """
    options = options or TrainOptions()
    start, parallel = time.perf_counter(), options.distributed
    if parallel is None or parallel.is_main:  # rank 0 validates
        warn_few_positives(tasks, valid_loader)
    set_seed(seed)
    device = torch.device(options.device or get_device())
    weighting = weighting or FixedWeights({task.name: task.weight for task in tasks})
    model.to(device)
    weighting.to(device)  # learnable weightings train with the model
    groups = weighting.parameter_groups(model, lr)
    optimizer = torch.optim.Adam(groups, lr=lr, weight_decay=options.weight_decay)
    after_step, evaluated = step_hooks(model, optimizer, epochs, train_loader, options)
    network, batches = model, train_loader  # what trains: the model, or its DDP replica
    if parallel is not None:
        network = parallel.wrap(model, weighting, options.diagnose_every)
        batches = parallel.shard(train_loader)
    if options.compile:
        network = torch.compile(network)
    precision = Precision.choose(device, options.mixed_precision)
    validate = partial(evaluate_tasks, evaluated, tasks, valid_loader, device)
    best, rows, diagnostics = BestEpoch(monitor), [], []
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        log = train_one_epoch(
            network,
            MultiTaskLoss(tasks),
            batches,
            optimizer,
            weighting=weighting,
            options=options,
            precision=precision,
            after_step=after_step,
            desc=f"epoch {epoch}/{epochs}",
        )
        if device.type == "cuda":  # GPU work is queued: wait for it before reading the clock
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - epoch_start
        losses = log.losses.mean().to_dict()
        if evaluated is not model:  # buffers (batch-norm statistics, say) are the model's own
            for kept, trained in zip(evaluated.buffers(), model.buffers(), strict=True):
                kept.copy_(trained)
        if parallel is None:
            valid = validate()
        else:  # the whole validation set on rank 0; every process then stops at the same epoch
            losses, valid = parallel.mean(losses), parallel.from_main(validate)
        row = {"epoch": epoch} | {f"train_loss/{name}": loss for name, loss in losses.items()}
        row |= {f"weight/{name}": w for name, w in weighting.weights().items()}
        row["lr"] = optimizer.param_groups[0]["lr"]  # at the end of the epoch
        for task, metrics in valid.items():
            row |= {f"{task}/{metric}": value for metric, value in metrics.items()}
        row["train_seconds"] = train_seconds  # the steps alone; "seconds" adds validation
        rows.append(row | {"seconds": time.perf_counter() - epoch_start})
        diagnostics.append(log.diagnostics.assign(epoch=epoch))
        improved = best.update(epoch, row, evaluated)
        if not improved and patience is not None and epoch - best.epoch >= patience:
            break
    if best.state is not None:
        model.load_state_dict(best.state)
    history, diagnostics = pd.DataFrame(rows), pd.concat(diagnostics, ignore_index=True)
    seconds, train_seconds = time.perf_counter() - start, float(history["train_seconds"].sum())
    return FitResult(history, best.epoch, best.score, seconds, train_seconds, diagnostics)


def step_hooks(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    train_loader: Collection[Batch],
    options: TrainOptions,
) -> tuple[Callable[[], None] | None, nn.Module]:
    """What runs after every optimizer step (the learning-rate schedule, the weight average),
    and the module that validation sees: the model, or its average (``TrainOptions.ema_decay``).
    """
    hooks: list[Callable[[], None]] = []
    if options.lr_schedule == "cosine":
        total = epochs * (planned_steps(train_loader, options) or 1)
        hooks.append(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total).step)
    evaluated = model
    if options.ema_decay is not None:  # a copy of the model, so validated like the model itself
        average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(options.ema_decay))
        hooks.append(partial(average.update_parameters, model))
        evaluated = average.module
    if not hooks:
        return None, evaluated
    return lambda: [hook() for hook in hooks], evaluated


class BestEpoch:
    """The best epoch so far by the monitored validation score, and a CPU copy of its weights.

    Args:
        monitor: a (task, metric) pair, whose value is the score (higher is better except for
            the metrics in ``MINIMISED``); or ``{(task, metric): weight}``, whose weighted sum
            is the score (higher is better).
    """

    def __init__(self, monitor: Monitor) -> None:
        if isinstance(monitor, tuple):
            self.weights, self.minimise = {monitor: 1.0}, monitor[1] in MINIMISED
        else:
            self.weights, self.minimise = dict(monitor), False
            check_monitor_weights(self.weights)
        self.epoch, self.score, self.state = 0, math.nan, None

    def update(self, epoch: int, row: dict[str, float], model: nn.Module) -> bool:
        """Keep ``model``'s weights if the epoch's ``row`` improves the score; True if it did."""
        missing = [pair for pair in self.weights if "/".join(pair) not in row]
        if missing:
            raise KeyError(f"monitor {missing} is not among the validation metrics: {list(row)}")
        score = sum(weight * row["/".join(pair)] for pair, weight in self.weights.items())
        better = score < self.score if self.minimise else score > self.score
        if not (math.isnan(self.score) or better):
            return False
        self.epoch, self.score = epoch, score
        self.state = {k: v.to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True


def check_monitor_weights(weights: Mapping[tuple[str, str], float]) -> None:
    """Refuse a weighted monitor whose sum would not be "higher is better" (ValueError)."""
    if not weights:
        raise ValueError("monitor={} names no metric; give at least one (task, metric): weight")
    for (task, metric), weight in weights.items():
        lower_is_better = metric in MINIMISED
        if not math.isfinite(weight) or weight == 0 or (weight < 0) != lower_is_better:
            sign = "negative" if lower_is_better else "positive"
            raise ValueError(
                f"monitor weight {weight} for ({task!r}, {metric!r}): the weighted sum is "
                f"maximised, so {metric} ({'lower' if lower_is_better else 'higher'} is "
                f"better) needs a finite {sign} weight"
            )


def warn_few_positives(tasks: Sequence[Task], valid_loader: Collection[Batch]) -> None:
    """Warn (UserWarning) for each binary task with fewer than MIN_VALID_POSITIVES positives
    in the validation set: early stopping on its metrics would chase noise."""
    binary = [task for task in tasks if task.kind == "binary"]
    for task, (positives, samples) in count_positives(binary, valid_loader).items():
        if positives < MIN_VALID_POSITIVES:
            warnings.warn(
                f"task {task.name!r}: the validation set holds {positives} positive(s) among "
                f"{samples:,} samples, fewer than MIN_VALID_POSITIVES = {MIN_VALID_POSITIVES}: "
                "its validation metrics are mostly noise, and so is a best epoch or an early "
                "stop chosen by them. Fix: a larger validation set (more users, or a longer "
                "validation window with time_cut), or monitor another task",
                UserWarning,
                stacklevel=3,
            )


def count_positives(
    tasks: Sequence[Task], loader: Collection[Batch]
) -> dict[Task, tuple[int, int]]:
    """(positives, samples) of each binary task among the samples that carry its label.

    Read from the label arrays of the loader's dataset when it has them (``make_loader``'s
    loaders: ``BehaviorDataset.labels``), else counted in one pass over the batches.
    """
    labels = getattr(getattr(loader, "dataset", None), "labels", None)
    batches: Iterable[Batch] = loader
    if callable(labels):
        names = {task.label for task in tasks} | {"click"}  # click: the mask of only_positives
        batches = [{name: torch.as_tensor(labels(name)) for name in names}]
    counts = dict.fromkeys(tasks, (0, 0))
    for batch in batches:
        for task in tasks:
            label = batch[task.label][task.sample_mask(batch)]
            positives, samples = counts[task]
            counts[task] = (positives + int((label > 0.5).sum()), samples + label.numel())
    return counts
