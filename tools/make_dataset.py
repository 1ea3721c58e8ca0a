"""Regenerate the bundled data set byte for byte: ``python tools/make_dataset.py``.

Writes datasets/simulated/*.csv.gz from ``course_lib.bundled.BUNDLED_CONFIG`` and
datasets/simulated/SHA256SUMS, which the tests compare a fresh regeneration against.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.bundled import data_dir, write_bundled


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


if __name__ == "__main__":
    main()
