"""Training on several processes (``course_lib.distributed``) and ``fit(compile=True)``.

Two CPU processes talk over gloo on 127.0.0.1, started with ``torch.multiprocessing.spawn``
and the variables torchrun would set; each runs the command line's ``main``, as under
``torchrun --nproc_per_node=2 -m course_lib train``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import socket
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from course_lib.checkpoint import load_checkpoint
from course_lib.cli import main
from course_lib.distributed import (
    DistributedSetupError,
    ShardedBatches,
    check_supported,
    per_process_batch_size,
    process_device,
    shard_batch,
    torchrun_ranks,
)
from course_lib.distributed.replica import no_buffer_sync_option
from course_lib.tasks import Task
from course_lib.training import (
    DynamicWeightAverage,
    FixedWeights,
    GradNorm,
    PCGrad,
    PerTaskLearningRates,
    UncertaintyWeighting,
)
from course_lib.training.options import TrainOptions
from course_lib.training.trainer import FitResult, fit

# The toy logs here have few validation positives on purpose: fit's warning about it is
# expected (tests/test_bad_input.py checks that it is given).
pytestmark = pytest.mark.filterwarnings("ignore:task .* the validation set holds:UserWarning")

WORLD_SIZE = 2
STEPS = 6  # per epoch, two epochs
# the click and buy losses are plain means over the batch, so the average of the two
# processes' gradients is the whole batch's gradient up to float rounding (next_behavior
# averages over the clicked samples, which differ in number between the two halves)
ARGUMENTS = ["train", "--tasks", "click,buy", "--epochs", "2", "--max-steps-per-epoch"]
ARGUMENTS += [str(STEPS), "--batch-size", "64", "--embed-dim", "8", "--hidden-dim", "8"]
ARGUMENTS += ["--device", "cpu", "--no-progress"]
# not bit for bit: the all-reduce adds two half-batch gradients, one process sums the rows in
# another order, and the float rounding differs. Measured: 6e-8 in the history, 3e-6 in the
# test click AUC; 1e-4 leaves a margin for other CPUs
TOLERANCE = 1e-4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _compare_replicas(agree: list[bool], optimizer: torch.optim.Optimizer, *_) -> None:
    """After each optimizer step: do all processes hold bit-identical parameters?"""
    flat = torch.cat([p.detach().flatten() for g in optimizer.param_groups for p in g["params"]])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    agree.append(all(torch.equal(gathered[0], other) for other in gathered[1:]))


def _worker(rank: int, port: int, arguments: list[str], folder: Path) -> None:
    """One process of the job: the environment torchrun sets, then the command line."""
    os.environ |= {"RANK": str(rank), "WORLD_SIZE": str(WORLD_SIZE), "LOCAL_RANK": str(rank)}
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    agree: list[bool] = []
    hook = register_optimizer_step_post_hook(functools.partial(_compare_replicas, agree))
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        status = main([*arguments, "--out", str(folder / f"rank{rank}")])
    hook.remove()
    result = {"status": status, "stdout": stdout.getvalue(), "replicas_agree": agree}
    (folder / f"rank{rank}.json").write_text(json.dumps(result))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, log_file) -> Path:
    """The folder of a 2-process run: ``rank{r}.json`` from each, ``rank0/`` its files."""
    folder = tmp_path_factory.mktemp("ddp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # read by each child as torch starts
        arguments = [*ARGUMENTS, "--data", str(log_file)]
        mp.spawn(_worker, args=(_free_port(), arguments, folder), nprocs=WORLD_SIZE)
    return folder


def _results(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]


def test_two_processes_train_and_only_rank_zero_prints(two_processes) -> None:
    first, second = _results(two_processes)
    assert first["status"] == second["status"] == 0
    assert "roc_auc" in first["stdout"] and "wrote" in first["stdout"]
    assert second["stdout"] == ""


def test_replicas_hold_identical_weights_after_every_step(two_processes) -> None:
    for result in _results(two_processes):
        assert result["replicas_agree"] == [True] * (2 * STEPS)


def test_only_rank_zero_writes_a_checkpoint_of_the_plain_model(two_processes) -> None:
    assert sorted(path.name for path in (two_processes / "rank0").iterdir()) == [
        "metrics.json",
        "model.pt",
    ]
    assert not (two_processes / "rank1").exists()
    report = json.loads((two_processes / "rank0" / "metrics.json").read_text())
    assert report["processes"] == WORLD_SIZE
    loaded = load_checkpoint(two_processes / "rank0" / "model.pt")  # no "module." prefixes
    assert loaded.metrics == report["test"]


def test_two_processes_match_one_process_at_the_same_global_batch(
    two_processes, log_file, tmp_path
) -> None:
    assert main([*ARGUMENTS, "--data", str(log_file), "--out", str(tmp_path)]) == 0
    single = json.loads((tmp_path / "metrics.json").read_text())
    double = json.loads((two_processes / "rank0" / "metrics.json").read_text())
    assert single["processes"] == 1
    for one, two in zip(single["history"], double["history"], strict=True):
        for key in ("train_loss/total", "click/roc_auc", "buy/roc_auc", "click/log_loss"):
            assert two[key] == pytest.approx(one[key], abs=TOLERANCE), key
    assert double["best_epoch"] == single["best_epoch"]
    for metric in ("roc_auc", "log_loss"):
        assert double["test"]["click"][metric] == pytest.approx(
            single["test"]["click"][metric], abs=TOLERANCE
        )


def test_shards_of_a_batch_cover_it_in_order() -> None:
    batch = {"candidate": torch.arange(7), "history_item": torch.arange(14).view(7, 2)}
    shards = [shard_batch(batch, rank, 3) for rank in range(3)]
    assert [len(shard["candidate"]) for shard in shards] == [2, 2, 3]
    for key, value in batch.items():
        torch.testing.assert_close(torch.cat([shard[key] for shard in shards]), value)
    tiny = {"candidate": torch.arange(2)}  # fewer rows than processes: all keep it whole
    assert all(shard_batch(tiny, rank, 3) is tiny for rank in range(3))
    sharded = ShardedBatches([batch, batch], rank=1, world_size=3)
    assert len(sharded) == 2 and [b["candidate"].tolist() for b in sharded] == [[2, 3]] * 2


@pytest.mark.parametrize(
    ("weighting", "message"),
    [
        (GradNorm(["click", "buy"]), "GradNorm cannot .* backward pass.*; it keeps"),
        (PCGrad(["click", "buy"]), r"PCGrad cannot .* backward pass\. Use"),
        (UncertaintyWeighting(["click", "buy"]), "UncertaintyWeighting cannot .*: it keeps"),
        (DynamicWeightAverage(["click", "buy"]), "DynamicWeightAverage cannot .*; it keeps"),
    ],
)
def test_weightings_that_ddp_would_desynchronise_are_refused(weighting, message) -> None:
    with pytest.raises(DistributedSetupError, match=message):
        check_supported(weighting, diagnose_every=None)


def test_fixed_weights_and_per_task_rates_are_supported_but_not_diagnostics() -> None:
    check_supported(FixedWeights({"click": 1.0}), diagnose_every=None)
    check_supported(PerTaskLearningRates({"buy": 3.0}), diagnose_every=None)
    with pytest.raises(DistributedSetupError, match="diagnose_every"):
        check_supported(FixedWeights({"click": 1.0}), diagnose_every=10)


def test_torchrun_environment_device_and_batch_size(monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert torchrun_ranks() is None  # a plain ``python -m course_lib train``
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(DistributedSetupError, match="torchrun"):
        torchrun_ranks()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert torchrun_ranks() == (1, 4, 0)
    assert process_device("cpu", 3) == torch.device("cpu")
    for option in ("cuda:1", "mps"):
        with pytest.raises(DistributedSetupError, match="auto, cuda or cpu"):
            process_device(option, 0)
    assert per_process_batch_size(512, 4) == 128
    with pytest.raises(DistributedSetupError, match="multiple of 3"):
        per_process_batch_size(512, 3)


def test_help_documents_compile(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--compile" in capsys.readouterr().out


class ClickModel(nn.Module):
    """A tiny one-task model: the candidate's embedding and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.item = nn.Embedding(12, 4)
        self.heads = nn.ModuleDict({"click": nn.Linear(4, 1)})

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"click": self.heads["click"](self.item(batch["candidate"])).squeeze(-1)}  # (B,)


