"""Training a multi-task model: epochs, validation, early stopping (notebooks 04 onwards).

``fit`` is the whole recipe on one screen: train an epoch, evaluate every task on the
validation set, keep the weights of the best epoch, stop when the monitored metric has not
improved for ``patience`` epochs. How the task losses are combined is the ``weighting`` object
it receives (see ``course_lib.training.weighting``). Under ``torchrun`` the same loop trains a
``DistributedDataParallel`` replica in every process (``course_lib.distributed``).
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from course_lib.env import get_device, set_seed
from course_lib.tasks import Batch, Task, check_labels_are_valid
from course_lib.training.diagnostics import gradient_report, task_gradients
from course_lib.training.evaluate import evaluate_tasks
from course_lib.training.loop import apply_gradients, move_batch
from course_lib.training.parameters import split_parameters
from course_lib.training.weighting import MultiTaskLoss, TaskWeighting

if TYPE_CHECKING:  # only for the annotation: course_lib.distributed imports the training code
    from course_lib.distributed import Distributed

MINIMISED = {"log_loss", "rmse"}  # lower is better; every other metric: higher is better
# A binary task with fewer positives in the validation set gets a warning: its validation
# metrics (AUC above all) then swing with one or two samples, and so would the best epoch.
MIN_VALID_POSITIVES = 10
LR_SCHEDULES = ("constant", "cosine")  # how the learning rate moves over the planned steps
POSTFIX_EVERY = 20  # steps between progress-bar loss updates (each waits for the device)


@dataclass
class FitResult:
    """What ``fit`` returns; the model itself is trained in place (best epoch's weights)."""

    history: pd.DataFrame  # per epoch: train losses, task weights, lr, "task/metric", seconds
    best_epoch: int  # 1-based epoch whose weights the model holds now
    best_score: float  # the monitored validation metric at that epoch
    seconds: float  # wall-clock time of the whole fit
    diagnostics: pd.DataFrame  # per diagnosed step: losses, gradient norms, cosines (may be empty)


def steps_per_epoch(loader: Collection[Batch], max_steps: int | None) -> int:
    """How many batches an epoch takes: the whole loader, or ``max_steps`` if fewer."""
    return min(len(loader), max_steps or len(loader))


def train_epoch(
    model: nn.Module,
    loss_fn: MultiTaskLoss,
    loader: Collection[Batch],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    scaler: torch.amp.GradScaler | None = None,
    autocast_dtype: torch.dtype | None = None,
    clip_norm: float | None = 1.0,
    max_steps: int | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    after_step: Callable[[], None] | None = None,
    diagnose_every: int | None = None,
    diagnostics: list[dict[str, float]] | None = None,
    progress: bool = True,
    desc: str = "training",
) -> dict[str, float]:
    """One pass over ``loader`` (at most ``max_steps`` batches); returns the mean losses.

    Each step computes every task's loss, lets the weighting fill the gradients
    (``TaskWeighting.backward``) and takes an optimizer step. Losses are summed on the device
    and read once at the end: a ``.item()`` per batch would make the CPU wait for the GPU.

    Args:
        loader: a DataLoader or any sized collection of batches.
        scaler, autocast_dtype: mixed precision (see ``fit``); None: full precision.
        scheduler: stepped after every optimizer step (see ``fit``'s ``lr_schedule``).
        after_step: called after every optimizer step (``fit``'s weight averaging).
        diagnose_every: every this many steps, append a ``gradient_report`` of the step (each
            task's loss, gradient norm on the shared parameters, pairwise cosines) to
            ``diagnostics``; costs one extra backward pass per task on those steps.
        desc: the progress bar's label.

    Returns:
        ``{task name: mean loss, ..., "total": mean combined loss}``.
    """
    model.train()
    scaler = scaler or torch.amp.GradScaler(enabled=False)
    scale = scaler.scale if scaler.is_enabled() else None
    weighting = loss_fn.weighting
    shared, own = split_parameters(model, [task.name for task in loss_fn.tasks])
    others = [param for params in own.values() for param in params]
    others += [param for param in weighting.parameters() if param.requires_grad]
    sums: dict[str, torch.Tensor] = {}
    total_steps = steps_per_epoch(loader, max_steps)
    steps = itertools.islice(loader, max_steps)
    bar = tqdm(steps, total=total_steps, desc=desc, disable=not progress)
    for step, batch in enumerate(bar):
        batch = move_batch(batch, device)
        if step == 0:  # a bad label fails here, clearly, not as a CUDA device-side assert
            for task in loss_fn.tasks:
                check_labels_are_valid(task, batch)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            losses = loss_fn.task_losses(model(batch), batch)
        if diagnose_every and diagnostics is not None and step % diagnose_every == 0:
            report = gradient_report(losses, task_gradients(losses, shared))
            diagnostics.append({"step": step} | report)
        optimizer.zero_grad(set_to_none=True)
        total = weighting.backward(losses, shared, others, scale)
        apply_gradients(model, optimizer, clip_norm, scaler)
        if scheduler is not None:
            scheduler.step()
        if after_step is not None:
            after_step()
        for name, loss in {**losses, "total": total}.items():
            sums[name] = sums.get(name, 0.0) + loss.detach()
        if progress and step % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{(sums['total'] / (step + 1)).item():.4f}")
    if not sums:
        raise ValueError("the training loader yielded no batches")
    values = torch.stack(list(sums.values())).tolist()  # the epoch's one synchronisation
    return {name: value / (step + 1) for name, value in zip(sums, values, strict=True)}


def fit(
    model: nn.Module,
    tasks: Sequence[Task],
    train_loader: Collection[Batch],
    valid_loader: Collection[Batch],
    *,
    device: torch.device | str | None = None,
    epochs: int = 10,
    lr: float = 1e-3,
    lr_schedule: str = "constant",
    weight_decay: float = 0.0,
    ema_decay: float | None = None,
    weighting: TaskWeighting | None = None,
    monitor: tuple[str, str] = ("click", "roc_auc"),
    patience: int | None = 2,
    clip_norm: float | None = 1.0,
    mixed_precision: bool | None = None,
    max_steps_per_epoch: int | None = None,
    diagnose_every: int | None = None,
    progress: bool = True,
    seed: int = 0,
    compile: bool = False,
    distributed: Distributed | None = None,
) -> FitResult:
    """Train with Adam, validate every epoch, stop early and restore the best epoch's weights.

    Args:
        device: where to train; None: ``get_device()``.
        lr_schedule: "constant" keeps ``lr``; "cosine" lowers it step by step along half a
            cosine, from ``lr`` at the first step to zero after ``epochs`` full epochs
            (``torch.optim.lr_scheduler.CosineAnnealingLR``): large steps early, small ones
            that settle into a minimum at the end. Early stopping may end before that.
        ema_decay: validate, keep and return an exponential moving average of the weights
            instead of the weights themselves: after every step the average moves a fraction
            ``1 - ema_decay`` of the way to the new weights, so it remembers about
            ``1 / (1 - ema_decay)`` steps (``torch.optim.swa_utils.AveragedModel``). The
            average smooths out the noise of the last steps, which a constant learning rate
            leaves in the weights. None: no averaging.
        weighting: balances the tasks (``course_lib.training.weighting``); None: fixed weights
            from each ``Task.weight``. It also chooses the optimizer's parameter groups.
        monitor: (task, metric) of the validation results that picks the best epoch; higher
            is better except for the metrics in ``MINIMISED``.
        patience: stop after this many epochs without improvement (None: never stop early).
        clip_norm: clip the gradient norm to this value (None: no clipping).
        mixed_precision: autocast to bfloat16 (float16 with a GradScaler where the GPU lacks
            bfloat16); None: on for CUDA. CUDA only.
        max_steps_per_epoch: cap the batches of an epoch, for quick runs.
        diagnose_every: record gradient diagnostics every this many steps into
            ``FitResult.diagnostics`` (see ``train_epoch``); None: none.
        progress: show a progress bar with the running loss.
        compile: train through ``torch.compile`` (of the DDP replica, if any); compiling
            takes tens of seconds even for a tiny model and can pay back on long GPU runs.
            Validation runs the plain model.
        distributed: this process's part of a ``torchrun`` job (``course_lib.distributed``):
            ``train_loader`` yields the global batches and each process trains on its slice,
            in ``DistributedDataParallel``; rank 0 validates and every process gets its metrics.
            None: a single process.

    Warns:
        UserWarning: for each binary task with fewer than ``MIN_VALID_POSITIVES`` positives
            in the validation set, before training (see ``warn_few_positives``).
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule={lr_schedule!r}: choose from {list(LR_SCHEDULES)}")
    if ema_decay is not None and not 0 < ema_decay < 1:
        raise ValueError(f"ema_decay={ema_decay}: choose a value between 0 and 1, e.g. 0.999")
    start = time.perf_counter()
    if distributed is None or distributed.is_main:  # rank 0 validates
        warn_few_positives(tasks, valid_loader)
    set_seed(seed)
    device = get_device() if device is None else torch.device(device)
    loss_fn = MultiTaskLoss(tasks, weighting)
    model.to(device)
    loss_fn.weighting.to(device)  # learnable weightings train with the model
    groups = loss_fn.weighting.parameter_groups(model, lr)
    optimizer = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    scheduler = None
    if lr_schedule == "cosine":
        total = epochs * steps_per_epoch(train_loader, max_steps_per_epoch)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    average, after_step = None, None
    if ema_decay is not None:  # a copy of the model, so validated like the model itself
        average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
        after_step = partial(average.update_parameters, model)
    evaluated = model if average is None else average.module  # what validation sees
    network, batches = model, train_loader  # what trains: the model, or its DDP replica
    if distributed is not None:
        network = distributed.wrap(model, loss_fn.weighting, diagnose_every)
        batches = distributed.shard(train_loader)
    if compile:
        network = torch.compile(network)
    autocast_dtype = mixed_precision_dtype(device, mixed_precision)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)
    key, minimise = "/".join(monitor), monitor[1] in MINIMISED
    rows, diagnostics, best_epoch, best_score, best_state = [], [], 0, math.nan, None
    for epoch in range(1, epochs + 1):
        epoch_start, first_diagnostic = time.perf_counter(), len(diagnostics)
        losses = train_epoch(
            network,
            loss_fn,
            batches,
            optimizer,
            device,
            scaler=scaler,
            autocast_dtype=autocast_dtype,
            clip_norm=clip_norm,
            max_steps=max_steps_per_epoch,
            scheduler=scheduler,
            after_step=after_step,
            diagnose_every=diagnose_every,
            diagnostics=diagnostics,
            progress=progress,
            desc=f"epoch {epoch}/{epochs}",
        )
        for row in diagnostics[first_diagnostic:]:
            row["epoch"] = epoch
        if average is not None:  # buffers (batch-norm statistics, say) are the model's own
            for kept, trained in zip(average.module.buffers(), model.buffers(), strict=True):
                kept.copy_(trained)
        if distributed is None:
            valid = evaluate_tasks(evaluated, tasks, valid_loader, device)
        else:  # the whole validation set on rank 0; every process then stops at the same epoch
            losses = distributed.mean(losses)
            valid = distributed.from_main(
                partial(evaluate_tasks, evaluated, tasks, valid_loader, device)
            )
        row = {"epoch": epoch} | {f"train_loss/{name}": loss for name, loss in losses.items()}
        row |= {f"weight/{name}": w for name, w in loss_fn.weighting.weights().items()}
        row["lr"] = optimizer.param_groups[0]["lr"]  # at the end of the epoch
        for task, metrics in valid.items():
            row |= {f"{task}/{metric}": value for metric, value in metrics.items()}
        rows.append(row | {"seconds": time.perf_counter() - epoch_start})
        if key not in row:
            raise KeyError(f"monitor {monitor} is not among the validation metrics: {list(row)}")
        score = row[key]
        if math.isnan(best_score) or (score < best_score if minimise else score > best_score):
            best_epoch, best_score = epoch, score
            best_state = {k: v.to("cpu", copy=True) for k, v in evaluated.state_dict().items()}
        elif patience is not None and epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    seconds, diagnostics = time.perf_counter() - start, pd.DataFrame(diagnostics)
    return FitResult(pd.DataFrame(rows), best_epoch, best_score, seconds, diagnostics)


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


def mixed_precision_dtype(
    device: torch.device, mixed_precision: bool | None
) -> torch.dtype | None:
    """bfloat16 where the GPU supports it, else float16; None when mixed precision is off."""
    if mixed_precision is None:
        mixed_precision = device.type == "cuda"
    if not mixed_precision:
        return None
    if device.type != "cuda":
        raise ValueError(f"mixed_precision=True needs a CUDA device, not {device}; pass None")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
