"""The command line ``python -m course_lib train``: a real run in a subprocess, options, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from course_lib.checkpoint import load_checkpoint
from course_lib.cli import main, parse_args, read_data
from course_lib.data import read_log, write_log
from course_lib.simulate import SimulatorConfig, simulate

# The toy logs here have few validation positives on purpose: fit's warning about it is
# expected (tests/test_bad_input.py checks that it is given).
pytestmark = pytest.mark.filterwarnings("ignore:task .* the validation set holds:UserWarning")

REPOSITORY = Path(__file__).resolve().parents[1]
OPTIONS = [
    "--architecture",
    "--encoder",
    "--tasks",
    "--epochs",
    "--batch-size",
    "--lr",
    "--lr-schedule",
    "--ema-decay",
    "--next-item-prior",
    "--pair-biases",
    "--history-values",
    "--scenario-design",
    "--num-negatives",
    "--max-len",
    "--embed-dim",
    "--hidden-dim",
    "--seed",
    "--device",
    "--max-steps-per-epoch",
    "--data",
    "--format",
    "--sep",
    "--encoding",
    "--behaviors",
    "--config",
    "--out",
    "--no-progress",
    "--compile",
]


def test_train_writes_metrics_and_a_loadable_checkpoint(tmp_path, log_file) -> None:
    """Options come from --config, and a flag on the command line overrides the file."""
    config = {"epochs": 3, "embed-dim": 8, "hidden_dim": 8, "batch_size": 64, "encoder": "gru"}
    (tmp_path / "options.json").write_text(json.dumps(config))
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "course_lib",
        "train",
        "--data",
        str(log_file),
        "--config",
        str(tmp_path / "options.json"),
        "--epochs",
        "1",
        "--max-steps-per-epoch",
        "5",
        "--out",
        str(out),
        "--no-progress",
    ]
    env = os.environ | {"OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "roc_auc" in done.stdout and "next_behavior" in done.stdout
    report = json.loads((out / "metrics.json").read_text())
    assert report["options"]["epochs"] == 1 and len(report["history"]) == 1  # the flag won
    assert report["options"]["encoder"] == "gru" and report["config"]["embed_dim"] == 8
    assert set(report["test"]) == {"click", "buy", "next_behavior"}
    assert 0.0 <= report["test"]["click"]["roc_auc"] <= 1.0
    loaded = load_checkpoint(out / "model.pt")
    assert loaded.config.hidden_dim == 8 and [t.name for t in loaded.tasks] == list(report["test"])
    assert loaded.metrics == report["test"]
    assert report["bayes_limit"] is None  # a log from a file has no simulator behind it


def test_on_the_bundled_log_the_auc_is_reported_as_a_fraction_of_the_bayes_limit(
    tmp_path, capsys
) -> None:
    arguments = ["train", "--tasks", "buy,click", "--epochs", "1", "--max-steps-per-epoch"]
    arguments += ["3", "--embed-dim", "8", "--hidden-dim", "8", "--max-len", "5"]
    arguments += ["--ema-decay", "0.9", "--num-negatives", "2", "--pair-biases"]
    assert main([*arguments, "--no-progress", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["options"]["ema_decay"] == 0.9 and report["config"]["pair_biases"]
    assert report["options"]["num_negatives"] == 2 and report["seconds"]["train"] > 0
    for task in ("click", "buy"):
        limit = report["bayes_limit"][task]
        assert 0.95 < limit["auc"] < 0.99  # the truth's AUC on the bundled test samples
        assert limit["fraction"] == pytest.approx(report["test"][task]["roc_auc"] / limit["auc"])
    click = report["bayes_limit"]["click"]
    assert f"x the Bayes limit {click['auc']:.4f}" in capsys.readouterr().out


def test_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tasks", "click,bye"], "unknown task(s) ['bye']"),
        (["--architecture", "transformer"], "invalid choice"),
        (["--config", "missing.json"], "--config missing.json"),
        (["--next-item-prior"], "--next-item-prior needs next_item in --tasks"),
        (["--ema-decay", "1"], "--ema-decay: 1.0: choose a value between 0 and 1"),
        (["--num-negatives", "0"], "--num-negatives: 0 is not a positive whole number"),
    ],
)
def test_bad_options_exit_with_status_2(capsys, arguments, message) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", *arguments])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_config_key_and_missing_data_exit_with_status_2(tmp_path, capsys) -> None:
    (tmp_path / "options.json").write_text(json.dumps({"epoch": 2}))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--config", str(tmp_path / "options.json")])
    assert exit_.value.code == 2 and "unknown options ['epoch']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # before any work
        main(["train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "nope.csv: no such file" in capsys.readouterr().err


def test_a_choice_read_from_a_config_file_is_checked_too(tmp_path, capsys) -> None:
    (tmp_path / "options.json").write_text(json.dumps({"lr_schedule": "linear"}))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--config", str(tmp_path / "options.json")])
    assert exit_.value.code == 2
    assert "--lr-schedule 'linear': choose from ['constant', 'cosine']" in capsys.readouterr().err


def test_the_strongest_recipe_in_configs_is_a_valid_config() -> None:
    """configs/strongest.json (README, "The strongest model") parses, every option known."""
    recipe = Path(__file__).resolve().parents[1] / "configs" / "strongest.json"
    args = parse_args(["train", "--config", str(recipe)])
    assert args.tasks == ["click", "buy", "next_item"] and args.max_len == 50
    assert args.next_item_prior and args.ema_decay == 0.999


def _reject_nan(constant: str) -> float:
    raise ValueError(f"metrics.json holds {constant}, which strict JSON readers reject")


def test_a_log_with_its_own_funnel_trains_and_writes_strict_json(tmp_path, log_file) -> None:
    """A three-behavior log (RetailRocket's names) trains with --behaviors; no NaN in the JSON."""
    log = pd.read_csv(log_file)
    renamed = {"pv": "view", "fav": "addtocart", "cart": "addtocart", "buy": "transaction"}
    log["behavior"] = log["behavior"].map(renamed)
    path = tmp_path / "funnel.csv"
    funnel = "view,addtocart,transaction"
    write_log(log, path, behaviors=funnel.split(","))
    arguments = ["train", "--data", str(path), "--behaviors", funnel, "--out", str(tmp_path)]
    arguments += ["--epochs", "1", "--max-steps-per-epoch", "3", "--embed-dim", "8"]
    arguments += ["--hidden-dim", "8", "--device", "cpu", "--no-progress"]
    assert main(arguments) == 0
    report = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=_reject_nan)
    assert report["options"]["behaviors"] == funnel.split(",")
    assert set(report["test"]) == {"click", "buy", "next_behavior"}
    assert load_checkpoint(tmp_path / "model.pt").vocabularies.behaviors == tuple(
        funnel.split(",")
    )


