"""course_lib: the library behind the course "multi-task recommendation from user behavior
sequences".

``__all__`` is what the notebooks import, grouped in the order the course meets it; it is a
stable contract, and a test checks that every name in it is used by some notebook. Everything
else is imported from its own module: ``course_lib.data`` (the log contract, I/O, cleaning,
vocabularies, samples), ``course_lib.datasets`` (public logs and their download),
``course_lib.simulate`` and ``course_lib.bundled`` (the simulator and the bundled data),
``course_lib.models`` (embeddings, encoders, multi-task architectures and their settings),
``course_lib.tasks`` and ``course_lib.losses``, ``course_lib.training`` (the loss, weighting
rules, gradient diagnostics), ``course_lib.metrics`` (task, ranking and list metrics),
``course_lib.baselines``, ``course_lib.recommendation``, ``course_lib.loop`` (the model in a
closed loop with simulated users), ``course_lib.explanation``,
``course_lib.checkpoint`` and ``course_lib.env``.
"""

from course_lib.baselines import BiasBaseline, PopularityBaseline, RepeatLastCategoryBaseline
from course_lib.bundled import (
    bundled_window,
    load_bundled_log,
    load_bundled_side_tables,
    simulate_bundled,
)
from course_lib.checkpoint import load_checkpoint, save_checkpoint
from course_lib.data import (
    TAOBAO_BEHAVIORS,
    UNK,
    BehaviorDataset,
    Feature,
    LogValidationError,
    Vocabularies,
    build_sequences,
    build_vocabularies,
    clean_log,
    encode_log,
    item_category_table,
    leave_last_out,
    make_loader,
    make_samples,
    oversampling_weights,
    prepare,
    random_split,
    time_cut,
    validate_log,
)
from course_lib.datasets import get_cache_dir
from course_lib.env import environment_report, get_device, set_seed
from course_lib.explanation import explain
from course_lib.losses import binary_loss
from course_lib.metrics import (
    calibration_table,
    catalogue_coverage,
    compare_protocols,
    expected_calibration_error,
    history_mask,
    list_metrics,
    metrics_by_history_length,
    metrics_table,
    per_user_list_metrics,
    popularity_bias,
)
from course_lib.models import (
    CNNEncoder,
    GRUEncoder,
    LSTMEncoder,
    MatrixFactorization,
    MeanPoolEncoder,
    NextItemConfig,
    NextItemModel,
    SelfAttentionEncoder,
    build_model,
)
from course_lib.recommendation import (
    catalogue_table,
    held_out_items,
    history_lengths,
    predict,
    recommend,
)
from course_lib.simulate import SimulatorConfig, bayes_limit_auc, rating_limits, simulate
from course_lib.tasks import Task, explicit_tasks, label_rates, standard_tasks
from course_lib.training import (
    DynamicWeightAverage,
    FixedWeights,
    GradNorm,
    PCGrad,
    PerTaskLearningRates,
    TrainOptions,
    UncertaintyWeighting,
    evaluate_ranking,
    evaluate_tasks,
    fit,
    move_batch,
    repeat_batches,
    train_one_epoch,
)

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 - grouped in the course's order, sorted within a group
    # data: validate, clean, encode, sequence, split, sample and load a behavior log
    "TAOBAO_BEHAVIORS",
    "UNK",
    "BehaviorDataset",
    "Feature",
    "LogValidationError",
    "Vocabularies",
    "build_sequences",
    "build_vocabularies",
    "clean_log",
    "encode_log",
    "get_cache_dir",
    "item_category_table",
    "leave_last_out",
    "make_loader",
    "make_samples",
    "oversampling_weights",
    "prepare",
    "random_split",
    "time_cut",
    "validate_log",
    # simulator and bundled data: the simulated log, its ground truth and Bayes limit
    "SimulatorConfig",
    "bayes_limit_auc",
    "bundled_window",
    "load_bundled_log",
    "load_bundled_side_tables",
    "rating_limits",
    "simulate",
    "simulate_bundled",
    # models: matrix factorisation, sequence encoders, the next-item model, baselines
    "BiasBaseline",
    "CNNEncoder",
    "GRUEncoder",
    "LSTMEncoder",
    "MatrixFactorization",
    "MeanPoolEncoder",
    "NextItemConfig",
    "NextItemModel",
    "PopularityBaseline",
    "RepeatLastCategoryBaseline",
    "SelfAttentionEncoder",
    "build_model",
    # tasks and losses: declared tasks, their label rates and the per-task loss
    "Task",
    "binary_loss",
    "explicit_tasks",
    "label_rates",
    "standard_tasks",
    # training: the training loop, its options and the task-weighting rules
    "DynamicWeightAverage",
    "FixedWeights",
    "GradNorm",
    "PCGrad",
    "PerTaskLearningRates",
    "TrainOptions",
    "UncertaintyWeighting",
    "fit",
    "move_batch",
    "repeat_batches",
    "train_one_epoch",
    # evaluation and metrics: ranking and task evaluation, list metrics, calibration
    "calibration_table",
    "catalogue_coverage",
    "compare_protocols",
    "evaluate_ranking",
    "evaluate_tasks",
    "expected_calibration_error",
    "history_mask",
    "list_metrics",
    "metrics_by_history_length",
    "metrics_table",
    "per_user_list_metrics",
    "popularity_bias",
    # recommendation: predictions by raw id, top-K lists, held-out items, explanations
    "catalogue_table",
    "explain",
    "held_out_items",
    "history_lengths",
    "predict",
    "recommend",
    # checkpoints: save a trained model and load it back
    "load_checkpoint",
    "save_checkpoint",
    # environment: seed, device and versions
    "environment_report",
    "get_device",
    "set_seed",
]
