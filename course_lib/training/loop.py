"""The training loop: one epoch of optimisation steps, the same for every model of the course.

A model is any ``nn.Module`` whose ``forward(batch)`` returns a dict of outputs keyed by task
name; ``loss_fn(outputs, batch)`` returns the losses keyed the same way (one loss for matrix
factorisation in notebook 02, one per declared task from notebook 04 on). A ``TaskWeighting``
turns them into gradients: the plain sum by default, GradNorm or PCGrad in notebook 05. The loop
knows nothing else about the model, so the same function trains every model of the course;
``fit`` (in ``trainer.py``) adds validation and early stopping around it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.tasks import Batch
from course_lib.training.diagnostics import gradient_report
from course_lib.training.options import Precision, TrainOptions
from course_lib.training.parameters import split_parameters
from course_lib.training.weighting import SumOfLosses, TaskWeighting, task_gradients

LossFn = Callable[[dict[str, torch.Tensor], Batch], dict[str, torch.Tensor]]
POSTFIX_EVERY = 20  # steps between progress-bar loss updates (each waits for the device)


@dataclass
class EpochLog:
    """What ``train_one_epoch`` records.

    Attributes:
        losses: one row per step: every loss, and "total", the combined loss that was minimised.
        diagnostics: one row per diagnosed step (``TrainOptions.diagnose_every``): the step,
            each task's loss and gradient norm, the pairwise cosines; empty without diagnostics.
    """

    losses: pd.DataFrame
    diagnostics: pd.DataFrame


def train_one_epoch(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    weighting: TaskWeighting | None = None,
    options: TrainOptions | None = None,
    precision: Precision | None = None,
    after_step: Callable[[], None] | None = None,
    desc: str = "training",
) -> EpochLog:
    """Optimisation steps over ``batches`` (at most ``options.max_steps_per_epoch``).

    Each step: forward, every loss, the weighting fills the gradients
    (``TaskWeighting.backward``), clip, optimizer step. The losses stay on the device and are
    read once at the end: a ``.item()`` per step would make the CPU wait for the GPU.

    Args:
        model: on its device already; batches are moved there.
        loss_fn: ``(outputs, batch) -> {name: loss}``, e.g. ``MultiTaskLoss(tasks)`` or a
            model's own ``loss``.
        batches: a DataLoader (one pass) or ``repeat_batches(loader)`` (endless; set
            ``options.max_steps_per_epoch``).
        weighting: combines the losses into gradients; None: their plain sum.
        options: the step cap, clipping, diagnostics and progress bar of ``TrainOptions``
            (``fit`` handles the others: device, schedule, averaging, compiling, processes);
            None: the defaults.
        precision: the autocast dtype and loss scaler (``Precision.choose``); None: full.
        after_step: called after every optimizer step (``fit``'s schedule and weight average).
    """
    options = options or TrainOptions()
    device = next(model.parameters()).device
    weighting = weighting or SumOfLosses()
    precision = precision or Precision()
    dtype, scaler = precision.dtype, precision.scaler
    scale = scaler.scale if scaler.is_enabled() else None
    shared, others = None, None  # split once the losses name the tasks (first step)
    losses_per_step, diagnostics = [], []
    steps = itertools.islice(batches, options.max_steps_per_epoch)
    total_steps = planned_steps(batches, options)
    bar = tqdm(steps, total=total_steps, desc=desc, disable=not options.progress)
    model.train()
    for step, batch in enumerate(bar):
        batch = move_batch(batch, device)
        with torch.autocast(device.type, dtype, enabled=dtype is not None):
            losses = loss_fn(model(batch), batch)
        if shared is None:
            shared, others = shared_and_other_parameters(model, list(losses), weighting)
        if options.diagnose_every and step % options.diagnose_every == 0:
            report = gradient_report(losses, task_gradients(losses, shared))
            diagnostics.append({"step": step} | report)
        optimizer.zero_grad(set_to_none=True)
        total = weighting.backward(losses, shared, others, scale)
        if options.clip_norm is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(model.parameters(), options.clip_norm)
        scaler.step(optimizer)
        scaler.update()
        if after_step is not None:
            after_step()
        losses_per_step.append(
            torch.stack([v.detach().float() for v in [*losses.values(), total]])
        )
        if options.progress and step % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{total.item():.4f}")
    if not losses_per_step:
        raise ValueError("the training batches yielded no batch")
    values = torch.stack(losses_per_step).tolist()  # the epoch's one synchronisation
    return EpochLog(pd.DataFrame(values, columns=[*losses, "total"]), pd.DataFrame(diagnostics))


def shared_and_other_parameters(
    model: nn.Module, names: list[str], weighting: TaskWeighting
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The parameters every task reaches, and the rest (task towers and heads, the weighting's
    own): the two sets a ``TaskWeighting.backward`` treats differently."""
    shared, own = split_parameters(model, names)
    others = [param for params in own.values() for param in params]
    return shared, others + [param for param in weighting.parameters() if param.requires_grad]


def planned_steps(batches: Iterable[Batch], options: TrainOptions) -> int | None:
    """How many steps an epoch takes: the loader's length, or the cap if fewer (None: unknown)."""
    length = len(batches) if hasattr(batches, "__len__") else None
    if length is None or options.max_steps_per_epoch is None:
        return length or options.max_steps_per_epoch
    return min(length, options.max_steps_per_epoch)


def move_batch(batch: Batch, device: torch.device | str) -> Batch:
    """Copy every tensor of a batch to ``device`` (asynchronously from pinned memory)."""
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def repeat_batches(loader: Iterable[Batch]) -> Iterator[Batch]:
    """Endless batches: the loader again and again (reshuffled each pass if it shuffles)."""
    return itertools.chain.from_iterable(itertools.repeat(loader))


@torch.no_grad()
def predict_outputs(
    model: nn.Module, loader: Iterable[Batch], device: torch.device | str
) -> Iterator[tuple[dict[str, torch.Tensor], Batch]]:
    """Yield (outputs, batch) for every batch, in evaluation mode and without gradients."""
    model.eval()
    for batch in loader:
        batch = move_batch(batch, device)
        yield model(batch), batch
