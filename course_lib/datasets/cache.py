"""Where downloaded and hand-placed data sets live: one cache folder, one sub-folder per set.

The folder is, in order of precedence: the ``cache_dir=`` argument of a loader, the
``COURSE_CACHE_DIR`` environment variable, or ``~/.cache/course_lib``. A workshop can point
every learner's loaders at a shared, pre-filled folder by setting the variable once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from course_lib.datasets.errors import DatasetNotFoundError

CACHE_ENV_VAR = "COURSE_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/course_lib")


def get_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else $COURSE_CACHE_DIR, else the default.

    The folder is not created here; the download creates it when it first writes a file.
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR
    return Path(cache_dir).expanduser()


def manual_download_error(
    dataset: str, page: str, folder: Path, missing: Sequence[str], hint: str
) -> DatasetNotFoundError:
    """The error for a data set that needs a login: it says where to get it and where to put it.

    Args:
        dataset: the data set's name, e.g. "RetailRocket".
        page: the web page to download it from by hand.
        folder: the folder the loader looked in.
        missing: the file names it did not find there.
        hint: what to download and how to unpack it, one sentence.
    """
    places = "\n".join(f"  {folder / name}" for name in missing)
    return DatasetNotFoundError(
        f"{dataset}: {', '.join(missing)} not found in {folder}. The data set needs a login "
        f"to download, so the course cannot fetch it for you. Fix: download it by hand from "
        f"{page}. {hint} Put the file(s) at:\n{places}\n"
        f"or load from another folder with cache_dir=... or the {CACHE_ENV_VAR} environment "
        f"variable (the data set's files go in its '{folder.name}' sub-folder)."
    )
