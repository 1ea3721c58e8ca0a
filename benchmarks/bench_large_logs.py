"""Time and peak memory of ``prepare_to_disk`` on simulated logs of 1M, 10M and 30M events.

Each size is prepared from a CSV file in a fresh child process, which reports its wall time
and its peak resident memory: ``VmHWM`` of /proc/self/status, the high-water mark of the
process's resident pages, the ~0.4 GB of imported libraries and any touched pages of memory
maps included. (Not ``ru_maxrss``: on Linux a child started from this process inherits the
parent's high-water mark through fork and exec, and this process holds the simulator's ~1 GB.)
The child also reports its CPU seconds (user + system), which other jobs on a shared machine
disturb less than wall time. The targets: time linear in the events, peak at most 4 GB at 30M
events. Reference, timed in the same run: the in-memory ``read_log`` + ``prepare`` of the
smallest log.

Logs are built from 1M-event pieces (``simulate`` with seeds 0, 1, ...), because simulating
30M events at once needs more memory than the machine has: piece k's users and items get
their own id ranges, so a log of n pieces is n independent simulated worlds, with the event
and id statistics of a single one. Pieces and logs are cached in ``--cache``; the prepared
folders are deleted after each run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import config_for_events

from course_lib import SimulatorConfig, prepare, simulate, validate_log
from course_lib.data import read_log
from course_lib.data.ondisk import prepare_to_disk

TARGET_PEAK_GB = 4.0
TARGET_SIZE = 30_000_000
ITEM_ID_RANGE = 5_000_000  # the simulator draws raw item ids below this
GB = 1e6  # memory is measured in KB


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '500k' -> 500_000, '2000' -> 2000."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def piece_csv(cache: Path, index: int, piece_events: int) -> Path:
    """The cached CSV of simulated piece ``index`` (without header), made if missing."""
    path = cache / f"piece_{piece_events}_{index:03d}.csv"
    if not path.exists():
        config = config_for_events(piece_events, seed=index)
        log = validate_log(simulate(config).log)
        log["user_id"] += index * config.num_users
        log["item_id"] += index * ITEM_ID_RANGE
        log.to_csv(path.with_suffix(".tmp"), header=False, index=False, lineterminator="\n")
        path.with_suffix(".tmp").rename(path)
    return path


def log_csv(cache: Path, events: int, piece_events: int) -> Path:
    """The cached CSV of a log of ``events`` events: the first pieces, one header."""
    path = cache / f"log_{events}.csv"
    if not path.exists():
        pieces = [piece_csv(cache, k, piece_events) for k in range(events // piece_events)]
        with path.with_suffix(".tmp").open("wb") as out:
            out.write(b"user_id,item_id,category_id,behavior,timestamp\n")
            for piece in pieces:
                with piece.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 24)
        path.with_suffix(".tmp").rename(path)
    return path


def run_child(mode: str, csv: Path, out: Path, repeats: int) -> dict:
    """Prepare ``csv`` in a fresh process ``repeats`` times; the report of the fastest run."""
    command = [sys.executable, __file__, "--child", mode, str(csv), str(out)]
    reports = []
    for _ in range(repeats):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        shutil.rmtree(out, ignore_errors=True)
        if result.returncode != 0:
            raise RuntimeError(f"child {mode} on {csv} failed:\n{result.stderr[-3000:]}")
        reports.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return min(reports, key=lambda report: report["seconds"])


def child(mode: str, csv: str, out: str) -> None:
    """In the child: prepare one log, then print one JSON line about it."""
    start, end = SimulatorConfig().window  # every piece has the default 9-day window
    baseline, cpu = peak_rss_kb(), cpu_seconds()
    clock = time.perf_counter()
    if mode == "disk":
        data = prepare_to_disk(csv, out, start=start, end=end, overwrite=True)
        phases = data.meta["seconds"]
    else:
        data, phases = prepare(read_log(csv), start=start, end=end), {}
    report = {
        "events": data.cleaning.rows_in,
        "seconds": time.perf_counter() - clock,
        "cpu": cpu_seconds() - cpu,
        "peak": peak_rss_kb(),
        "baseline": baseline,
        "phases": phases,
    }
    print(json.dumps(report))


def peak_rss_kb() -> int:
    """This process's peak resident memory in KB (VmHWM; ru_maxrss where /proc is missing)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def exponent(small: float, large: float, n_small: int, n_large: int) -> float:
    """Growth exponent b of y ~ n**b between two sizes (1.0 = linear)."""
    return math.log(large / small) / math.log(n_large / n_small)


