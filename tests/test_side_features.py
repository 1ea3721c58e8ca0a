"""Side features: declared once (``Feature``), encoded by ``prepare``, read by every model.

The log comes from the simulator with user attributes (age group, region, membership) and item
prices; a multi-valued item feature ("tags") is added to the items table by hand.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.checkpoint import load_checkpoint, save_checkpoint
from course_lib.cli import main
from course_lib.data import PAD, UNK
from course_lib.data.features import Feature, encode_features
from course_lib.data.io import write_log
from course_lib.data.pipeline import PreparedData, prepare
from course_lib.data.split import time_cut
from course_lib.models import build_model
from course_lib.recommendation import recommend
from course_lib.simulate import Simulation, SimulatorConfig, simulate

CONFIG = SimulatorConfig(
    num_users=300,
    num_items=150,
    num_categories=8,
    events_per_user=30,
    max_events_per_user=120,
    attribute_strength=0.6,
    seed=5,
)
TAGS = np.array(["", "cheap", "new|cheap", "new|cheap|loud", "loud"])
FEATURES = (
    Feature("user_id", "user"),
    Feature("age_group", "user"),
    Feature("member", "user", column="is_member"),
    Feature("price", "item", "numeric"),
    Feature("tags", "item", "multi"),
)
TASKS = ["click", "buy", "next_item"]


@pytest.fixture(scope="module")
def world() -> Simulation:
    return simulate(CONFIG)


def items_table(world: Simulation) -> pd.DataFrame:
    items = world.items.copy()
    items["tags"] = TAGS[np.arange(len(items)) % len(TAGS)]  # row r: TAGS[r % 5]
    return items


@pytest.fixture(scope="module")
def data(world: Simulation) -> PreparedData:
    start, end = CONFIG.window
    return prepare(
        world.log,
        start=start,
        end=end,
        features=FEATURES,
        users=world.users,
        items=items_table(world),
    )


def test_every_feature_is_a_table_indexed_by_the_vocabulary(data, world) -> None:
    side, vocab = data.features, data.vocabularies
    assert side.names == tuple(feature.name for feature in FEATURES)
    assert side.tables["age_group"].shape == (len(vocab.user),)
    assert side.tables["price"].dtype == np.float32
    assert side.tables["tags"].shape == (len(vocab.item), 3)  # the most tags of one item
    user_ids = np.asarray(vocab.user.tokens)
    truth = world.users.set_index("user_id").loc[user_ids, "age_group"].to_numpy()
    decoded = side.vocabularies["age_group"].decode(side.tables["age_group"][2:])
    assert decoded.tolist() == truth.tolist()
    prices = world.items.set_index("item_id").loc[vocab.item.tokens, "price"].to_numpy()
    standard = (prices - prices.mean()) / prices.std()
    np.testing.assert_allclose(side.tables["price"][2:], standard, rtol=1e-5)
    tags = side.vocabularies["tags"]
    item = vocab.item.encode([world.items["item_id"][3]])[0]  # "new|cheap|loud"
    assert sorted(tags.decode(side.tables["tags"][item])) == ["cheap", "loud", "new"]
    untagged = vocab.item.encode([world.items["item_id"][0]])[0]  # "": no value, so unknown
    assert side.tables["tags"][untagged].tolist() == [UNK, PAD, PAD]
    for name in ("age_group", "member", "price", "user_id"):
        assert side.tables[name][PAD] == 0
    assert set(side.missing.values()) == {0}


def test_a_missing_row_or_value_is_counted_and_kept_as_unknown(data, world) -> None:
    users = world.users.iloc[5:].copy()  # the first five users lack a row
    users.loc[users.index[:3], "age_group"] = None  # three lack the value
    side = encode_features([Feature("age_group", "user")], data.vocabularies, users=users)
    logged = np.asarray(data.vocabularies.user.tokens)
    lacking = np.isin(logged, world.users["user_id"][:8]).sum()
    assert lacking >= 6  # the log has most of these eight users
    assert side.missing["age_group"] == lacking
    assert (side.tables["age_group"] == UNK).sum() == lacking + 1  # and the UNK user itself


def test_cold_start_users_share_the_unknown_id(world) -> None:
    start, end = CONFIG.window
    cut = start + (end - start) * 3 // 10  # a user who joins later has no training sample
    data = prepare(
        world.log,
        start=start,
        end=end,
        splitter=lambda sequences: time_cut(sequences, valid_start=cut, test_start=cut + 86_400),
        features=[Feature("user_id", "user")],
    )
    table = data.features.tables["user_id"]
    trained = np.unique(data.train.user)
    cold = np.setdiff1d(np.arange(2, len(table)), trained)
    assert len(cold) > 0  # some users join after the cut
    assert (table[cold] == UNK).all()
    np.testing.assert_array_equal(table[trained], trained)


def test_bad_declarations_are_refused(data) -> None:
    with pytest.raises(ValueError, match="bad \\['source'\\]"):
        Feature("age", "session")
    with pytest.raises(ValueError, match="bad \\['name', 'kind'\\]"):
        Feature("age group", "user", "ordinal")
    with pytest.raises(ValueError, match=r"unknown side feature.*'gender'"):
        build_model(data, TASKS, features=["gender"])


@pytest.mark.parametrize("architecture", ["shared_bottom", "mmoe", "ple", "esmm"])
def test_a_model_reads_its_features_and_without_them_is_the_model_it_was(
    data, architecture
) -> None:
    batch = data.dataset("train", max_len=8).batch(np.arange(64))
    torch.manual_seed(0)
    plain = build_model(data, TASKS, architecture=architecture, embed_dim=8, hidden_dim=8)
    torch.manual_seed(0)
    model = build_model(
        data,
        TASKS,
        architecture=architecture,
        embed_dim=8,
        hidden_dim=8,
        features=data.features.names,
    )
    plain.eval(), model.eval()
    with torch.no_grad():
        expected, read = plain(batch), model(batch)
        for name in TASKS:
            assert not torch.allclose(read[name], expected[name])
        missing, _ = model.load_state_dict(plain.state_dict(), strict=False)
        assert {key.split(".")[0] for key in missing} == {"side_features"}
        for parameter in model.side_features.parameters():
            parameter.zero_()  # features that add nothing: the plain model's outputs
        for name, output in model(batch).items():
            torch.testing.assert_close(output, expected[name], atol=0, rtol=0)


def test_padding_adds_nothing_and_a_multi_valued_feature_is_the_mean(data, world) -> None:
    torch.manual_seed(0)
    model = build_model(data, TASKS, embed_dim=8, hidden_dim=8, features=["tags", "price"])
    side = model.side_features
    with torch.no_grad():
        assert side.items(torch.tensor([PAD])).abs().sum() == 0
        item = int(data.vocabularies.item.encode([world.items["item_id"][2]])[0])  # "new|cheap"
        codes = data.features.vocabularies["tags"].encode(["new", "cheap"])
        tags = side.embeddings["tags"].weight[codes].mean(0)
        price = side.embeddings["price"].weight[:, 0] * data.features.tables["price"][item]
        torch.testing.assert_close(side.items(torch.tensor([item]))[0], tags + price)


def test_features_survive_a_checkpoint_and_recommendations_read_them(data, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(
        data, TASKS, embed_dim=8, hidden_dim=8, features=data.features.names, pair_biases=True
    ).eval()
    with torch.no_grad():  # offsets that differ per user and item, so the test can see them
        model.user_offset.weight.normal_()
        model.item_offset.weight.normal_()
    save_checkpoint(
        tmp_path / "model.pt",
        model,
        architecture="shared_bottom",
        encoder="lstm",
        vocabularies=data.vocabularies,
    )
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.config.features == model.config.features
    batch = data.dataset("test", max_len=50).batch(np.arange(40))
    with torch.no_grad():
        for name, output in loaded.model(batch).items():
            torch.testing.assert_close(output, model(batch)[name])
    user = data.vocabularies.user.tokens[7]
    lists = recommend(model, data, [user], k=5, score_task="click", exclude="none")
    items = data.vocabularies.item.encode(lists["item_id"])
    row = int(np.flatnonzero(data.sequences.users == data.vocabularies.user.encode([user]))[0])
    end = data.sequences.offsets[row + 1]
    start = max(data.sequences.offsets[row], end - 50)
    direct = {  # the user's last 50 events, once per listed item
        f"history_{name}": torch.from_numpy(
            getattr(data.sequences, name)[start:end].astype(np.int64)
        ).repeat(5, 1)
        for name in ("item", "category", "behavior")
    }
    direct["lengths"] = torch.full((5,), end - start)
    direct["user"] = torch.full((5,), int(data.sequences.users[row]))
    direct["candidate"] = torch.as_tensor(items)
    direct["candidate_category"] = torch.as_tensor(data.item_category[items])
    with torch.no_grad():
        p_click = torch.sigmoid(model(direct)["click"])
    np.testing.assert_allclose(lists["score"], p_click.numpy(), rtol=1e-5)


def test_an_unknown_value_starts_as_no_information(data) -> None:
    torch.manual_seed(0)
    model = build_model(data, TASKS, embed_dim=8, hidden_dim=8, features=["user_id", "tags"])
    for name in ("user_id", "tags"):
        weight = model.side_features.embeddings[name].weight
        assert weight[UNK].abs().sum() == 0 and weight[PAD].abs().sum() == 0
        assert weight[UNK + 1 :].abs().sum() > 0


def test_the_command_line_trains_with_side_features_from_files(tmp_path, world) -> None:
    log_path, users_path, items_path = (tmp_path / name for name in ("log.csv", "u.csv", "i.csv"))
    write_log(world.log, log_path)
    world.users.to_csv(users_path, index=False)
    items_table(world).to_csv(items_path, index=False)
    arguments = ["train", "--data", str(log_path), "--users", str(users_path)]
    arguments += ["--items", str(items_path), "--tasks", "click,next_item"]
    arguments += ["--features", "age_group:user,is_member:user,price:item:numeric,tags:item:multi"]
    arguments += ["--epochs", "1", "--max-steps-per-epoch", "2", "--embed-dim", "8"]
    arguments += ["--hidden-dim", "8", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(arguments) == 0
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["options"]["features"][2] == "price:item:numeric"
    assert [spec["name"] for spec in report["config"]["features"]] == [
        "age_group", "is_member", "price", "tags"
    ]  # fmt: skip
    loaded = load_checkpoint(tmp_path / "run" / "model.pt")
    assert [spec.kind for spec in loaded.config.features][2:] == ["numeric", "multi"]


def test_the_bundled_log_brings_its_own_side_tables(tmp_path) -> None:
    arguments = ["train", "--features", "is_member:user,price:item:numeric,user_id:user"]
    arguments += ["--tasks", "click,buy", "--epochs", "1", "--max-steps-per-epoch", "2"]
    arguments += ["--embed-dim", "8", "--hidden-dim", "8", "--no-progress"]
    assert main([*arguments, "--out", str(tmp_path / "run")]) == 0
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(report["config"]["features"]) == 3


def test_a_config_file_trains_the_full_model_on_a_ratings_file(tmp_path) -> None:
    rated = simulate(dataclasses.replace(CONFIG, rating_rate=1.0))
    files = {name: tmp_path / f"{name}.csv" for name in ("ratings", "users", "items")}
    write_log(rated.log, files["ratings"])
    rated.users.to_csv(files["users"], index=False)
    rated.items.to_csv(files["items"], index=False)
    config = {
        "data": str(files["ratings"]),
        "users": str(files["users"]),
        "items": str(files["items"]),
        "feedback": "explicit",
        "tasks": "like,rating,next_item",
        "features": "age_group:user,region:user,price:item:numeric,user_id:user",
        "pair-biases": True,
        "history-values": True,
        "epochs": 1,
        "max-steps-per-epoch": 2,
        "embed-dim": 8,
        "hidden-dim": 8,
        "no-progress": True,
        "out": str(tmp_path / "run"),
    }
    (tmp_path / "full.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "full.json")]) == 0
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(report["test"]) == {"like", "rating", "next_item"}
    assert len(report["config"]["features"]) == 4 and report["config"]["pair_biases"]
