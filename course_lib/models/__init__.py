"""Models: embeddings, sequence encoders and the next-item and matrix-factorization models."""

from course_lib.models.attention import SelfAttentionEncoder
from course_lib.models.cnn import CNNEncoder
from course_lib.models.embedding import BehaviorEmbedding
from course_lib.models.encoder_base import (
    EncoderOutput,
    SequenceEncoder,
    last_real_step,
    real_steps,
)
from course_lib.models.esmm import ESMMModel
from course_lib.models.gru import GRUEncoder
from course_lib.models.lstm import LSTMEncoder
from course_lib.models.matrix_factorization import MatrixFactorization
from course_lib.models.mean_pool import MeanPoolEncoder
from course_lib.models.mmoe import MMoEModel
from course_lib.models.multitask_base import MultiTaskConfig, MultiTaskModel
from course_lib.models.next_item import NextItemConfig, NextItemModel
from course_lib.models.ple import PLEModel
from course_lib.models.shared_bottom import SharedBottomModel

__all__ = [
    "BehaviorEmbedding",
    "CNNEncoder",
    "ESMMModel",
    "EncoderOutput",
    "GRUEncoder",
    "LSTMEncoder",
    "MMoEModel",
    "MatrixFactorization",
    "MeanPoolEncoder",
    "MultiTaskConfig",
    "MultiTaskModel",
    "NextItemConfig",
    "NextItemModel",
    "PLEModel",
    "SelfAttentionEncoder",
    "SequenceEncoder",
    "SharedBottomModel",
    "last_real_step",
    "real_steps",
]
