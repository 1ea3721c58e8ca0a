"""MovieLens 100K and 1M (GroupLens) as a behavior log in the course's data contract.

The archives are downloaded from GroupLens on first use and cached, or read from a copy already
on disk (``archive=``); their license forbids redistribution, so nothing is bundled. How a
rating becomes an event:

| contract column | from                                                                  |
| --------------- | --------------------------------------------------------------------- |
| user_id         | the user id                                                           |
| item_id         | the movie id                                                          |
| category_id     | index in ``GENRES`` of the movie's first genre (0 = "unknown")         |
| behavior        | "like" if rating >= ``like_threshold`` (default 4), else "rate"        |
| timestamp       | the rating's unix time                                                |
| value           | the rating itself, 1 to 5 (float64)                                   |

Every rating is one event, so the funnel is ``MOVIELENS_BEHAVIORS = ("rate", "like")``: the
click task predicts which movie a user rates next, the buy task whether they will like it.
"First genre": the first 0/1 flag set in ``u.item`` (100K), the first name in the
``|``-separated list of ``movies.dat`` (1M). Both use the 19 genres of 100K in its order, so a
category id means the same genre in both; a movie without a known genre, or missing from the
movie file, gets 0 ("unknown").
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.schema import LogValidationError, validate_log
from course_lib.datasets.archive import read_zip_member
from course_lib.datasets.cache import get_cache_dir
from course_lib.datasets.download import (
    RemoteFile,
    download_file,
    file_sha256,
    removed_if_corrupt,
)
from course_lib.datasets.errors import ChecksumError, DatasetNotFoundError

MOVIELENS_BEHAVIORS: tuple[str, ...] = ("rate", "like")
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
BASE_URL = "https://files.grouplens.org/datasets/movielens/"
# The one place the expected checksums live: SHA-256 of the GroupLens archives (100K: 4,924,029
# bytes, 1M: 5,917,549 bytes).
MOVIELENS_FILES: dict[str, RemoteFile] = {
    "100k": RemoteFile(
        BASE_URL + "ml-100k.zip",
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    ),
    "1m": RemoteFile(
        BASE_URL + "ml-1m.zip",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    ),
}
_RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


def load_movielens(
    size: str = "100k",
    *,
    like_threshold: float = 4,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    download: bool = True,
    archive: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Download (once) and load MovieLens as a validated behavior log (see the module doc).

    Prepare it with its own funnel: ``prepare(log, behaviors=MOVIELENS_BEHAVIORS)``.

    Args:
        size: "100k" (100,000 ratings) or "1m" (1,000,209 ratings).
        like_threshold: ratings at or above it are "like" events, the others "rate".
        cache_dir: the cache folder (see ``get_cache_dir``); the archive goes in its
            ``movielens`` sub-folder.
        url, sha256: download from another address, expecting another checksum (a mirror,
            or a test server); default: ``MOVIELENS_FILES[size]``.
        progress: show a progress bar while downloading.
        download: False: never touch the network; a missing archive raises
            ``DatasetNotFoundError`` (for offline workshops and notebooks that must not wait).
        archive: the GroupLens zip already on disk (downloaded by hand, or shared on a USB
            stick): read in place once its SHA-256 is checked; neither the cache nor the
            network is touched.

    Returns:
        The log in the order of the ratings file, indexed 0..n-1, with a ``value`` column.

    Raises:
        DownloadError, ChecksumError: the archive could not be downloaded or is not the
            expected file (the messages say how to place it by hand).
        CorruptArchiveError: the cached archive is damaged or lacks a file (it is deleted,
            so the next call downloads it again).
        ValueError: ``sha256`` is not 64 hexadecimal digits (checked before any download).
        DatasetNotFoundError: ``download=False`` and the archive is not in the cache, or
            ``archive`` is not a file.
    """
    with movielens_archive(size, cache_dir, url, sha256, progress, download, archive) as path:
        ratings, genre, source = _READERS[size](path)
    return _to_log(ratings, genre, source, like_threshold=like_threshold)


@contextmanager
def movielens_archive(
    size: str,
    cache_dir: str | os.PathLike[str] | None,
    url: str | None,
    sha256: str | None,
    progress: bool,
    download: bool,
    archive: str | os.PathLike[str] | None,
) -> Iterator[Path]:
    """The archive of ``size`` to read in the block (arguments as for `load_movielens`).

    A cached archive found corrupt in the block is deleted, so the next call downloads it
    again; the learner's own ``archive`` is checked against its checksum and never deleted.
    """
    if size not in MOVIELENS_FILES:
        raise ValueError(f"size must be one of {sorted(MOVIELENS_FILES)}, got {size!r}")
    default = MOVIELENS_FILES[size]
    remote = RemoteFile(url or default.url, sha256 or default.sha256)
    if archive is not None:
        yield checked_local_copy(Path(archive), remote, size)
        return
    destination = get_cache_dir(cache_dir) / "movielens" / default.filename
    if not download and not destination.is_file():
        raise DatasetNotFoundError(
            f"{destination}: MovieLens {size} is not in the cache and download=False. Fix: "
            f"pass download=True (needs internet), or download {remote.url} by hand and put "
            f"it at {destination}"
        )
    cached = download_file(remote, destination, progress=progress)
    with removed_if_corrupt(cached):
        yield cached


