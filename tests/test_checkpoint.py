"""Checkpoints: round trip for every architecture, safe loading, clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from course_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_lib.data import TAOBAO_BEHAVIORS, Vocabularies, Vocabulary
from course_lib.models import (
    ARCHITECTURES,
    ESMMSettings,
    MMoESettings,
    MultiTaskConfig,
    MultiTaskModel,
    PLESettings,
    SharedBottomSettings,
    build_model,
)
from course_lib.tasks import Task, standard_tasks

VOCABULARIES = Vocabularies(
    user=Vocabulary(list(range(100, 110)), "user_id"),
    item=Vocabulary(list(range(500, 520)), "item_id"),
    category=Vocabulary([7, 8, 9], "category_id"),
    behavior=Vocabulary(list(TAOBAO_BEHAVIORS), "behavior"),
)
CONFIG = MultiTaskConfig(22, 5, 6, embed_dim=8, hidden_dim=8, tower_dims=(8,))
SETTINGS = {
    "shared_bottom": SharedBottomSettings(bottom_dims=(16,)),
    "mmoe": MMoESettings(),
    "ple": PLESettings(),
    "esmm": ESMMSettings(bottom_dims=(16,)),
}
TASKS = list(standard_tasks(22, 5, 4).values())[:3]  # click, buy, next_behavior
ENCODER = "gru"


def make_model(
    architecture: str = "mmoe",
    tasks: list[Task] = TASKS,
    next_item_prior: bool = False,
    pair_biases: bool = False,
) -> MultiTaskModel:
    torch.manual_seed(0)
    return build_model(
        VOCABULARIES,
        tasks,
        architecture=architecture,
        encoder=ENCODER,
        embed_dim=CONFIG.embed_dim,
        hidden_dim=CONFIG.hidden_dim,
        tower_dims=CONFIG.tower_dims,
        next_item_prior=next_item_prior,
        pair_biases=pair_biases,
        settings=SETTINGS[architecture],
        item_category=torch.tensor([0, 1, *([2, 3, 4] * 7)[:20]]),
    )


def make_batch(size: int = 6) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    items = torch.randint(2, 22, (size, 4), generator=generator)
    return {
        "history_item": items,
        "history_category": items % 3 + 2,
        "history_behavior": torch.randint(2, 6, (size, 4), generator=generator),
        "lengths": torch.tensor([4, 1, 2, 3, 4, 4])[:size],
        "candidate": items[:, 0],
        "candidate_category": items[:, 0] % 3 + 2,
        "user": torch.randint(2, 12, (size,), generator=generator),
    }


def assert_same_predictions(model: MultiTaskModel, loaded: MultiTaskModel) -> None:
    """Both models give exactly the same outputs on the same batch."""
    batch = make_batch()
    with torch.no_grad():
        expected, actual = model(batch), loaded(batch)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0)


def save(path, model, architecture="mmoe", **changes) -> None:
    save_checkpoint(
        path,
        model,
        architecture=architecture,
        encoder=ENCODER,
        vocabularies=VOCABULARIES,
        **changes,
    )


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_round_trip_gives_identical_predictions(tmp_path, architecture) -> None:
    model = make_model(architecture).eval()
    save(tmp_path / "model.pt", model, architecture, metrics={"click": {"roc_auc": 0.7}})
    loaded = load_checkpoint(tmp_path / "model.pt", vocabularies=VOCABULARIES)
    assert loaded.config == CONFIG and loaded.tasks == TASKS and not loaded.model.training
    assert loaded.vocabularies == VOCABULARIES and loaded.metrics == {"click": {"roc_auc": 0.7}}
    assert_same_predictions(model, loaded.model)


def test_the_file_holds_only_plain_types(tmp_path) -> None:
    save(tmp_path / "model.pt", make_model())
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    assert checkpoint["architecture"] == "mmoe" and checkpoint["encoder"] == ENCODER
    assert checkpoint["config"] == dataclasses.asdict(CONFIG)
    assert checkpoint["settings"] == dataclasses.asdict(SETTINGS["mmoe"])
    assert checkpoint["tasks"][0]["name"] == "click"


def test_a_different_vocabulary_is_refused_with_what_differs(tmp_path) -> None:
    save(tmp_path / "model.pt", make_model())
    items = list(range(500, 520))
    items[3] = 999
    other = dataclasses.replace(VOCABULARIES, item=Vocabulary(items, "item_id"))
    with pytest.raises(ValueError, match=r"item vocabulary") as error:
        load_checkpoint(tmp_path / "model.pt", vocabularies=other)
    message = str(error.value)
    assert "20 ids" in message and "index 5: 503" in message and "999" in message
    assert "Fix" in message and "retrain" in message


def test_names_that_do_not_match_the_model_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"MMoEModel was not built as 'ple'"):
        save(tmp_path / "model.pt", make_model("mmoe"), architecture="ple")
    with pytest.raises(ValueError, match=r"GRUEncoder was not built as 'lstm'"):
        save_checkpoint(
            tmp_path / "model.pt",
            make_model(),
            architecture="mmoe",
            encoder="lstm",
            vocabularies=VOCABULARIES,
        )
    assert not (tmp_path / "model.pt").exists()


def test_missing_file_and_edited_config_fail_clearly(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nowhere.pt")
    checkpoint_path = tmp_path / "model.pt"
    save(checkpoint_path, make_model())
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    checkpoint["config"]["hidden_dim"] = 16  # as if someone edited the file
    torch.save(checkpoint, checkpoint_path)
    with pytest.raises(ValueError, match="do not fit the saved 'mmoe' config"):
        load_checkpoint(checkpoint_path)


def test_round_trip_keeps_the_next_item_prior(tmp_path) -> None:
    known = standard_tasks(22, 5, 4)
    tasks = [known["click"], known["buy"], known["next_item"]]
    model = make_model("shared_bottom", tasks, next_item_prior=True).eval()
    with torch.no_grad():
        model.prior_weight["click"].fill_(0.5)  # a learned weight, not the initial 1
    save(tmp_path / "model.pt", model, "shared_bottom")
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.config.next_item_prior and loaded.model.prior_weight["click"].item() == 0.5
    assert_same_predictions(model, loaded.model)


def test_round_trip_keeps_the_pair_biases(tmp_path) -> None:
    model = make_model("esmm", pair_biases=True).eval()
    with torch.no_grad():  # learned offsets, not the initial zeros
        model.user_offset.weight.normal_()
        model.item_offset.weight.normal_()
    save(tmp_path / "model.pt", model, "esmm")
    loaded = load_checkpoint(tmp_path / "model.pt", vocabularies=VOCABULARIES)
    assert loaded.config.pair_biases and loaded.config.num_users == len(VOCABULARIES.user)
    assert_same_predictions(model, loaded.model)


def test_a_checkpoint_from_before_a_weight_was_added_loads_with_its_start_value(tmp_path) -> None:
    path = tmp_path / "model.pt"
    save(path, make_model())
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["state_dict"]["encoder.empty_state"]  # as written before empty histories
    torch.save(checkpoint, path)
    loaded = load_checkpoint(path)
    assert (loaded.model.encoder.empty_state == 0).all()
    del checkpoint["state_dict"]["encoder.gru.weight_hh_l0"]  # any other weight: refused
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"missing weights \['encoder.gru.weight_hh_l0'\]"):
        load_checkpoint(path)


class _RunsCodeWhenUnpickled:
    """Unpickling this calls Path.write_text: the kind of object weights_only=True refuses."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).write_text, (self.marker, "the code ran"))


def test_a_file_holding_code_is_refused_without_running_it(tmp_path) -> None:
    save(tmp_path / "model.pt", make_model())
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    marker = tmp_path / "marker.txt"
    checkpoint["metrics"] = _RunsCodeWhenUnpickled(marker)
    torch.save(checkpoint, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="could run code when loaded") as error:
        load_checkpoint(tmp_path / "model.pt")
    assert str(tmp_path / "model.pt") in str(error.value)
    assert not marker.exists()
