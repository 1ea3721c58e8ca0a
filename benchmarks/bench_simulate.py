"""How fast the simulator generates a log: events per second at about 1,000,000 events.

Reference, timed in the same run: writing the generated log to CSV with pandas.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import best_time, config_for_events

from course_lib import simulate

TARGET_SECONDS = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    config = config_for_events(args.events)
    seconds, simulation = best_time(lambda: simulate(config), args.repeats)
    events = len(simulation.log)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        reference, _ = best_time(lambda: simulation.log.to_csv(path, index=False), args.repeats)

    print(
        f"config: {config.num_users} users, {config.num_items} items, "
        f"{config.num_categories} categories"
    )
    print(
        f"simulate:        {events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s"
    )
    print(f"reference:       to_csv of the same log in {reference:.2f} s")
    print(f"ratio simulate / to_csv: {seconds / reference:.2f}")
    scaled = seconds * 1_000_000 / events
    verdict = "within" if scaled <= TARGET_SECONDS else "OVER"
    print(f"per 1M events:   {scaled:.2f} s ({verdict} the {TARGET_SECONDS:.0f} s target)")


if __name__ == "__main__":
    main()