def test_a_log_outside_the_funnel_exits_with_status_2(tmp_path, log_file, capsys) -> None:
    """The default Taobao funnel refuses RetailRocket's behavior names, and says which."""
    log = pd.read_csv(log_file)
    log["behavior"] = log["behavior"].replace({"pv": "view"})
    path = tmp_path / "views.csv"
    write_log(log, path, behaviors=("view", "fav", "cart", "buy"))
    assert main(["train", "--data", str(path), "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "views.csv" in error and "'view'" in error


def test_format_taobao_reads_a_headerless_file_with_its_reader(tmp_path, log_file) -> None:
    """--format taobao goes through read_taobao_user_behavior; --sep and --encoding reach it."""
    log = pd.read_csv(log_file)
    path = tmp_path / "UserBehavior.csv"
    log.to_csv(path, header=False, index=False, sep="\t")
    args = parse_args(["train", "--data", str(path), "--format", "taobao", "--sep", "\t"])
    pd.testing.assert_frame_equal(read_data(args), read_log(log_file))
    with pytest.raises(SystemExit):  # the funnel is Taobao's
        parse_args(["train", "--data", str(path), "--format", "taobao", "--behaviors", "a,b"])


def test_a_log_with_scenarios_trains_a_scenario_aware_model(tmp_path) -> None:
    config = SimulatorConfig(
        num_users=120, num_items=80, num_categories=6, events_per_user=20, num_scenarios=2
    )
    log_file = tmp_path / "surfaces.csv"
    write_log(simulate(config).log, log_file)
    arguments = ["train", "--data", str(log_file), "--tasks", "click,buy", "--epochs", "1"]
    arguments += ["--max-steps-per-epoch", "2", "--embed-dim", "8", "--hidden-dim", "8"]
    arguments += ["--scenario-design", "star"]
    assert main([*arguments, "--no-progress", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["config"]["scenario_design"] == "star" and report["config"]["num_scenarios"] == 4
    loaded = load_checkpoint(tmp_path / "out" / "model.pt")
    assert sorted(loaded.vocabularies.scenario.tokens) == ["home", "search"]


def test_a_scenario_design_needs_a_log_with_scenarios(tmp_path, capsys) -> None:
    arguments = ["train", "--scenario-design", "embedding", "--out", str(tmp_path)]
    assert main(arguments) != 0
    message = capsys.readouterr().err
    assert "no scenario column" in message and "or --scenario-design none" in message
