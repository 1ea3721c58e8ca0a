"""Command line: ``python -m course_lib train`` trains a multi-task model end to end.

Load the log -> ``prepare`` -> loaders -> build the model -> ``fit`` -> test metrics; it writes
``OUT/metrics.json`` (test metrics, history, options, timing) and ``OUT/model.pt`` (a
checkpoint for ``load_checkpoint``). ``--config FILE.json`` sets options from a file whose keys
are the option names (``"batch-size"`` or ``"batch_size"``); flags on the command line win.

Under ``torchrun --nproc_per_node=N -m course_lib train ...`` every process trains a replica
with DistributedDataParallel on its share of each global batch (``course_lib.distributed``);
rank 0 alone prints, evaluates the test set and writes the files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from course_lib.bundled import bundled_window, load_bundled_log, simulate_bundled
from course_lib.checkpoint import ARCHITECTURES, ENCODERS, build_model, save_checkpoint
from course_lib.data import (
    TAOBAO_BEHAVIORS,
    LogValidationError,
    PreparedData,
    make_loader,
    prepare,
    read_log,
)
from course_lib.distributed import (
    Distributed,
    DistributedSetupError,
    per_process_batch_size,
    process_group,
)
from course_lib.env import get_device, set_seed
from course_lib.metrics.tasks import metrics_table
from course_lib.models.multitask_base import MultiTaskConfig
from course_lib.simulate import bayes_limit_auc
from course_lib.tasks import label_rates, standard_tasks
from course_lib.training.evaluate import evaluate_tasks
from course_lib.training.trainer import LR_SCHEDULES, fit

MONITOR = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse", "ranking": "MRR"}
TASK_NAMES = list(standard_tasks(1, 1, 1))  # only the names: sizes come from the data
NUM_NEGATIVES = 4  # sampled negative candidates per true next item


def build_parser(defaults: dict | None = None) -> argparse.ArgumentParser:
    """The ``train`` command's options, each with its help text; ``defaults`` override ours."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a multi-task model on a behavior log",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = train.add_argument
    add("--architecture", choices=list(ARCHITECTURES), default="mmoe", help="sharing architecture")
    add("--encoder", choices=list(ENCODERS), default="lstm", help="sequence encoder")
    add(
        "--tasks",
        default="click,buy,next_behavior",
        help=f"comma-separated, of {TASK_NAMES}; the first picks the best epoch",
    )
    add("--epochs", type=int, default=3, help="maximum number of epochs")
    add(
        "--batch-size",
        type=int,
        default=512,
        help="samples per step; under torchrun, over all processes together",
    )
    add("--lr", type=float, default=1e-3, help="Adam learning rate (at the start)")
    add(
        "--lr-schedule",
        default="constant",
        choices=LR_SCHEDULES,
        help="constant, or cosine: down to zero over the planned epochs",
    )
    add(
        "--ema-decay",
        type=float,
        help="validate and keep a moving average of the weights that remembers about "
        "1 / (1 - EMA_DECAY) steps, e.g. 0.999; unset: the weights themselves",
    )
    add(
        "--next-item-prior",
        action="store_true",
        help="click and buy logits add log p(next item = candidate) from the next_item task, "
        "with a learned weight (needs next_item in --tasks)",
    )
    add("--max-len", type=int, default=20, help="events of history per sample")
    add("--embed-dim", type=int, default=32, help="embedding size D")
    add("--hidden-dim", type=int, default=32, help="encoder state size H")
    add("--seed", type=int, default=0, help="seed of sampling, initialisation and shuffling")
    add(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:1, mps, or auto (the fastest); under torchrun: auto, cuda or cpu",
    )
    add("--max-steps-per-epoch", type=int, help="cap the batches of an epoch, for quick runs")
    add("--data", help="behavior log CSV with a header row (default: the bundled log)")
    add(
        "--behaviors",
        default=",".join(TAOBAO_BEHAVIORS),
        help="the log's behaviors in funnel order, comma-separated; the last is the conversion "
        "(the buy task), e.g. view,addtocart,transaction",
    )
    add("--config", help="JSON file of options (same names); command-line flags override it")
    add("--out", default="runs/latest", help="folder for metrics.json and model.pt")
    add("--no-progress", action="store_true", help="hide the progress bars")
    add("--compile", action="store_true", help="train through torch.compile (slow to start)")
    train.set_defaults(**(defaults or {}))
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--config`` options become the defaults of a second pass."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        try:
            options = json.loads(Path(args.config).read_text())
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"--config {args.config}: {error}")
        options = {key.replace("-", "_"): value for key, value in options.items()}
        unknown = sorted(options.keys() - vars(args).keys())
        if unknown:
            parser.error(f"--config {args.config}: unknown options {unknown}")
        args = build_parser(options).parse_args(argv)
    # defaults from a file skip argparse's checks: check every choice here
    args.tasks = args.tasks.split(",") if isinstance(args.tasks, str) else list(args.tasks)
    if isinstance(args.behaviors, str):
        args.behaviors = args.behaviors.split(",")
    args.behaviors = [str(behavior).strip() for behavior in args.behaviors]
    choosable = {"architecture": ARCHITECTURES, "encoder": ENCODERS, "lr_schedule": LR_SCHEDULES}
    for name, choices in choosable.items():
        if getattr(args, name) not in choices:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag} {getattr(args, name)!r}: choose from {list(choices)}")
    unknown = [name for name in args.tasks if name not in TASK_NAMES]
    if unknown:
        parser.error(f"--tasks: unknown task(s) {unknown}; choose from {TASK_NAMES}")
    if args.ema_decay is not None and not 0 < args.ema_decay < 1:
        parser.error(f"--ema-decay {args.ema_decay}: choose a value between 0 and 1, e.g. 0.999")
    if args.next_item_prior and "next_item" not in args.tasks:
        parser.error(f"--next-item-prior needs next_item in --tasks; got {args.tasks}")
    return args