def print_runs(runs: list[dict]) -> None:
    """The table of sizes, the growth between them and the time of each phase."""
    print("\nprepare_to_disk: CSV -> prepared folder, each size in a fresh process")
    print("peak = the child's VmHWM (imports and touched memory-map pages included);")
    print("base = its peak after the imports, before preparing\n")
    columns = ("wall s", 8), ("CPU s", 8), ("events/s", 10), ("peak GB", 8), ("-base GB", 9)
    print(f"{'events':>12}" + "".join(f" {name:>{width}}" for name, width in columns))
    for run in runs:
        rate = run["events"] / run["seconds"]
        above = (run["peak"] - run["baseline"]) / GB
        print(
            f"{run['events']:>12,} {run['seconds']:>8.2f} {run['cpu']:>8.2f} {rate:>10,.0f}"
            f" {run['peak'] / GB:>8.2f} {above:>9.2f}"
        )
    print("\ngrowth exponents between sizes (y ~ events**b; b = 1.0 is linear):")
    for small, large in itertools.pairwise(runs):
        n = (small["events"], large["events"])
        above = [run["peak"] - run["baseline"] for run in (small, large)]
        growth = {
            "wall": exponent(small["seconds"], large["seconds"], *n),
            "CPU": exponent(small["cpu"], large["cpu"], *n),
            "peak": exponent(small["peak"], large["peak"], *n),
            "peak - base": exponent(*above, *n),
        }
        print(
            f"  {n[0]:>12,} -> {n[1]:>12,}: "
            + ", ".join(f"{k} {b:.2f}" for k, b in growth.items())
        )
    print(f"\nwall seconds per phase ({', '.join(runs[0]['phases'])}):")
    for run in runs:
        print(f"  {run['events']:>12,}: " + ", ".join(f"{s:.2f}" for s in run["phases"].values()))


def print_target(runs: list[dict]) -> None:
    """The peak at 30M events against the target, measured or projected from two sizes."""
    largest = runs[-1]
    print(f"\ntarget: time linear in events; peak <= {TARGET_PEAK_GB:.0f} GB at {TARGET_SIZE:,}")
    if largest["events"] >= 0.95 * TARGET_SIZE:
        verdict = "within" if largest["peak"] / GB <= TARGET_PEAK_GB else "OVER"
        print(f"  peak at {largest['events']:,}: {largest['peak'] / GB:.2f} GB ({verdict})")
    elif len(runs) > 1:  # peak = fixed part + bytes per event: a line through the two largest
        small = runs[-2]
        per_event = (largest["peak"] - small["peak"]) * 1e3 / (largest["events"] - small["events"])
        projected = largest["peak"] / GB + per_event * (TARGET_SIZE - largest["events"]) / 1e9
        print(f"  {TARGET_SIZE:,} not run; the peak grows {per_event:.0f} bytes per event between")
        print(f"  the two largest sizes, which projects to {projected:.2f} GB at {TARGET_SIZE:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M,30M", help="comma-separated, e.g. 1M,10M")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "large_logs")
    parser.add_argument("--piece-events", type=parse_size, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1, help="runs per size; the fastest counts")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = sorted(parse_size(size) for size in args.sizes.split(","))
    if any(size < args.piece_events or size % args.piece_events for size in sizes):
        parser.error(f"every size must be a multiple of --piece-events ({args.piece_events:,})")
    args.cache.mkdir(parents=True, exist_ok=True)
    runs = []
    for size in sizes:
        clock = time.perf_counter()
        csv = log_csv(args.cache, size, args.piece_events)
        made, megabytes = time.perf_counter() - clock, csv.stat().st_size / 1e6
        runs.append(run_child("disk", csv, args.cache / f"prepared_{size}", args.repeats))
        print(
            f"[{size:,}: CSV of {megabytes:,.0f} MB ready in {made:.0f} s; prepared]", flush=True
        )
    smallest = log_csv(args.cache, sizes[0], args.piece_events)
    reference = run_child("memory", smallest, args.cache / "unused", args.repeats)

    print_runs(runs)
    print_target(runs)
    print(
        f"\nreference (same run): in-memory read_log + prepare of the {reference['events']:,}-"
        f"event log: {reference['seconds']:.2f} s wall, {reference['cpu']:.2f} s CPU, "
        f"peak {reference['peak'] / GB:.2f} GB"
    )
    first = runs[0]
    time_ratio, peak_ratio = (first[key] / reference[key] for key in ("seconds", "peak"))
    print(
        f"ratio on-disk / in-memory at {first['events']:,}: "
        f"wall time {time_ratio:.2f}, peak {peak_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
