"""Command line: ``python -m course_lib train`` trains a multi-task model end to end.

Load the log -> ``prepare`` -> loaders -> build the model -> ``fit`` -> test metrics; it writes
``OUT/metrics.json`` (test metrics, history, options, timing) and ``OUT/model.pt`` (a
checkpoint for ``load_checkpoint``). ``--config FILE.json`` sets options from a file whose keys
are the option names (``"batch-size"`` or ``"batch_size"``); flags on the command line win.
Every option is checked before any work starts; a bad one exits with status 2 (usage error).
``--data FILE`` reads a CSV with a header row; ``--format taobao`` reads Taobao's headerless
UserBehavior.csv instead, and ``--sep`` and ``--encoding`` describe other files. ``--features``
declares side features (``age_group:user,price:item:numeric``), read from the ``--users`` and
``--items`` CSV files (on the bundled log: its own side tables).

Under ``torchrun --nproc_per_node=N -m course_lib train ...`` every process trains a replica
with DistributedDataParallel on its share of each global batch (``course_lib.distributed``);
rank 0 alone prints, evaluates the test set and writes the files.
"""

from __future__ import annotations

import argparse
import codecs
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path

import pandas as pd
import torch

from course_lib.bundled import (
    bundled_window,
    load_bundled_log,
    load_bundled_side_tables,
    simulate_bundled,
)
from course_lib.checkpoint import save_checkpoint
from course_lib.data import (
    TAOBAO_BEHAVIORS,
    LogValidationError,
    PreparedData,
    make_loader,
    prepare,
    read_log,
    read_taobao_user_behavior,
)
from course_lib.data.csvfile import check_file
from course_lib.data.features import KINDS, SOURCES, Feature
from course_lib.data.pipeline import NUM_NEGATIVES
from course_lib.data.samples import LIKE_THRESHOLD
from course_lib.distributed import (
    Distributed,
    DistributedSetupError,
    per_process_batch_size,
    process_group,
)
from course_lib.env import get_device, set_seed
from course_lib.metrics.tasks import metrics_table
from course_lib.models.factory import ARCHITECTURES, ENCODERS, build_model
from course_lib.models.scenarios import SCENARIO_DESIGNS
from course_lib.simulate import bayes_limit_auc
from course_lib.tasks import explicit_tasks, label_rates, standard_tasks
from course_lib.training.evaluate import evaluate_tasks
from course_lib.training.options import LR_SCHEDULES, TrainOptions
from course_lib.training.trainer import fit

MONITOR = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse", "ranking": "MRR"}
TASK_NAMES = [*standard_tasks(1, 1, 1), *explicit_tasks()]  # names only: sizes from the data
FORMATS = ("csv", "taobao")  # --format: a CSV with a header, or Taobao's headerless file
FEEDBACK = ("implicit", "explicit")  # --feedback: how samples are made (see prepare)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    number = _parse(text, int, "a whole number")
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a positive whole number (1 or more)")
    return number


def non_negative_int(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    number = _parse(text, int, "a whole number")
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative; use 0 or more")
    return number


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (no nan, no inf)."""
    number = _parse(text, float, "a number")
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"{number} is not a finite number above 0")
    return number


def decay(text: str) -> float:
    """argparse type: a number strictly between 0 and 1, such as a moving average's decay."""
    number = _parse(text, float, "a number")
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"{number}: choose a value between 0 and 1, e.g. 0.999")
    return number


