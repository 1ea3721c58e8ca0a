"""Regenerate the bundled data set byte for byte: ``python tools/make_dataset.py``.

Writes datasets/simulated/*.csv.gz from ``course_lib.bundled.BUNDLED_CONFIG`` and
datasets/simulated/SHA256SUMS, which the tests compare a fresh regeneration against, then
prints the statistics quoted in datasets/README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from course_lib import bundled_window, clean_log
from course_lib.bundled import data_dir, write_bundled
from course_lib.data import read_log


def statistics(log: pd.DataFrame) -> pd.Series:
    """The datasheet's numbers for a raw bundled log."""
    start, end = bundled_window()
    _, report = clean_log(log, start=start, end=end, min_events_per_user=5)
    per_user = log.groupby("user_id").size()
    shares = log["behavior"].value_counts(normalize=True)
    return pd.Series(
        {
            "rows": len(log),
            "users": log["user_id"].nunique(),
            "items": log["item_id"].nunique(),
            "categories": log["category_id"].nunique(),
            **{f"share {b}": round(shares[b], 4) for b in ("pv", "fav", "cart", "buy")},
            "events per user: median": per_user.median(),
            "events per user: mean": round(per_user.mean(), 1),
            "events per user: min / max": f"{per_user.min()} / {per_user.max()}",
            **{f"dropped by cleaning: {k}": v for k, v in report.counts.items()},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=data_dir() / "simulated", help="folder to write into"
    )
    folder = parser.parse_args().out
    checksums = write_bundled(folder)
    lines = [f"{digest}  {name}" for name, digest in checksums.items()]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(statistics(read_log(folder / "behavior_log.csv.gz")).to_string())


if __name__ == "__main__":
    main()
