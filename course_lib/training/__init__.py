"""Training and evaluation: one loop for every model, task weighting, diagnostics, and
federated averaging."""

from course_lib.training.diagnostics import gradient_report
from course_lib.training.dwa import DynamicWeightAverage
from course_lib.training.evaluate import evaluate_ranking, evaluate_tasks
from course_lib.training.federated import (
    FederatedSettings,
    average_weights,
    client_datasets,
    federated_round,
    partition_clients,
    privacy_epsilon,
)
from course_lib.training.gradnorm import GradNorm
from course_lib.training.loop import (
    EpochLog,
    move_batch,
    predict_outputs,
    repeat_batches,
    train_one_epoch,
)
from course_lib.training.options import Precision, TrainOptions
from course_lib.training.parameters import split_parameters
from course_lib.training.pcgrad import PCGrad, project_conflicting
from course_lib.training.per_task_lr import PerTaskLearningRates
from course_lib.training.trainer import FitResult, Monitor, fit
from course_lib.training.uncertainty import UncertaintyWeighting
from course_lib.training.weighting import (
    FixedWeights,
    MultiTaskLoss,
    SumOfLosses,
    TaskWeighting,
    task_gradients,
)

__all__ = [
    "DynamicWeightAverage",
    "EpochLog",
    "FederatedSettings",
    "FitResult",
    "FixedWeights",
    "GradNorm",
    "Monitor",
    "MultiTaskLoss",
    "PCGrad",
    "PerTaskLearningRates",
    "Precision",
    "SumOfLosses",
    "TaskWeighting",
    "TrainOptions",
    "UncertaintyWeighting",
    "average_weights",
    "client_datasets",
    "evaluate_ranking",
    "evaluate_tasks",
    "federated_round",
    "fit",
    "gradient_report",
    "move_batch",
    "partition_clients",
    "predict_outputs",
    "privacy_epsilon",
    "project_conflicting",
    "repeat_batches",
    "split_parameters",
    "task_gradients",
    "train_one_epoch",
]
