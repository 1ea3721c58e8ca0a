"""Models: embeddings, sequence encoders, the multi-task architectures and their factory, and
the next-item and matrix-factorization models."""

from course_lib.models.attention import SelfAttentionEncoder
from course_lib.models.cnn import CNNEncoder
from course_lib.models.embedding import BehaviorEmbedding
from course_lib.models.encoder_base import (
    EncoderOutput,
    SequenceEncoder,
    last_real_step,
    real_steps,
)
from course_lib.models.esmm import ESMMModel, ESMMSettings
from course_lib.models.factory import ARCHITECTURES, ENCODERS, build_model, model_from_config
from course_lib.models.gru import GRUEncoder
from course_lib.models.lstm import LSTMEncoder
from course_lib.models.matrix_factorization import MatrixFactorization
from course_lib.models.mean_pool import MeanPoolEncoder
from course_lib.models.mmoe import MMoEModel, MMoESettings
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel
from course_lib.models.next_item import NextItemConfig, NextItemModel
from course_lib.models.ple import PLEModel, PLESettings
from course_lib.models.shared_bottom import SharedBottomModel, SharedBottomSettings
from course_lib.models.side_features import FeatureSpec, SideFeatureEmbedding, feature_specs

__all__ = [
    "ARCHITECTURES",
    "ENCODERS",
    "BehaviorEmbedding",
    "CNNEncoder",
    "ESMMModel",
    "ESMMSettings",
    "EncoderOutput",
    "FeatureSpec",
    "GRUEncoder",
    "LSTMEncoder",
    "MMoEModel",
    "MMoESettings",
    "MatrixFactorization",
    "MeanPoolEncoder",
    "MultiTaskConfig",
    "MultiTaskModel",
    "NextItemConfig",
    "NextItemModel",
    "PLEModel",
    "PLESettings",
    "SelfAttentionEncoder",
    "SequenceEncoder",
    "SharedBottomModel",
    "SharedBottomSettings",
    "SideFeatureEmbedding",
    "build_model",
    "feature_specs",
    "last_real_step",
    "model_from_config",
    "real_steps",
]
