"""Training and evaluation loops: plain functions over batches (notebooks 02 onwards)."""

from course_lib.training.evaluate import evaluate_ranking
from course_lib.training.loop import move_batch, predict_outputs, repeat_batches, train_steps

__all__ = ["evaluate_ranking", "move_batch", "predict_outputs", "repeat_batches", "train_steps"]
