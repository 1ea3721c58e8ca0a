"""What recommendation lists are judged against: the held-out items of each user, and the
catalogue with its training popularity (notebook 06).

Both are DataFrames of raw ids, so they join directly with ``recommend``'s lists and feed the
list metrics of ``course_lib.metrics`` (``list_metrics``, ``popularity_bias``, ...).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from course_lib.baselines import item_popularity
from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import NUM_RESERVED


def held_out_items(data: PreparedData, part: Literal["valid", "test"] = "test") -> pd.DataFrame:
    """The items each user turns to in a held-out part: the relevant items of their list.

    Leave-last-out gives one item per user; a time cut gives every item of the user's events
    after it, so a user can have several. Repeats of the same item count once.

    Returns:
        A frame with columns user_id, item_id (raw ids), one row per distinct pair.
    """
    if part not in ("valid", "test"):
        raise ValueError(f"part must be 'valid' or 'test' (a held-out part), got {part!r}")
    targets = getattr(data.split, part)
    sequences, vocab = data.sequences, data.vocabularies
    pairs = pd.DataFrame(
        {
            "user_id": vocab.user.decode(sequences.users[sequences.event_user[targets]]),
            "item_id": vocab.item.decode(sequences.item[targets]),
        }
    )
    return pairs.infer_objects().drop_duplicates().reset_index(drop=True)


def catalogue_table(data: PreparedData) -> pd.DataFrame:
    """Every recommendable item with its category and its training popularity.

    Popularity is the number of training targets on the item (``data.split.train``): what a
    model saw during training, so the test part does not leak into popularity-bias numbers.

    Returns:
        A frame with columns item_id, category_id (raw ids) and popularity, one row per item
        (PAD and UNK left out).
    """
    vocab, num_items = data.vocabularies, len(data.vocabularies.item)
    items = np.arange(NUM_RESERVED, num_items)
    popularity = item_popularity(data.sequences.item[data.split.train], num_items)
    return pd.DataFrame(
        {
            "item_id": vocab.item.decode(items),
            "category_id": vocab.category.decode(data.item_category[items]),
            "popularity": popularity[NUM_RESERVED:].numpy().astype(np.int64),
        }
    ).infer_objects()  # raw ids as int64 (or str), not object