def train(args: argparse.Namespace, parallel: Distributed | None = None) -> dict | None:
    """Run the whole recipe for parsed options; returns what it writes to metrics.json.

    Args:
        parallel: this process's part of a torchrun job; None: a single process. Every
            process trains; rank 0 alone tests, writes and returns the report (others: None).
    """
    start = time.perf_counter()
    if parallel is not None:  # fail before the data work, with the option's name
        per_process_batch_size(args.batch_size, parallel.world_size)
    behaviors = tuple(args.behaviors)
    log = read_log(args.data, behaviors=behaviors) if args.data else load_bundled_log()
    window = (None, None) if args.data else bundled_window()
    prepared = prepare(
        log,
        behaviors=behaviors,
        start=window[0],
        end=window[1],
        num_negatives=NUM_NEGATIVES,
        seed=args.seed,
        source=args.data or "the bundled log",
    )
    vocab = prepared.vocabularies
    known = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = [known[name] for name in args.tasks]
    if parallel is not None:
        device = parallel.device
    else:
        device = get_device(None if args.device == "auto" else args.device)
    loaders = {
        part: make_loader(
            prepared.dataset(part, args.max_len),
            args.batch_size,
            part == "train",
            args.seed,
            device,
        )
        for part in ("train", "valid", "test")
    }
    sizes = len(vocab.item), len(vocab.category), len(vocab.behavior)
    config = MultiTaskConfig(
        *sizes,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        next_item_prior=args.next_item_prior,
    )
    encoder = {"name": args.encoder}
    set_seed(args.seed)
    model = build_model(args.architecture, config, encoder, tasks, prepared.item_category)
    model.init_output_biases(label_rates(tasks, prepared.train))  # start at the base rates
    monitor = (tasks[0].name, MONITOR[tasks[0].kind])  # the first task picks the best epoch
    result = fit(
        model,
        tasks,
        loaders["train"],
        loaders["valid"],
        device=device,
        epochs=args.epochs,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        ema_decay=args.ema_decay,
        monitor=monitor,
        max_steps_per_epoch=args.max_steps_per_epoch,
        progress=not args.no_progress and (parallel is None or parallel.is_main),
        seed=args.seed,
        compile=args.compile,
        distributed=parallel,
    )
    if parallel is not None and not parallel.is_main:
        return None
    test = evaluate_tasks(model, tasks, loaders["test"], device)
    report = {
        "test": test,
        "bayes_limit": None if args.data else bayes_limit_report(test, prepared),
        "history": result.history.to_dict(orient="records"),
        "best_epoch": result.best_epoch,
        "options": vars(args),
        "config": dataclasses.asdict(config),
        "device": str(device),
        "processes": 1 if parallel is None else parallel.world_size,
        "seconds": {"fit": result.seconds, "total": time.perf_counter() - start},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(_without_nan(report), indent=2, allow_nan=False))
    save_checkpoint(
        out / "model.pt",
        model,
        architecture=args.architecture,
        config=config,
        encoder=encoder,
        tasks=tasks,
        vocabularies=vocab,
        metrics=test,
    )
    return report


def bayes_limit_report(test: dict[str, dict[str, float]], prepared: PreparedData) -> dict:
    """The bundled log's click and buy test AUC as fractions of the simulator's Bayes limit.

    The bundled log is simulated, so ``simulate_bundled`` regenerates it with the true
    probability behind every label (a few seconds); see ``course_lib.simulate.limits``.
    """
    truth, vocab = simulate_bundled().truth, prepared.vocabularies
    limits = bayes_limit_auc(truth, prepared.test, vocab, NUM_NEGATIVES)
    return {
        task: {"auc": limit, "fraction": test[task]["roc_auc"] / limit}
        for task, limit in limits.items()
        if task in test
    }


def _without_nan(value: object) -> object:
    """``value`` with every NaN float replaced by None (JSON null): strict JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(item) for item in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m course_lib``; returns the exit status (2: bad input)."""
    args = parse_args(argv)
    try:
        with process_group(args.device) as parallel:  # None outside torchrun
            report = train(args, parallel)
    except (LogValidationError, FileNotFoundError, DistributedSetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if report is None:  # a torchrun process other than rank 0: rank 0 reports
        return 0
    print(metrics_table(report["test"]).round(4).to_string())
    for task, limit in (report["bayes_limit"] or {}).items():
        model_auc = report["test"][task]["roc_auc"]
        print(
            f"{task} AUC {model_auc:.4f} = {limit['fraction']:.3f} x the Bayes limit "
            f"{limit['auc']:.4f} (the simulator's true probabilities)"
        )
    seconds = report["seconds"]
    print(f"{seconds['total']:.1f} s in all, {seconds['fit']:.1f} s training; wrote {args.out}/")
    return 0
