"""The CUDA path: device placement, pinned memory, mixed precision, GradScaler, ``fit``, DDP.

Every test here skips on a machine without a CUDA GPU (two GPUs for the 2-process NCCL run).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from course_lib.cli import main
from course_lib.data import PreparedData, make_loader, write_log
from course_lib.distributed import shard_batch
from course_lib.models import build_model
from course_lib.simulate import SimulatorConfig, simulate
from course_lib.tasks import Task, label_rates, standard_tasks
from course_lib.training import MultiTaskLoss, Precision, TrainOptions, move_batch, train_one_epoch
from course_lib.training.trainer import fit

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
TASK_NAMES = ("click", "buy", "next_behavior")
BATCH_SIZE = 128


def _model_and_tasks(prepared: PreparedData, device: str) -> tuple[torch.nn.Module, list[Task]]:
    vocab = prepared.vocabularies
    known = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = [known[name] for name in TASK_NAMES]
    torch.manual_seed(0)
    model = build_model(
        prepared,
        tasks,
        architecture="mmoe",
        encoder="lstm",
        embed_dim=16,
        hidden_dim=16,
        label_rates=label_rates(tasks, prepared.train),
    )
    return model.to(device), tasks


def _loader(prepared: PreparedData, part: str) -> torch.utils.data.DataLoader:
    return make_loader(prepared.dataset(part, 20), BATCH_SIZE, part == "train", 0, "cuda")


def test_batches_are_pinned_and_copied_without_blocking(small_prepared) -> None:
    loader = _loader(small_prepared, "train")
    assert loader.pin_memory
    batch = next(iter(loader))
    assert all(value.is_pinned() for value in batch.values())
    half = shard_batch(batch, 1, 2)  # a process's slice is a view: still pinned
    assert all(value.is_pinned() for value in half.values())
    moved = move_batch(batch, "cuda")
    torch.cuda.synchronize()
    for key, value in moved.items():
        assert value.device.type == "cuda"
        torch.testing.assert_close(value.cpu(), batch[key])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_an_autocast_epoch_trains_in_low_precision(small_prepared, dtype) -> None:
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    model, tasks = _model_and_tasks(small_prepared, "cuda")
    batch = move_batch(next(iter(_loader(small_prepared, "train"))), "cuda")
    with torch.autocast("cuda", dtype=dtype):
        assert model(batch)["click"].dtype == dtype  # the heads ran in low precision
    before = [param.detach().clone() for param in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    log = train_one_epoch(
        model,
        MultiTaskLoss(tasks),
        _loader(small_prepared, "train"),
        optimizer,
        options=TrainOptions(max_steps_per_epoch=5, progress=False),
        precision=Precision(dtype, scaler),
    )
    assert torch.isfinite(torch.tensor(log.losses.to_numpy())).all()
    assert all(param.device.type == "cuda" for param in model.parameters())
    changed = [
        not torch.equal(old, new) for old, new in zip(before, model.parameters(), strict=True)
    ]
    assert any(changed)
    assert all(param.dtype == torch.float32 for param in model.parameters())  # master weights


def test_the_grad_scaler_skips_a_step_whose_gradients_overflow(small_prepared) -> None:
    """float16 gradients of a loss scaled by 2**40 are infinite: no step, a smaller scale."""
    model, tasks = _model_and_tasks(small_prepared, "cuda")
    before = {name: value.clone() for name, value in model.state_dict().items()}
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**40)
    train_one_epoch(
        model,
        MultiTaskLoss(tasks),
        _loader(small_prepared, "train"),
        torch.optim.Adam(model.parameters(), lr=1e-3),
        options=TrainOptions(max_steps_per_epoch=1, progress=False),
        precision=Precision(torch.float16, scaler),
    )
    assert scaler.get_scale() < 2.0**40
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name])


def test_fit_on_cuda_trains_with_mixed_precision_by_default(small_prepared) -> None:
    model, tasks = _model_and_tasks(small_prepared, "cpu")
    result = fit(
        model,
        tasks,
        _loader(small_prepared, "train"),
        _loader(small_prepared, "valid"),
        epochs=2,
        lr=3e-3,
        options=TrainOptions(device="cuda", max_steps_per_epoch=20, progress=False),
    )
    assert all(param.device.type == "cuda" for param in model.parameters())
    assert len(result.history) == 2
    assert result.history["train_loss/total"].notna().all()
    assert 0.5 < result.best_score <= 1.0  # click AUC: better than chance after 40 steps


def test_fit_compiles_on_cuda(small_prepared) -> None:
    model, tasks = _model_and_tasks(small_prepared, "cpu")
    result = fit(
        model,
        tasks,
        _loader(small_prepared, "train"),
        _loader(small_prepared, "valid"),
        epochs=1,
        options=TrainOptions(device="cuda", max_steps_per_epoch=5, progress=False, compile=True),
    )
    assert result.history["train_loss/total"].notna().all()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli_worker(rank: int, world_size: int, port: int, arguments: list[str], out: Path) -> None:
    """One process of a torchrun-like job on GPU ``rank``: the command line over NCCL."""
    os.environ |= {"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank)}
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    status = main([*arguments, "--out", str(out)])
    (out.parent / f"status{rank}.json").write_text(json.dumps(status))


@pytest.mark.parametrize("world_size", [1, 2])
def test_the_command_line_trains_on_gpus_with_nccl(tmp_path, world_size) -> None:
    if torch.cuda.device_count() < world_size:
        pytest.skip(f"needs {world_size} GPUs")
    log = simulate(SimulatorConfig(num_users=200, num_items=100, num_categories=6)).log
    write_log(log, tmp_path / "log.csv")
    arguments = ["train", "--data", str(tmp_path / "log.csv"), "--epochs", "2", "--device"]
    arguments += ["cuda", "--max-steps-per-epoch", "10", "--batch-size", "128", "--no-progress"]
    out = tmp_path / "run"
    mp.spawn(_cli_worker, args=(world_size, _free_port(), arguments, out), nprocs=world_size)
    statuses = [json.loads((tmp_path / f"status{r}.json").read_text()) for r in range(world_size)]
    assert statuses == [0] * world_size
    report = json.loads((out / "metrics.json").read_text())
    assert report["processes"] == world_size and report["device"] == "cuda:0"
    assert len(report["history"]) == 2
