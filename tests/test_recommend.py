"""Top-K recommendation (``course_lib.recommendation``) on a tiny untrained ESMM model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.data.dataset import make_loader
from course_lib.data.pipeline import PreparedData
from course_lib.data.vocab import NUM_RESERVED
from course_lib.metrics import list_metrics, ranking_metrics
from course_lib.models import LSTMEncoder, MultiTaskModel, build_model
from course_lib.recommendation import (
    catalogue_table,
    held_out_items,
    history_lengths,
    predict,
    recommend,
)

D, H, MAX_LEN = 8, 12, 10
LIST_COLUMNS = ["user_id", "rank", "item_id", "category_id", "score", "p_click", "p_buy"]


@pytest.fixture(scope="module")
def model(tiny_model) -> MultiTaskModel:
    """An untrained ESMM with click, buy and next_item: random but fixed scores."""
    return tiny_model("esmm", LSTMEncoder(D, H), D).eval()


@pytest.fixture(scope="module")
def users(small_prepared: PreparedData) -> list:
    return small_prepared.vocabularies.user.tokens[:12]


def user_events(data: PreparedData, user_id: object) -> slice:
    """The flat positions of one user's events."""
    row = int(np.flatnonzero(data.sequences.users == data.vocabularies.user.encode([user_id]))[0])
    return slice(data.sequences.offsets[row], data.sequences.offsets[row + 1])


def direct_outputs(
    model: MultiTaskModel, data: PreparedData, user_id: object, items: np.ndarray
) -> dict[str, torch.Tensor]:
    """The model's plain forward pass on the user's last MAX_LEN events, one row per item."""
    events = user_events(data, user_id)
    window = slice(max(events.start, events.stop - MAX_LEN), events.stop)
    n = len(items)
    batch = {
        f"history_{name}": torch.from_numpy(getattr(data.sequences, name)[window]).repeat(n, 1)
        for name in ("item", "category", "behavior")
    }
    batch["lengths"] = torch.full((n,), window.stop - window.start)
    batch["candidate"] = torch.as_tensor(items)
    batch["candidate_category"] = torch.as_tensor(data.item_category[items])
    with torch.no_grad():
        return model(batch)


@pytest.mark.parametrize("score_task", ["next_item", "click", "buy"])
def test_lists_have_k_rows_per_user_sorted_by_score(model, small_prepared, users, score_task):
    lists = recommend(model, small_prepared, users, k=5, score_task=score_task, max_len=MAX_LEN)
    assert list(lists.columns) == LIST_COLUMNS
    assert lists["user_id"].tolist() == np.repeat(users, 5).tolist()
    assert lists["rank"].tolist() == [1, 2, 3, 4, 5] * len(users)
    for _, one in lists.groupby("user_id"):
        assert one["score"].is_monotonic_decreasing
        assert one["item_id"].is_unique
    assert lists[["score", "p_click", "p_buy"]].stack().between(0, 1).all()


def test_candidate_scores_match_a_direct_forward_pass_over_the_catalogue(
    model, small_prepared, users
):
    user = users[3]
    lists = recommend(
        model, small_prepared, [user], k=8, score_task="buy", exclude="none", max_len=MAX_LEN
    )
    catalogue = np.arange(NUM_RESERVED, len(small_prepared.vocabularies.item))
    p_buy = torch.sigmoid(direct_outputs(model, small_prepared, user, catalogue)["buy"])
    best = catalogue[p_buy.topk(8).indices.numpy()]
    assert lists["item_id"].tolist() == small_prepared.vocabularies.item.decode(best).tolist()
    np.testing.assert_allclose(lists["score"], p_buy.topk(8).values.numpy(), rtol=1e-5)
    np.testing.assert_allclose(lists["p_buy"], lists["score"], rtol=1e-5)


def test_ranking_scores_and_probabilities_match_a_direct_forward_pass(
    model, small_prepared, users
):
    user = users[5]
    lists = recommend(model, small_prepared, user, k=4, max_len=MAX_LEN)
    items = small_prepared.vocabularies.item.encode(lists["item_id"])
    outputs = direct_outputs(model, small_prepared, user, items)
    next_item = outputs["next_item"].softmax(dim=1)[0, items]  # every row has the same history
    np.testing.assert_allclose(lists["score"], next_item.numpy(), rtol=1e-5)
    np.testing.assert_allclose(lists["p_click"], torch.sigmoid(outputs["click"]), rtol=1e-5)
    np.testing.assert_allclose(lists["p_buy"], torch.sigmoid(outputs["buy"]), rtol=1e-5)


