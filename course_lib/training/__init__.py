"""Training and evaluation loops: plain functions over batches (notebooks 02 onwards)."""

from course_lib.training.evaluate import evaluate_ranking, evaluate_tasks
from course_lib.training.loop import (
    move_batch,
    optimizer_step,
    predict_outputs,
    repeat_batches,
    train_steps,
)
from course_lib.training.trainer import FitResult, fit, train_epoch
from course_lib.training.weighting import FixedWeights, MultiTaskLoss, TaskWeighting

__all__ = [
    "FitResult",
    "FixedWeights",
    "MultiTaskLoss",
    "TaskWeighting",
    "evaluate_ranking",
    "evaluate_tasks",
    "fit",
    "move_batch",
    "optimizer_step",
    "predict_outputs",
    "repeat_batches",
    "train_epoch",
    "train_steps",
]