def _parse(text: str, kind: type[int] | type[float], what: str) -> int | float:
    """``kind(text)``, or the usage error argparse prints with the option's name."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


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
    add("--epochs", type=positive_int, default=3, help="maximum number of epochs")
    add(
        "--batch-size",
        type=positive_int,
        default=512,
        help="samples per step; under torchrun, over all processes together",
    )
    add("--lr", type=positive_float, default=1e-3, help="Adam learning rate (at the start)")
    add(
        "--lr-schedule",
        default="constant",
        choices=LR_SCHEDULES,
        help="constant, or cosine: down to zero over the planned epochs",
    )
    add(
        "--ema-decay",
        type=decay,
        help="validate and keep a moving average of the weights that remembers about "
        "1 / (1 - EMA_DECAY) steps, e.g. 0.999; unset: the weights themselves",
    )
    add(
        "--next-item-prior",
        action="store_true",
        help="click and buy logits add log p(next item = candidate) from the next_item task, "
        "with a learned weight (needs next_item in --tasks)",
    )
    add(
        "--pair-biases",
        action="store_true",
        help="click, buy and other single-output candidate tasks add a learned offset per "
        "user and per item (mean + b_user + b_item)",
    )
    add(
        "--history-values",
        action="store_true",
        help="each history event's value (a rating) enters its vector (needs a log with values)",
    )
    add(
        "--scenario-design",
        choices=SCENARIO_DESIGNS,
        default="none",
        help="how the model tells the log's scenarios apart (its scenario column): none, "
        "embedding (an input of the shared layers and gates) or star (STAR's shared and "
        "per-scenario weights)",
    )
    add(
        "--feedback",
        choices=FEEDBACK,
        default="implicit",
        help="implicit: the true next item and sampled negatives (click, buy); explicit: every "
        "event is a sample labelled by the log's value column (like, rating)",
    )
    add(
        "--num-negatives",
        type=positive_int,
        help="implicit feedback: sampled negative candidates per true next item (default 4)",
    )
    add(
        "--like-threshold",
        type=float,
        default=LIKE_THRESHOLD,
        help="a value (rating) at or above it is a like",
    )
    add("--max-len", type=positive_int, default=20, help="events of history per sample")
    add("--embed-dim", type=positive_int, default=32, help="embedding size D")
    add("--hidden-dim", type=positive_int, default=32, help="encoder state size H")
    add(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of sampling, initialisation and shuffling",
    )
    add(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:1, mps, or auto (the fastest); under torchrun: auto, cuda or cpu",
    )
    add(
        "--max-steps-per-epoch",
        type=positive_int,
        help="cap the batches of an epoch, for quick runs",
    )
    add("--data", help="behavior log CSV (default: the bundled log)")
    add(
        "--format",
        choices=FORMATS,
        default="csv",
        help="csv: a header row names the columns; taobao: no header, the five columns in "
        "contract order with Taobao's behaviors (UserBehavior.csv)",
    )
    add("--sep", default=",", help="the field separator of --data, e.g. ';'")
    add("--encoding", default="utf-8", help="the text encoding of --data, e.g. latin-1")
    add(
        "--behaviors",
        default=",".join(TAOBAO_BEHAVIORS),
        help="the log's behaviors in funnel order, comma-separated; the last is the conversion "
        "(the buy task), e.g. view,addtocart,transaction",
    )
    add(
        "--features",
        help="side features, comma-separated NAME:SOURCE[:KIND] with SOURCE user or item and "
        "KIND categorical (the default), multi or numeric, e.g. age_group:user,price:item:numeric"
        "; user_id:user is the user id itself",
    )
    add("--users", help="CSV of the users' side table: user_id and feature columns")
    add("--items", help="CSV of the items' side table: item_id and feature columns")
    add("--config", help="JSON file of options (same names); command-line flags override it")
    add("--out", default="runs/latest", help="folder for metrics.json and model.pt")
    add("--no-progress", action="store_true", help="hide the progress bars")
    add("--compile", action="store_true", help="train through torch.compile (slow to start)")
    train.set_defaults(**(defaults or {}))
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line before any work; a bad option exits with status 2.

    ``--config`` options become the defaults of a second pass. argparse applies an option's
    type only to a default that is text, so numbers from the file are passed as text: they
    go through the same checks as the command line's.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        args = build_parser(_config_options(parser, args)).parse_args(argv)
    args.tasks = _names(parser, "--tasks", args.tasks)
    args.behaviors = _names(parser, "--behaviors", args.behaviors)
    args.features = [] if not args.features else _names(parser, "--features", args.features)
    args.features = [_feature(parser, text) for text in args.features]
    _check_choices(parser, args)
    _check_device(parser, args.device)
    _check_files(parser, args)
    return args


def _config_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """The options of the ``--config`` JSON file, keyed by destination, numbers as text."""
    try:
        options = json.loads(Path(args.config).read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"--config {args.config}: {error}")
    if not isinstance(options, dict):
        parser.error(f"--config {args.config}: not a JSON object of option names and values")
    options = {key.replace("-", "_"): value for key, value in options.items()}
    unknown = sorted(options.keys() - vars(args).keys())
    if unknown:
        parser.error(f"--config {args.config}: unknown options {unknown}")
    numbers = {k: str(v) for k, v in options.items() if type(v) in (int, float)}  # not bools
    return options | numbers


def _names(parser: argparse.ArgumentParser, flag: str, value: str | list) -> list[str]:
    """A comma-separated list of names (or a list from --config): none empty, none twice."""
    names = [str(name).strip() for name in (value.split(",") if isinstance(value, str) else value)]
    if "" in names or not names:
        parser.error(f"{flag} {value!r}: an empty name; give names separated by commas")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        parser.error(f"{flag} {','.join(names)}: {repeated} given more than once")
    return names


def _feature(parser: argparse.ArgumentParser, text: str) -> Feature:
    """A ``--features`` entry NAME:SOURCE[:KIND] as a `Feature`, or a usage error."""
    parts = text.split(":")
    bad_kind = len(parts) == 3 and parts[2] not in KINDS
    if len(parts) not in (2, 3) or parts[1] not in SOURCES or bad_kind:
        parser.error(
            f"--features {text!r}: give NAME:SOURCE or NAME:SOURCE:KIND, SOURCE one of "
            f"{list(SOURCES)}, KIND one of {list(KINDS)}; e.g. price:item:numeric"
        )
    try:
        return Feature(*parts)
    except ValueError as error:
        parser.error(f"--features {text!r}: {error}")


def _check_choices(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Choices (argparse skips them for values from --config) and options that go together."""
    choosable = {
        "architecture": ARCHITECTURES,
        "encoder": ENCODERS,
        "lr_schedule": LR_SCHEDULES,
        "format": FORMATS,
        "feedback": FEEDBACK,
    }
    for name, choices in choosable.items():
        if getattr(args, name) not in choices:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag} {getattr(args, name)!r}: choose from {list(choices)}")
    unknown = [name for name in args.tasks if name not in TASK_NAMES]
    if unknown:
        parser.error(f"--tasks: unknown task(s) {unknown}; choose from {TASK_NAMES}")
    if args.feedback == "explicit" and args.num_negatives is not None:
        parser.error("--num-negatives: explicit feedback samples every event, with no negatives")
    if args.next_item_prior and "next_item" not in args.tasks:
        parser.error(f"--next-item-prior needs next_item in --tasks; got {args.tasks}")
    if args.format == "taobao" and tuple(args.behaviors) != TAOBAO_BEHAVIORS:
        parser.error(
            f"--format taobao reads Taobao's behaviors {','.join(TAOBAO_BEHAVIORS)}; "
            f"--behaviors {','.join(args.behaviors)} does not apply (leave it out)"
        )