def checked_local_copy(path: Path, remote: RemoteFile, size: str) -> Path:
    """``path`` if it is the expected archive (its SHA-256 is ``remote.sha256``), else an error
    naming the file, both checksums and the fix."""
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path}: archive= names no file. Fix: give the path of {remote.filename} as "
            f"downloaded from {remote.url}, or leave archive out to download it into the cache"
        )
    actual = file_sha256(path)
    if actual != remote.sha256.lower():
        raise ChecksumError(
            f"{path}: SHA-256 {actual}, but MovieLens {size} ({remote.filename}) has "
            f"{remote.sha256}. Fix: check that this is {remote.filename} from {remote.url} "
            f"(the other size's archive, or a partial download, would differ), or pass "
            f"sha256= for another version of it"
        )
    return path


def _read_100k(archive: Path) -> tuple[pd.DataFrame, pd.Series, str]:
    """u.data (tab-separated) and the genre flags of u.item (``|``-separated, latin-1)."""
    ratings = read_table(archive, "ml-100k/u.data", "\t", _RATING_COLUMNS)
    items = read_table(archive, "ml-100k/u.item", "|", None)
    flags = items.iloc[:, 5 : 5 + len(GENRES)].to_numpy(dtype=np.int64)  # 19 genre columns
    first = np.where(flags.any(axis=1), flags.argmax(axis=1), 0)  # argmax: first flag set
    return ratings, pd.Series(first, index=items[0].to_numpy()), f"{archive} (ml-100k/u.data)"


def _read_1m(archive: Path) -> tuple[pd.DataFrame, pd.Series, str]:
    """ratings.dat and movies.dat, both ``::``-separated; genres are ``|``-separated names."""
    ratings = read_table(archive, "ml-1m/ratings.dat", "::", _RATING_COLUMNS)
    movies = read_table(archive, "ml-1m/movies.dat", "::", ["item_id", "title", "genres"])
    first = movies["genres"].astype(str).str.split("|").str[0]
    index = {name: position for position, name in enumerate(GENRES)}
    genre = first.map(index).fillna(0).astype(np.int64)
    return (
        ratings,
        pd.Series(genre.to_numpy(), index=movies["item_id"].to_numpy()),
        (f"{archive} (ml-1m/ratings.dat)"),
    )


_READERS: dict[str, Callable[[Path], tuple[pd.DataFrame, pd.Series, str]]] = {
    "100k": _read_100k,
    "1m": _read_1m,
}


def read_table(
    archive: Path,
    member: str,
    sep: str,
    names: list[str] | None,
    text_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """A headerless member of the archive as a frame. Quotes are plain characters (titles
    contain them), "::" becomes a tab so the fast C parser can split it, and
    ``text_columns`` stay text (a zip code keeps its leading zero)."""
    text = read_zip_member(archive, member).decode("latin-1")
    if sep == "::":
        text, sep = text.replace("::", "\t"), "\t"
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            names=names,
            quoting=csv.QUOTE_NONE,
            dtype=dict.fromkeys(text_columns, str),
        )
    except pd.errors.ParserError as error:
        fix = "check that this is the GroupLens archive; delete it and load again to re-download"
        raise LogValidationError(
            f"{archive} ({member}): not the expected format: {error}. Fix: {fix}"
        ) from None


def _to_log(
    ratings: pd.DataFrame, genre: pd.Series, source: str, *, like_threshold: float
) -> pd.DataFrame:
    """Ratings with their movie's genre as contract columns; validated (file lines from 1)."""
    rating = pd.to_numeric(ratings["rating"], errors="coerce")
    genre = genre[~genre.index.duplicated()]
    log = pd.DataFrame(
        {
            "user_id": ratings["user_id"],
            "item_id": ratings["item_id"],
            "category_id": ratings["item_id"].map(genre).fillna(0).astype(np.int64),
            "behavior": np.where(rating >= like_threshold, "like", "rate"),
            "timestamp": ratings["timestamp"],
            "value": ratings["rating"],
        }
    )
    return validate_log(log, source=source, behaviors=MOVIELENS_BEHAVIORS, line_offset=1)
