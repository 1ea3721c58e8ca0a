"""How fast a raw log becomes samples for every task (``prepare``), at 1,000,000 events.

``prepare`` validates, cleans, builds vocabularies, encodes, builds sequences, splits
(leave-last-out) and makes samples with 4 negatives. Reference, timed in the same run: reading
the same log from a CSV file with ``read_log`` (which also validates).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import best_time, config_for_events

from course_lib import prepare, simulate
from course_lib.data import read_log, write_log

TARGET_SECONDS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    log = simulate(config_for_events(args.events)).log
    seconds, prepared = best_time(lambda: prepare(log), args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        write_log(log, path)
        reference, _ = best_time(lambda: read_log(path), args.repeats)

    samples = len(prepared.train) + len(prepared.valid) + len(prepared.test)
    print(
        f"prepare:    {len(log):,} raw events -> {samples:,} samples in {seconds:.2f} s "
        f"= {len(log) / seconds:,.0f} events/s"
    )
    print(f"reference:  read_log of the same log from CSV in {reference:.2f} s")
    print(f"ratio prepare / read_log: {seconds / reference:.2f}")
    scaled = seconds * 1_000_000 / len(log)
    verdict = "within" if scaled <= TARGET_SECONDS else "OVER"
    print(f"per 1M events: {scaled:.2f} s ({verdict} the {TARGET_SECONDS:.0f} s target)")


if __name__ == "__main__":
    main()
