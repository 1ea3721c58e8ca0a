"""The preprocessing pipeline: raw log -> validated -> clean -> encoded -> sequences -> samples.

Each step is one module with one job (notebook 01 walks through them in this order). For a log
larger than memory, ``ondisk.prepare_to_disk`` runs the same steps chunk by chunk and writes
the results to disk, where `OnDiskData` reads them lazily.
"""

from course_lib.data.clean import CleaningReport, clean_log
from course_lib.data.dataset import (
    BehaviorDataset,
    collate_batch,
    make_loader,
    oversampling_weights,
)
from course_lib.data.encode import (
    Vocabularies,
    build_vocabularies,
    encode_log,
    item_category_table,
)
from course_lib.data.features import Feature, SideFeatures, encode_features
from course_lib.data.io import read_log, read_taobao_user_behavior, write_log
from course_lib.data.ondisk import CleaningCounts, OnDiskData, OnDiskDataset, prepare_to_disk
from course_lib.data.pipeline import PreparedData, prepare
from course_lib.data.samples import Samples, make_samples
from course_lib.data.schema import (
    LOG_COLUMNS,
    TAOBAO_BEHAVIORS,
    LogValidationError,
    validate_log,
)
from course_lib.data.sequences import Sequences, build_sequences
from course_lib.data.split import Split, leave_last_out, random_split, time_cut
from course_lib.data.vocab import PAD, UNK, Vocabulary

__all__ = [
    "LOG_COLUMNS",
    "PAD",
    "TAOBAO_BEHAVIORS",
    "UNK",
    "BehaviorDataset",
    "CleaningCounts",
    "CleaningReport",
    "Feature",
    "LogValidationError",
    "OnDiskData",
    "OnDiskDataset",
    "PreparedData",
    "Samples",
    "Sequences",
    "SideFeatures",
    "Split",
    "Vocabularies",
    "Vocabulary",
    "build_sequences",
    "build_vocabularies",
    "clean_log",
    "collate_batch",
    "encode_features",
    "encode_log",
    "item_category_table",
    "leave_last_out",
    "make_loader",
    "make_samples",
    "oversampling_weights",
    "prepare",
    "prepare_to_disk",
    "random_split",
    "read_log",
    "read_taobao_user_behavior",
    "time_cut",
    "validate_log",
    "write_log",
]
