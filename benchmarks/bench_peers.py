"""Training throughput of the course's MMoE against torch-rechub's MMoE, in one run.

torch-rechub is a benchmark-only requirement, never a course dependency; install it into the
course's environment without touching its torch (its core needs are already there):

    .venv/bin/python -m pip install --no-deps -r benchmarks/requirements-peers.txt

Both models get the same batches of the bundled data (batch 512, histories up to 20 events,
4 sampled negatives), the same embedding size (32), four experts of one 64-unit layer, one
32-unit tower per task, and the same two tasks (click and buy), each trained with Adam on the
sum of the tasks' binary cross-entropies:

- torch-rechub's ``MMOE`` reads the history as three mean-pooled sequence features (item,
  category, behavior; padding masked) and the candidate's item and category;
- the course's MMoE with ``encoder="mean"`` reads the same inputs the same way (mean pooling
  of the summed event embeddings), plus the elementwise match of state and candidate; the
  course's MMoE with the LSTM encoder, its default, is reported beside it.

Each is timed on the same batches after a warm-up, best of ``--repeats``, and reported as
samples per second and as a ratio to torch-rechub's (> 1: the course's is faster).
"""

from __future__ import annotations

import sys

import torch
from common import best_time, bundled_batches, training_options, training_throughput
from torch import nn

from course_lib import build_model, set_seed
from course_lib.models import MMoESettings
from course_lib.training import MultiTaskLoss

TASKS = ["click", "buy"]
EXPERTS, EXPERT_DIMS, TOWER_DIMS = 4, (64,), (32,)


def rechub_mmoe(num_items: int, num_categories: int, num_behaviors: int, dim: int) -> nn.Module:
    """torch-rechub's MMoE over the same inputs (imported here: it is optional)."""
    from torch_rechub.basic.features import SequenceFeature, SparseFeature
    from torch_rechub.models.multi_task import MMOE

    features = [
        SequenceFeature("history_item", num_items, dim, pooling="mean", padding_idx=0),
        SequenceFeature("history_category", num_categories, dim, pooling="mean", padding_idx=0),
        SequenceFeature("history_behavior", num_behaviors, dim, pooling="mean", padding_idx=0),
        SparseFeature("candidate", num_items, dim),
        SparseFeature("candidate_category", num_categories, dim),
    ]
    return MMOE(
        features,
        ["classification"] * len(TASKS),
        n_expert=EXPERTS,
        expert_params={"dims": list(EXPERT_DIMS)},
        tower_params_list=[{"dims": list(TOWER_DIMS)}] * len(TASKS),
    )


def rechub_throughput(model: nn.Module, batches: list, repeats: int) -> float:
    """Samples per second of Adam steps on torch-rechub's model (it outputs probabilities)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()

    def train(steps: list) -> None:
        for batch in steps:
            labels = torch.stack([batch[name].float() for name in TASKS], dim=1)  # (B, T)
            optimizer.zero_grad()
            loss_fn(model(batch), labels).backward()
            optimizer.step()

    train(batches[:10])  # warm-up
    seconds, _ = best_time(lambda: train(batches), repeats)
    return len(batches) * len(batches[0]["click"]) / seconds


def main() -> None:
    options = training_options(__doc__.split("\n")[0], batch_size=512, max_len=20, dim=32)
    try:
        import torch_rechub  # noqa: F401
    except ImportError:
        sys.exit(
            "torch-rechub is not installed. Fix: .venv/bin/python -m pip install --no-deps "
            "-r benchmarks/requirements-peers.txt"
        )
    data, batches = bundled_batches(options, num_negatives=4)
    vocab = data.vocabularies
    sizes = (len(vocab.item), len(vocab.category), len(vocab.behavior))
    settings = MMoESettings(num_experts=EXPERTS, expert_dims=EXPERT_DIMS)
    rates = {}
    set_seed(0)
    rates["torch-rechub MMOE (mean pooling)"] = rechub_throughput(
        rechub_mmoe(*sizes, options.dim), batches, options.repeats
    )
    for encoder in ("mean", "lstm"):
        set_seed(0)
        model = build_model(
            data,
            TASKS,
            architecture="mmoe",
            encoder=encoder,
            embed_dim=options.dim,
            hidden_dim=options.dim,
            tower_dims=TOWER_DIMS,
            settings=settings,
        )
        name = f"course_lib MMoE ({encoder} encoder)"
        rates[name] = training_throughput(model, MultiTaskLoss(model.tasks), batches, options)
    reference = rates["torch-rechub MMOE (mean pooling)"]
    print(f"{'model':36} {'samples/s':>10} {'/ torch-rechub':>15}")
    for name, rate in rates.items():
        print(f"{name:36} {rate:10,.0f} {rate / reference:15.2f}")


if __name__ == "__main__":
    main()
