"""Taobao UserBehavior (Alibaba, on Tianchi) from the cache folder, placed there by hand.

The file already has the contract's five columns (user, item, category, behavior in
pv / fav / cart / buy, unix seconds), without a header; ``read_taobao_user_behavior`` reads it.
Downloading it needs a Tianchi login, so the course cannot fetch it: this loader only finds it
and explains where to put it when it is missing. The full file has 100,150,807 rows (3.5 GB
unpacked): try ``nrows`` first.
"""

from __future__ import annotations

import gzip
import os
import zlib

import pandas as pd

from course_lib.data.io import read_taobao_user_behavior
from course_lib.datasets.archive import zip_members
from course_lib.datasets.cache import get_cache_dir, manual_download_error
from course_lib.datasets.errors import CorruptArchiveError

TAOBAO_PAGE = "https://tianchi.aliyun.com/dataset/649"
# Looked for in this order in <cache>/taobao/; the zip must hold UserBehavior.csv alone.
TAOBAO_FILES: tuple[str, ...] = (
    "UserBehavior.csv",
    "UserBehavior.csv.gz",
    "UserBehavior.csv.zip",
    "UserBehavior.zip",
)


def load_taobao_user_behavior(
    *, cache_dir: str | os.PathLike[str] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    """Load Taobao UserBehavior from ``<cache>/taobao/`` as a validated behavior log.

    Args:
        cache_dir: the cache folder (see ``get_cache_dir``).
        nrows: read only the first ``nrows`` lines; None reads the whole file.

    Returns:
        The log (funnel ``TAOBAO_BEHAVIORS``), indexed 0..n-1 in file order.

    Raises:
        DatasetNotFoundError: none of ``TAOBAO_FILES`` is in the folder; the message says
            where to download the file and exactly where to put it.
        CorruptArchiveError: the .zip or .gz file is damaged.
        LogValidationError: the file breaks the contract (with file line numbers).
    """
    folder = get_cache_dir(cache_dir) / "taobao"
    path = next((folder / name for name in TAOBAO_FILES if (folder / name).is_file()), None)
    if path is None:
        accepted = ", ".join(TAOBAO_FILES)
        hint = (
            "It comes as UserBehavior.csv.zip (about 0.9 GB): put that zip, or the "
            f"UserBehavior.csv unzipped from it, in the folder below (accepted names: {accepted})."
        )
        raise manual_download_error(
            "Taobao UserBehavior", TAOBAO_PAGE, folder, TAOBAO_FILES[:1], hint
        )
    if path.suffix == ".zip" and len(members := zip_members(path)) != 1:
        raise CorruptArchiveError(
            f"{path}: the zip holds {len(members)} files ({', '.join(members[:5])}), pandas "
            f"can read it only if it holds UserBehavior.csv alone. Fix: unzip it and put "
            f"UserBehavior.csv at {folder / TAOBAO_FILES[0]}"
        )
    try:
        return read_taobao_user_behavior(path, nrows=nrows)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise CorruptArchiveError(
            f"{path}: the compressed file cannot be read ({error}). Fix: download it again, "
            f"or unpack it yourself and put UserBehavior.csv at {folder / TAOBAO_FILES[0]}"
        ) from None