def _fit_tiny(compile: bool) -> tuple[nn.Module, FitResult]:
    torch.manual_seed(0)
    candidate = torch.arange(2, 12).repeat(4)  # (40,): the label is a function of the item
    batch = {"candidate": candidate, "click": (candidate % 2).float()}
    model, tasks = ClickModel(), [Task("click", "binary", "click")]
    result = fit(model, tasks, [batch] * 3, [batch], epochs=2, lr=0.05,
                 options=TrainOptions(device="cpu", progress=False, compile=compile),)  # fmt: skip
    return model, result


def test_buffer_sync_is_turned_off_with_the_keyword_this_torch_knows() -> None:
    """PyTorch 2.13 renamed DDP's ``broadcast_buffers``; releases before it reject the new name."""

    def ddp_before_2_13(module, device_ids=None, broadcast_buffers=True): ...

    def ddp_from_2_13(
        module, device_ids=None, broadcast_buffers=None, forward_sync_buffers=None
    ): ...

    assert no_buffer_sync_option(ddp_before_2_13) == {"broadcast_buffers": False}
    assert no_buffer_sync_option(ddp_from_2_13) == {"forward_sync_buffers": False}


def test_fit_trains_through_torch_compile(monkeypatch) -> None:
    """Graph capture with dynamo's eager backend: fast, and the same numbers as without it."""
    compiled_modules, compile_ = [], torch.compile

    def eager_compile(module: nn.Module) -> nn.Module:
        compiled_modules.append(module)
        return compile_(module, backend="eager")

    plain_model, plain = _fit_tiny(compile=False)
    monkeypatch.setattr(torch, "compile", eager_compile)
    model, compiled = _fit_tiny(compile=True)
    assert compiled_modules == [model]
    columns = [name for name in plain.history.columns if not name.endswith("seconds")]
    assert compiled.history[columns].to_numpy() == pytest.approx(
        plain.history[columns].to_numpy(), rel=1e-5
    )
    assert model.state_dict().keys() == plain_model.state_dict().keys()  # no "_orig_mod."


@pytest.mark.skipif(
    shutil.which("cc") is None or "COURSE_TEST_INDUCTOR" not in os.environ,
    reason="compiling with inductor takes ~20 s on a 2-core CPU (set COURSE_TEST_INDUCTOR=1 "
    "to run it) and needs a C compiler",
)
def test_fit_compiles_with_inductor() -> None:
    _, result = _fit_tiny(compile=True)
    assert torch.isfinite(torch.tensor(result.history["train_loss/total"].to_numpy())).all()
