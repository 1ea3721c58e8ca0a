"""The training loop as plain functions a learner can read in one screen (notebooks 02–03).

A model is any ``nn.Module`` whose ``forward(batch)`` returns a dict of outputs keyed by task
name; ``loss_fn(outputs, batch)`` turns them into one scalar. The loop knows nothing else about
the model, so the same functions train matrix factorisation, every sequence encoder and, later,
the multi-task models.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.tasks import Batch

LossFn = Callable[[dict[str, torch.Tensor], Batch], torch.Tensor]


def move_batch(batch: Batch, device: torch.device | str) -> Batch:
    """Copy every tensor of a batch to ``device`` (asynchronously from pinned memory)."""
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def repeat_batches(loader: Iterable[Batch]) -> Iterator[Batch]:
    """Endless batches: the loader again and again (reshuffled each pass if it shuffles)."""
    return itertools.chain.from_iterable(itertools.repeat(loader))


def train_steps(
    model: nn.Module,
    batches: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str,
    num_steps: int | None = None,
    clip_norm: float | None = None,
    progress: bool = False,
) -> list[float]:
    """Run optimisation steps on batches; returns the loss of every step.

    Args:
        batches: a DataLoader (one epoch) or ``repeat_batches(loader)`` (endless).
        num_steps: stop after this many steps; None runs until ``batches`` ends. A fixed number
            of steps gives every model in a comparison the same training budget.
        clip_norm: clip the gradient norm to this value (None: no clipping).
        progress: show a tqdm progress bar.
    """
    model.train()
    steps = itertools.islice(batches, num_steps)
    losses = []
    for batch in tqdm(steps, total=num_steps, disable=not progress, desc="training"):
        batch = move_batch(batch, device)
        loss = loss_fn(model(batch), batch)
        optimizer_step(model, loss, optimizer, clip_norm)
        losses.append(loss.detach())
    return torch.stack(losses).tolist() if losses else []  # one sync at the end, not per step


def optimizer_step(
    model: nn.Module,
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    clip_norm: float | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """One update: zero the gradients, backpropagate ``loss``, clip, step.

    Args:
        clip_norm: clip the gradient norm to this value (None: no clipping).
        scaler: for float16 mixed precision: scales the loss so that small gradients do not
            underflow, and skips the step when they overflowed. None: a plain step.
    """
    scaler = scaler or torch.amp.GradScaler(enabled=False)  # disabled: backward() and step()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    apply_gradients(model, optimizer, clip_norm, scaler)


def apply_gradients(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clip_norm: float | None,
    scaler: torch.amp.GradScaler,
) -> None:
    """The second half of a step, once ``.grad`` is filled: clip, step, update the scaler."""
    if clip_norm is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    scaler.step(optimizer)
    scaler.update()


@torch.no_grad()
def predict_outputs(
    model: nn.Module, loader: Iterable[Batch], device: torch.device | str
) -> Iterator[tuple[dict[str, torch.Tensor], Batch]]:
    """Yield (outputs, batch) for every batch, in evaluation mode and without gradients."""
    model.eval()
    for batch in loader:
        batch = move_batch(batch, device)
        yield model(batch), batch