def _check_device(parser: argparse.ArgumentParser, option: str) -> None:
    """Refuse a device name torch does not know, or a device this machine lacks."""
    if option == "auto":
        return
    choose = "choose cpu, cuda, cuda:N, mps or auto (the fastest available)"
    try:
        device = torch.device(option)
    except (RuntimeError, TypeError):
        parser.error(f"--device {option!r}: not a device; {choose}")
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if device.type not in available:
        parser.error(f"--device {option!r}: {choose}")
    if not available[device.type]:
        parser.error(f"--device {option}: this machine has no {device.type} device; {choose}")
    count = torch.cuda.device_count() if device.type == "cuda" else 1
    if device.index is not None and device.index >= count:
        parser.error(f"--device {option}: this machine has {count} {device.type} device(s)")


def _check_files(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--data must name a file, --sep and --encoding be usable, --out be writable (checked
    before training, not when the results are written after it)."""
    for flag, path in (("--data", args.data), ("--users", args.users), ("--items", args.items)):
        if path:
            try:
                check_file(Path(path))
            except LogValidationError as error:
                parser.error(f"{flag} {error}")
    if not args.sep:
        parser.error("--sep '': give the field separator, e.g. ',' or ';'")
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        parser.error(f"--encoding {args.encoding!r}: unknown; e.g. utf-8, latin-1 or cp1252")
    out = Path(args.out).absolute()
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    if not existing.is_dir():
        parser.error(f"--out {args.out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        parser.error(f"--out {args.out}: {existing} is not writable; choose another folder")


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
    log = read_data(args) if args.data else load_bundled_log()
    window = (None, None) if args.data else bundled_window()
    users, items = side_tables(args)
    prepared = prepare(
        log,
        behaviors=behaviors,
        start=window[0],
        end=window[1],
        feedback=args.feedback,
        num_negatives=args.num_negatives,
        like_threshold=args.like_threshold,
        features=args.features,
        users=users,
        items=items,
        seed=args.seed,
        source=args.data or "the bundled log",
    )
    vocab = prepared.vocabularies
    known = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    known |= explicit_tasks()
    tasks = [known[name] for name in args.tasks]
    without = [f"--tasks {t.name}" for t in tasks if getattr(prepared.train, t.label) is None]
    if args.history_values and prepared.sequences.value is None:
        without.append("--history-values")
    if args.scenario_design != "none" and vocab.scenario is None:
        raise LogValidationError(
            f"{args.data or 'the bundled log'}: --scenario-design {args.scenario_design} "
            "tells the log's scenarios apart, but it has no scenario column. Fix: a log with "
            "a 'scenario' column (the surface of each event), or --scenario-design none"
        )
    if without:
        raise LogValidationError(
            f"{args.data or 'the bundled log'}: {' and '.join(without)} read the log's value "
            "column (a rating), which it does not have. Fix: a log with a numeric 'value' "
            "column, or leave them out"
        )
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
    set_seed(args.seed)
    model = build_model(
        prepared,
        tasks,
        architecture=args.architecture,
        encoder=args.encoder,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        next_item_prior=args.next_item_prior,
        pair_biases=args.pair_biases,
        history_values=args.history_values,
        features=prepared.features.names,
        scenario_design=args.scenario_design,
        label_rates=label_rates(tasks, prepared.train),  # start at the base rates
    )
    monitor = (tasks[0].name, MONITOR[tasks[0].kind])  # the first task picks the best epoch
    result = fit(
        model,
        tasks,
        loaders["train"],
        loaders["valid"],
        epochs=args.epochs,
        lr=args.lr,
        monitor=monitor,
        seed=args.seed,
        options=TrainOptions(
            device=device,
            max_steps_per_epoch=args.max_steps_per_epoch,
            lr_schedule=args.lr_schedule,
            ema_decay=args.ema_decay,
            compile=args.compile,
            progress=not args.no_progress and (parallel is None or parallel.is_main),
            distributed=parallel,
        ),
    )
    if parallel is not None and not parallel.is_main:
        return None
    test = evaluate_tasks(model, tasks, loaders["test"], device)
    report = {
        "test": test,
        "bayes_limit": None
        if args.data
        else bayes_limit_report(test, prepared, args.num_negatives or NUM_NEGATIVES),
        "history": result.history.to_dict(orient="records"),
        "best_epoch": result.best_epoch,
        "options": vars(args) | {"features": [":".join(astuple(f)[:3]) for f in args.features]},
        "config": dataclasses.asdict(model.config),
        "settings": dataclasses.asdict(model.settings),
        "device": str(device),
        "processes": 1 if parallel is None else parallel.world_size,
        "seconds": {
            "fit": result.seconds,
            "train": result.train_seconds,
            "total": time.perf_counter() - start,
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(_without_nan(report), indent=2, allow_nan=False))
    save_checkpoint(
        out / "model.pt",
        model,
        architecture=args.architecture,
        encoder=args.encoder,
        vocabularies=vocab,
        metrics=test,
    )
    return report


def read_data(args: argparse.Namespace) -> pd.DataFrame:
    """The log of ``--data``, read as ``--format``, ``--sep`` and ``--encoding`` say."""
    text = {"sep": args.sep, "encoding": args.encoding}
    if args.format == "taobao":
        return read_taobao_user_behavior(args.data, **text)
    return read_log(args.data, behaviors=tuple(args.behaviors), **text)


def side_tables(args: argparse.Namespace) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The users and items tables of ``--users`` and ``--items``; without them and without
    ``--data``, the bundled log's own (user_id, is_member; item_id, category_id, price)."""
    bundled = (None, None) if args.data else load_bundled_side_tables()
    tables = []
    for path, default in ((args.users, bundled[0]), (args.items, bundled[1])):
        table = default
        if path:
            table = pd.read_csv(path, encoding=args.encoding)
            table.attrs["source"] = path  # error messages name the file
        tables.append(table)
    return tables[0], tables[1]


def bayes_limit_report(
    test: dict[str, dict[str, float]], prepared: PreparedData, num_negatives: int
) -> dict:
    """The bundled log's click and buy test AUC as fractions of the simulator's Bayes limit.

    The bundled log is simulated, so ``simulate_bundled`` regenerates it with the true
    probability behind every label (a few seconds); see ``course_lib.simulate.limits``.
    """
    truth, vocab = simulate_bundled().truth, prepared.vocabularies
    limits = bayes_limit_auc(truth, prepared.test, vocab, num_negatives)
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
    print(
        f"{seconds['total']:.1f} s in all, {seconds['fit']:.1f} s fitting of which "
        f"{seconds['train']:.1f} s in training steps; wrote {args.out}/"
    )
    return 0