def test_candidate_scores_read_the_next_item_prior(small_prepared, users):
    torch.manual_seed(0)
    tasks = ["click", "buy", "next_item"]
    model = build_model(small_prepared, tasks, embed_dim=D, hidden_dim=H, next_item_prior=True)
    model.eval()
    with torch.no_grad():
        model.prior_weight["click"].fill_(3.0)  # a prior that moves the ranking
    user = users[2]
    lists = recommend(
        model, small_prepared, [user], k=6, score_task="click", exclude="none", max_len=MAX_LEN
    )
    items = small_prepared.vocabularies.item.encode(lists["item_id"])
    p_click = torch.sigmoid(direct_outputs(model, small_prepared, user, items)["click"])
    np.testing.assert_allclose(lists["score"], p_click.numpy(), rtol=1e-5)


def test_candidate_scoring_gives_the_model_back_unchanged(model, small_prepared, users):
    encoder, tasks = model.encoder, list(model.tasks)
    recommend(model, small_prepared, users[:2], k=3, score_task="click", chunk_rows=50)
    assert model.encoder is encoder
    assert model.tasks == tasks


def test_the_whole_catalogue_is_every_real_item_once(model, small_prepared, users):
    catalogue = len(small_prepared.vocabularies.item) - NUM_RESERVED
    lists = recommend(model, small_prepared, users[:2], k=catalogue, exclude="none")
    for _, one in lists.groupby("user_id"):
        indices = small_prepared.vocabularies.item.encode(one["item_id"])
        assert sorted(indices) == list(range(NUM_RESERVED, catalogue + NUM_RESERVED))


@pytest.mark.parametrize("exclude", ["bought", "interacted"])
def test_excluded_items_are_never_recommended(model, small_prepared, exclude):
    sequences, conversion = small_prepared.sequences, len(small_prepared.vocabularies.behavior) - 1
    buyers = np.unique(sequences.event_user[sequences.behavior == conversion])[:10]
    user_ids = small_prepared.vocabularies.user.decode(sequences.users[buyers])
    catalogue = len(small_prepared.vocabularies.item) - NUM_RESERVED
    lists = recommend(model, small_prepared, user_ids, k=catalogue - 200, exclude=exclude)
    for user_id, one in lists.groupby("user_id"):
        events = user_events(small_prepared, user_id)
        past = sequences.item[events]
        if exclude == "bought":
            past = past[sequences.behavior[events] == conversion]
        recommended = small_prepared.vocabularies.item.encode(one["item_id"])
        assert len(past) > 0
        assert not np.isin(recommended, past).any()


def test_until_test_stops_before_the_test_target(model, small_prepared, users):
    relevant = held_out_items(small_prepared, "test")
    assert relevant["user_id"].is_unique  # leave-last-out: one test target per user
    lengths_now = history_lengths(small_prepared, users)
    lengths_test = history_lengths(small_prepared, users, until="test")
    assert (lengths_test == lengths_now - 1).all()
    last_items = [small_prepared.sequences.item[user_events(small_prepared, u)][-1] for u in users]
    expected = small_prepared.vocabularies.item.decode(last_items).tolist()
    assert relevant.set_index("user_id").loc[users, "item_id"].tolist() == expected
    lists = recommend(model, small_prepared, users, k=3, until="test")
    assert len(lists) == 3 * len(users)


def test_catalogue_table_counts_training_targets(small_prepared):
    table = catalogue_table(small_prepared)
    assert len(table) == len(small_prepared.vocabularies.item) - NUM_RESERVED
    assert table["popularity"].sum() == len(small_prepared.split.train)
    assert table["item_id"].dtype == np.int64


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"user_ids": [-12345]}, "not in the prepared data"),
        ({"k": 10_000}, "catalogue size"),
        ({"score_task": "next_category"}, "has no task 'next_category'"),
        ({"exclude": "everything"}, "exclude must be"),
        ({"until": "yesterday"}, "until must be"),
    ],
)
def test_bad_arguments_name_the_problem(model, small_prepared, users, arguments, message):
    arguments = {"user_ids": users[:1], **arguments}
    with pytest.raises(ValueError, match=message):
        recommend(model, small_prepared, **arguments)


