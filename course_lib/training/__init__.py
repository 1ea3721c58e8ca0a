"""Training and evaluation loops: plain functions over batches (notebooks 02 onwards)."""

from course_lib.training.diagnostics import gradient_report, task_gradients
from course_lib.training.dwa import DynamicWeightAverage
from course_lib.training.evaluate import evaluate_ranking, evaluate_tasks
from course_lib.training.gradnorm import GradNorm
from course_lib.training.loop import (
    apply_gradients,
    move_batch,
    optimizer_step,
    predict_outputs,
    repeat_batches,
    train_steps,
)
from course_lib.training.parameters import split_parameters
from course_lib.training.pcgrad import PCGrad, project_conflicting
from course_lib.training.per_task_lr import PerTaskLearningRates
from course_lib.training.trainer import FitResult, fit, train_epoch
from course_lib.training.uncertainty import UncertaintyWeighting
from course_lib.training.weighting import FixedWeights, MultiTaskLoss, TaskWeighting

__all__ = [
    "DynamicWeightAverage",
    "FitResult",
    "FixedWeights",
    "GradNorm",
    "MultiTaskLoss",
    "PCGrad",
    "PerTaskLearningRates",
    "TaskWeighting",
    "UncertaintyWeighting",
    "apply_gradients",
    "evaluate_ranking",
    "evaluate_tasks",
    "fit",
    "gradient_report",
    "move_batch",
    "optimizer_step",
    "predict_outputs",
    "project_conflicting",
    "repeat_batches",
    "split_parameters",
    "task_gradients",
    "train_epoch",
    "train_steps",
]
