"""Tests for course_lib.data.vocab and course_lib.data.encode: ids to indices and back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from course_lib.data.encode import (
    Vocabularies,
    build_vocabularies,
    encode_log,
    item_category_table,
)
from course_lib.data.vocab import PAD, UNK, Vocabulary


@pytest.fixture
def log() -> pd.DataFrame:
    """A clean contract log with string row labels. Item 30 is seen 3 times, 10 and 20 twice
    (a tie), 40 once; item 30 is mostly in category 7, once in category 8."""
    return pd.DataFrame(
        {
            "user_id": [5, 5, 5, 9, 9, 9, 9, 2],
            "item_id": [30, 10, 30, 20, 30, 10, 20, 40],
            "category_id": [7, 7, 8, 8, 7, 7, 8, 9],
            "behavior": ["pv", "pv", "buy", "pv", "cart", "pv", "fav", "pv"],
            "timestamp": [100, 101, 102, 50, 60, 70, 80, 10],
        },
        index=[f"row{i}" for i in range(8)],
    )


# ---------------------------------------------------------------------------------- Vocabulary


def test_reserved_indices() -> None:
    assert (PAD, UNK) == (0, 1)
    vocabulary = Vocabulary(["a", "b"], "letters")
    assert len(vocabulary) == 4
    np.testing.assert_array_equal(vocabulary.encode(["a", "b"]), [2, 3])


def test_build_orders_by_frequency_then_by_id() -> None:
    vocabulary = Vocabulary.build(["b", "c", "a", "b", "c", "b", "d"], "letters")
    assert vocabulary.tokens == ["b", "c", "a", "d"]  # b 3x, c 2x, then a and d tied: by id


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_build_breaks_ties_the_same_way_whatever_the_input_order(seed: int) -> None:
    values = np.random.default_rng(seed).permutation([3, 1, 2, 1, 2, 3, 9, 9, 9, 5])
    assert Vocabulary.build(values, "ids").tokens == [9, 1, 2, 3, 5]


def test_build_min_count_drops_rare_ids_to_unk() -> None:
    vocabulary = Vocabulary.build([1, 1, 2, 3, 3, 3], "ids", min_count=2)
    assert vocabulary.tokens == [3, 1]
    np.testing.assert_array_equal(vocabulary.encode([1, 2, 3]), [3, UNK, 2])


def test_encode_maps_unseen_ids_to_unk_and_returns_int64() -> None:
    vocabulary = Vocabulary([10, 20], "ids")
    encoded = vocabulary.encode(np.array([20, 99, 10, -1]))
    np.testing.assert_array_equal(encoded, [3, UNK, 2, UNK])
    assert encoded.dtype == np.int64
    assert vocabulary.encode(pd.Series([10])).tolist() == [2]


def test_decode_inverts_encode_and_reserved_indices_decode_to_none() -> None:
    vocabulary = Vocabulary(["x", "y", "z"], "letters")
    decoded = vocabulary.decode([0, 1, 2, 3, 4])
    assert decoded.dtype == object
    assert decoded.tolist() == [None, None, "x", "y", "z"]
    assert vocabulary.decode(vocabulary.encode(["z", "x"])).tolist() == ["z", "x"]


def test_decode_of_nothing_is_empty() -> None:
    """An empty list (e.g. no recommendations yet) should decode to an empty array."""
    vocabulary = Vocabulary(["x"], "letters")
    assert vocabulary.decode(np.array([], dtype=np.int64)).tolist() == []
    assert vocabulary.decode([]).tolist() == []


@pytest.mark.parametrize("bad", [[4], [-1], [2, 7]])
def test_decode_out_of_range_raises_naming_the_vocabulary(bad: list[int]) -> None:
    vocabulary = Vocabulary(["x", "y"], "letters")
    with pytest.raises(IndexError, match=r"'letters' has indices 0\.\.3"):
        vocabulary.decode(bad)


def test_duplicate_tokens_raise() -> None:
    with pytest.raises(ValueError, match=r"'ids'.*unique.*\[2\]"):
        Vocabulary([1, 2, 3, 2], "ids")


@pytest.mark.parametrize(
    "tokens", [[30, 10, 20], ["pv", "fav"], [1_000_000_007, 5]], ids=["int", "str", "big"]
)
def test_save_load_round_trip_keeps_the_token_type(tmp_path, tokens: list) -> None:
    vocabulary = Vocabulary.build(pd.Series(tokens), "ids")
    path = tmp_path / "vocabulary.json"
    vocabulary.save(path)
    json.loads(path.read_text())  # plain JSON
    loaded = Vocabulary.load(path)
    assert loaded == vocabulary
    assert loaded.name == "ids"
    assert [type(t) for t in loaded.tokens] == [type(t) for t in tokens]
    np.testing.assert_array_equal(loaded.encode(tokens), vocabulary.encode(tokens))


def test_to_dict_is_made_of_plain_python_values() -> None:
    data = Vocabulary.build(np.array([7, 7, 3], dtype=np.int64), "ids").to_dict()
    assert data == {"name": "ids", "pad": 0, "unk": 1, "tokens": [7, 3]}
    assert all(type(t) is int for t in data["tokens"])


@pytest.mark.parametrize("reserved", [{"pad": 1, "unk": 0}, {"pad": 0, "unk": 2}, {}])
def test_from_dict_refuses_other_reserved_indices(reserved: dict) -> None:
    data = {"name": "ids", "tokens": [1, 2], **reserved}
    with pytest.raises(ValueError, match="'ids' was saved with pad="):
        Vocabulary.from_dict(data)


def test_equality() -> None:
    vocabulary = Vocabulary([1, 2], "ids")
    assert vocabulary == Vocabulary([1, 2], "ids")
    assert vocabulary != Vocabulary([2, 1], "ids")
    assert vocabulary != Vocabulary([1, 2], "other")
    assert vocabulary != Vocabulary(["1", "2"], "ids")
    assert vocabulary != Vocabulary([1, 2, 3], "ids")
    assert vocabulary != [1, 2]


# ------------------------------------------------------------------------------ Vocabularies


def test_build_vocabularies_keeps_the_funnel_order_of_behaviors(log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log)  # pv is the most frequent, buy the rarest
    assert vocabularies.behavior.tokens == ["pv", "fav", "cart", "buy"]
    np.testing.assert_array_equal(
        vocabularies.behavior.encode(["pv", "fav", "cart", "buy"]), [2, 3, 4, 5]
    )
    assert vocabularies.num_behaviors == 4


def test_build_vocabularies_orders_ids_by_frequency(log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log)
    assert vocabularies.user.tokens == [9, 5, 2]
    assert vocabularies.item.tokens == [30, 10, 20, 40]
    assert vocabularies.category.tokens == [7, 8, 9]
    assert [v.name for v in (vocabularies.user, vocabularies.item, vocabularies.category)] == [
        "user_id",
        "item_id",
        "category_id",
    ]


def test_min_item_count_only_affects_items(log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log, min_item_count=3)
    assert vocabularies.item.tokens == [30]
    assert vocabularies.user.tokens == [9, 5, 2]  # user 2 has one event and is kept
    assert vocabularies.category.tokens == [7, 8, 9]


def test_vocabularies_save_load_round_trip(tmp_path, log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log)
    path = tmp_path / "vocabularies.json"
    vocabularies.save(path)
    loaded = Vocabularies.load(path)
    for name in ("user", "item", "category", "behavior"):
        assert getattr(loaded, name) == getattr(vocabularies, name)
    assert loaded == vocabularies
    assert loaded.to_dict() == json.loads(json.dumps(vocabularies.to_dict()))


# -------------------------------------------------------------------------------- encode_log


def test_encode_log_keeps_index_and_timestamps(log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log)
    encoded = encode_log(log, vocabularies)
    assert list(encoded.columns) == ["user", "item", "category", "behavior", "timestamp"]
    assert (encoded.dtypes == np.int64).all()
    pd.testing.assert_index_equal(encoded.index, log.index)
    np.testing.assert_array_equal(encoded["timestamp"], log["timestamp"])
    np.testing.assert_array_equal(encoded["item"], [2, 3, 2, 4, 2, 3, 4, 5])
    np.testing.assert_array_equal(encoded["behavior"], [2, 2, 5, 2, 4, 2, 3, 2])
    for column, short in [("user_id", "user"), ("item_id", "item"), ("category_id", "category")]:
        vocabulary = getattr(vocabularies, short)
        np.testing.assert_array_equal(vocabulary.decode(encoded[short]), log[column])


def test_encode_log_with_foreign_vocabularies_maps_new_ids_to_unk(log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log.iloc[:3])  # user 5, items 30 and 10 only
    encoded = encode_log(log, vocabularies)
    assert (encoded.loc[log["user_id"] != 5, "user"] == UNK).all()
    assert (encoded.loc[~log["item_id"].isin([30, 10]), "item"] == UNK).all()
    assert (encoded.loc[log["item_id"] == 30, "item"] == 2).all()


# ----------------------------------------------------------------------- item_category_table


def test_item_category_table(log: pd.DataFrame) -> None:
    vocabularies = build_vocabularies(log)
    encoded = encode_log(log, vocabularies)
    table = item_category_table(encoded, len(vocabularies.item) + 2)  # two never-seen items
    category = vocabularies.category.encode
    assert table.dtype == np.int64
    assert len(table) == len(vocabularies.item) + 2
    assert table[PAD] == PAD
    assert table[UNK] == UNK
    item = vocabularies.item.encode
    assert table[item([30])[0]] == category([7])[0]  # 7 twice, 8 once: the most frequent
    assert table[item([10])[0]] == category([7])[0]
    assert table[item([20])[0]] == category([8])[0]
    assert table[item([40])[0]] == category([9])[0]
    assert (table[-2:] == UNK).all()


def test_item_category_table_ignores_unknown_items(log: pd.DataFrame) -> None:
    """Items mapped to UNK (here by min_item_count) do not give UNK a category."""
    vocabularies = build_vocabularies(log, min_item_count=3)
    encoded = encode_log(log, vocabularies)
    assert (encoded["item"] == UNK).sum() == 5
    table = item_category_table(encoded, len(vocabularies.item))
    np.testing.assert_array_equal(table, [PAD, UNK, vocabularies.category.encode([7])[0]])