def test_test_lists_score_like_the_ranking_metrics_of_the_test_samples(model, small_prepared):
    test = small_prepared.test
    positives = np.flatnonzero(test.click > 0.5)[:60]
    batch = small_prepared.dataset("test", max_len=MAX_LEN).batch(positives)
    with torch.no_grad():
        reference = ranking_metrics(model(batch)["next_item"], batch["next_item"], ks=(50,))
    user_ids = small_prepared.vocabularies.user.decode(test.user[positives])
    lists = recommend(
        model, small_prepared, user_ids, k=50, exclude="none", until="test", max_len=MAX_LEN
    )
    relevant = held_out_items(small_prepared, "test")
    ours = list_metrics(lists, relevant[relevant["user_id"].isin(user_ids)], k=50)
    assert 0 < ours["HR@50"] < 1
    assert ours["HR@50"] == pytest.approx(reference["HR@50"])
    assert ours["NDCG@50"] == pytest.approx(reference["NDCG@50"])


# -------------------------------------------------------------------------------- predict


def test_predict_gives_every_task_per_sample_in_raw_ids(model, small_prepared) -> None:
    table = predict(model, small_prepared, "valid", max_len=MAX_LEN, batch_size=7)
    valid, vocab = small_prepared.valid, small_prepared.vocabularies
    assert list(table.columns) == [
        "event_index", "user_id", "item_id", "timestamp", "click", "buy", "next_item",
    ]  # fmt: skip
    assert len(table) == len(valid.user) and table["user_id"].dtype == np.int64
    np.testing.assert_array_equal(table["user_id"], vocab.user.decode(valid.user).astype(int))
    np.testing.assert_array_equal(table["item_id"], vocab.item.decode(valid.candidate).astype(int))
    np.testing.assert_array_equal(table["event_index"], valid.event_index)
    np.testing.assert_array_equal(
        table["timestamp"], small_prepared.sequences.timestamp[valid.target]
    )
    batch = small_prepared.dataset("valid", MAX_LEN).batch(np.arange(5))
    with torch.no_grad():
        outputs = model(batch)
    np.testing.assert_allclose(table["click"][:5], torch.sigmoid(outputs["click"]), rtol=1e-5)
    next_item = outputs["next_item"].softmax(-1).gather(1, batch["candidate"][:, None])
    np.testing.assert_allclose(table["next_item"][:5], next_item.squeeze(1), rtol=1e-5)
    assert table["buy"].between(0, 1).all() and (table["buy"] <= table["click"] + 1e-6).all()


def test_predict_spreads_a_multiclass_task_over_its_classes(small_prepared) -> None:
    model = build_model(small_prepared, ["click", "next_behavior"], embed_dim=D, hidden_dim=H)
    table = predict(model.eval(), small_prepared, "test", max_len=MAX_LEN)
    classes = [f"next_behavior={k}" for k in range(4)]
    assert list(table.columns[-4:]) == classes
    np.testing.assert_allclose(table[classes].sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="part must be 'train', 'valid' or 'test'"):
        predict(model, small_prepared, "holdout")


def test_a_catalogue_scorer_ranks_like_recommend(model, small_prepared) -> None:
    from course_lib.recommendation import catalogue_scorer
    from course_lib.training import evaluate_ranking

    loader = make_loader(small_prepared.dataset("test", MAX_LEN), 64)
    batch = next(iter(loader))
    scores = catalogue_scorer(model, "buy")(batch)
    assert scores.shape == (len(batch["user"]), len(small_prepared.vocabularies.item))
    assert torch.isinf(scores[:, :NUM_RESERVED]).all()
    user = int(batch["user"][0])
    user_id = small_prepared.vocabularies.user.decode([user])[0]
    # the first test sample's history is the user's events before the test target
    lists = recommend(model, small_prepared, [user_id], k=5, score_task="buy", exclude="none",
                      until="test", max_len=MAX_LEN)  # fmt: skip
    top = small_prepared.vocabularies.item.decode(scores[0].topk(5).indices.numpy())
    assert top.tolist() == lists["item_id"].tolist()
    metrics = evaluate_ranking(catalogue_scorer(model, "buy"), loader, "cpu")
    assert 0.0 <= metrics["HR@10"] <= 1.0 and 0.0 < metrics["MRR"] <= 1.0
