"""The engineering switches of the training loop, in one object with defaults (notebooks 04–07).

``fit`` and ``train_one_epoch`` keep the recipe (epochs, learning rate, task weighting, early
stopping) in their own arguments; everything that changes *how* the steps run rather than
*what* is learned sits here: the device, mixed precision, compiling, weight averaging, the
learning-rate schedule, gradient clipping, diagnostics, several processes. The defaults train
in full precision on ``get_device()``, clip the gradient norm at 1 and show a progress bar.

``Precision`` turns the mixed-precision switch into what a step needs: the dtype to autocast
to and, for float16, the ``GradScaler`` that keeps small gradients from underflowing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # only for the annotation: course_lib.distributed imports the training code
    from course_lib.distributed import Distributed

LR_SCHEDULES = ("constant", "cosine")  # how the learning rate moves over the planned steps


@dataclass(frozen=True)
class TrainOptions:
    """How the training steps run; the defaults suit a laptop CPU and a single GPU alike.

    Attributes:
        device: where to train; None: ``get_device()``.
        max_steps_per_epoch: cap the batches of an epoch (quick runs, a fixed step budget);
            None: the whole loader.
        clip_norm: clip the gradient norm to this value; None: no clipping.
        lr_schedule: "constant" keeps ``lr``; "cosine" lowers it step by step along half a
            cosine, from ``lr`` at the first step to zero after ``epochs`` full epochs
            (``torch.optim.lr_scheduler.CosineAnnealingLR``): large steps early, small ones
            that settle into a minimum at the end. Early stopping may end before that.
        weight_decay: Adam's L2 penalty on the weights.
        ema_decay: validate, keep and return an exponential moving average of the weights
            instead of the weights themselves: after every step the average moves a fraction
            ``1 - ema_decay`` of the way to the new weights, so it remembers about
            ``1 / (1 - ema_decay)`` steps (``torch.optim.swa_utils.AveragedModel``). It smooths
            out the noise a constant learning rate leaves in the last steps. None: no averaging.
        mixed_precision: autocast to bfloat16 (float16 with a GradScaler where the GPU lacks
            bfloat16); None: on for CUDA. CUDA only.
        compile: train through ``torch.compile``; compiling takes tens of seconds even for a
            tiny model and can pay back on long GPU runs. Validation runs the plain model.
        diagnose_every: every this many steps, record each task's loss, gradient norm on the
            shared parameters and the pairwise gradient cosines (``gradient_report``); costs one
            extra backward pass per task on those steps. None: no diagnostics.
        progress: show a progress bar with the running loss.
        distributed: this process's part of a ``torchrun`` job (``course_lib.distributed``):
            the training loader yields the global batches and each process trains on its
            slice, in ``DistributedDataParallel``; rank 0 validates and every process gets its
            metrics. None: a single process.
    """

    device: torch.device | str | None = None
    max_steps_per_epoch: int | None = None
    clip_norm: float | None = 1.0
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    ema_decay: float | None = None
    mixed_precision: bool | None = None
    compile: bool = False
    diagnose_every: int | None = None
    progress: bool = True
    distributed: Distributed | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule={self.lr_schedule!r}: choose from {list(LR_SCHEDULES)}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(
                f"ema_decay={self.ema_decay}: choose a value between 0 and 1, e.g. 0.999"
            )


@dataclass
class Precision:
    """What a step needs for mixed precision: the autocast dtype and the loss scaler.

    Attributes:
        dtype: autocast to this dtype; None: full precision.
        scaler: scales float16 losses so that small gradients do not underflow, and skips the
            steps whose gradients overflowed; disabled (a no-op) otherwise. It lives as long as
            the training run: its scale adapts from step to step.
    """

    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler = field(
        default_factory=lambda: torch.amp.GradScaler(enabled=False)
    )

    @classmethod
    def choose(cls, device: torch.device, mixed_precision: bool | None) -> Precision:
        """bfloat16 where the GPU supports it, else float16 with a scaler; off on the CPU.

        Args:
            mixed_precision: True, False, or None (on for CUDA).
        """
        if mixed_precision is None:
            mixed_precision = device.type == "cuda"
        if not mixed_precision:
            return cls()
        if device.type != "cuda":
            raise ValueError(f"mixed_precision=True needs a CUDA device, not {device}; pass None")
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return cls(dtype, torch.amp.GradScaler(device.type, enabled=dtype == torch.float16))
