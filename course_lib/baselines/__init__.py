"""Floors every model must beat, computed on the same split: if a model does not beat them, it
has not learned what it claims to.

- ``ranking``: next-item rankings (best sellers, the last category's best sellers), scored
  like a model's next-item head;
- ``pointwise``: a label per (user, item) pair (a like, a rating, a click): the global mean,
  per-user or per-item rates, and damped user + item biases.
"""

from course_lib.baselines.pointwise import BiasBaseline
from course_lib.baselines.ranking import (
    PopularityBaseline,
    RepeatLastCategoryBaseline,
    item_popularity,
)

__all__ = ["BiasBaseline", "PopularityBaseline", "RepeatLastCategoryBaseline", "item_popularity"]
