"""MovieLens' user and movie tables: the side information a ratings log comes with.

``load_movielens`` gives the ratings as a behavior log; this gives what the archive says about
the users and the movies, keyed by the same raw ids, for a model that reads user and item
attributes. Both sizes come out in one shape (100K reads ``u.user`` and ``u.item``, 1M
``users.dat`` and ``movies.dat``):

- users: ``gender`` (M or F); ``age`` (100K: years; 1M: the first year of the user's age
  group, 1 = under 18, then 18, 25, 35, 45, 50, 56); ``age_group``, 1M's groups for both
  sizes; ``occupation`` (its name; 1M's codes are decoded with ``OCCUPATIONS_1M``);
  ``zip_code`` as written.
- movies: ``title`` (with the year); ``genres``, every genre of the movie ``|``-separated in
  ``GENRES`` order ("" for none), the multi-valued attribute; ``category_id``, the first
  genre's index in ``GENRES``, the log's category.

``MOVIELENS_FEATURES`` declares the side features a model can read from them (``prepare(log,
features=MOVIELENS_FEATURES, users=users, items=movies)``): gender, age group and occupation
of the user, every genre of the movie.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.features import Feature
from course_lib.datasets.movielens import GENRES, movielens_archive, read_table

# MovieLens 1M codes its occupations 0..20; these are their names, in code order.
OCCUPATIONS_1M: tuple[str, ...] = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
AGE_GROUPS_1M = (1, 18, 25, 35, 45, 50, 56)  # each group's first year; 1 = under 18
USER_COLUMNS = ["user_id", "gender", "age", "age_group", "occupation", "zip_code"]
MOVIELENS_FEATURES = (
    Feature("gender", "user"),
    Feature("age_group", "user"),
    Feature("occupation", "user"),
    Feature("genres", "item", "multi"),
)
MOVIE_COLUMNS = ["item_id", "title", "genres", "category_id"]
USER_FILE_100K = ["user_id", "age", "gender", "occupation", "zip_code"]  # u.user's order


def load_movielens_side_tables(
    size: str = "100k",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    download: bool = True,
    archive: str | os.PathLike[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The users and movies tables of a MovieLens archive (see the module doc).

    The archive is found, downloaded or checked exactly as by ``load_movielens``, whose
    arguments these are (the same cache: the archive is downloaded once for both).

    Returns:
        ``(users, movies)``: one row per user (``USER_COLUMNS``) and per movie
        (``MOVIE_COLUMNS``), sorted by id.
    """
    with movielens_archive(size, cache_dir, url, sha256, progress, download, archive) as path:
        if size == "100k":
            return _users_100k(path), _movies_100k(path)
        return _users_1m(path), _movies_1m(path)


def _users_100k(archive: Path) -> pd.DataFrame:
    """u.user: user id | age | gender | occupation | zip code."""
    users = read_table(archive, "ml-100k/u.user", "|", USER_FILE_100K, ["zip_code"])
    return _user_frame(users)


def _users_1m(archive: Path) -> pd.DataFrame:
    """users.dat: UserID::Gender::Age::Occupation::Zip-code, occupations coded 0..20."""
    names = ["user_id", "gender", "age", "occupation", "zip_code"]
    users = read_table(archive, "ml-1m/users.dat", "::", names, ["zip_code"])
    code = pd.to_numeric(users["occupation"], errors="coerce")
    known = code.between(0, len(OCCUPATIONS_1M) - 1)
    names_of = np.asarray(OCCUPATIONS_1M, dtype=object)
    users["occupation"] = np.where(known, names_of[code.fillna(0).astype(int)], "other")
    return _user_frame(users)


def _user_frame(users: pd.DataFrame) -> pd.DataFrame:
    """The users table with the course's column order and types, sorted by id."""
    frame = pd.DataFrame(
        {
            "user_id": users["user_id"].astype(np.int64),
            "gender": users["gender"].astype(str),
            "age": users["age"].astype(np.int64),
            "age_group": age_groups(users["age"].astype(np.int64).to_numpy()),
            "occupation": users["occupation"].astype(str),
            "zip_code": users["zip_code"].astype(str),
        }
    )
    return frame.sort_values("user_id", ignore_index=True)


def age_groups(age: np.ndarray) -> np.ndarray:
    """The first year of each age's group in ``AGE_GROUPS_1M`` (1M's ages map to themselves)."""
    starts = np.asarray(AGE_GROUPS_1M)
    return starts[np.searchsorted(starts, age, side="right") - 1].astype(np.int64)


def _movies_100k(archive: Path) -> pd.DataFrame:
    """u.item: id | title | release date | video date | URL | 19 genre flags."""
    items = read_table(archive, "ml-100k/u.item", "|", None)
    flags = items.iloc[:, 5 : 5 + len(GENRES)].to_numpy(dtype=bool)  # (movies, 19)
    genres = ["|".join(np.asarray(GENRES)[row]) for row in flags]
    return _movie_frame(items[0], items[1], pd.Series(genres))


def _movies_1m(archive: Path) -> pd.DataFrame:
    """movies.dat: MovieID::Title::Genres, genres ``|``-separated names."""
    movies = read_table(archive, "ml-1m/movies.dat", "::", ["item_id", "title", "genres"])
    known = set(GENRES)
    genres = (
        movies["genres"]
        .astype(str)
        .map(lambda names: "|".join(g for g in GENRES if g in set(names.split("|")) & known))
    )
    return _movie_frame(movies["item_id"], movies["title"], genres)


def _movie_frame(item_id: pd.Series, title: pd.Series, genres: pd.Series) -> pd.DataFrame:
    """The movies table: genres in ``GENRES`` order, the first one's index as category."""
    first = genres.str.split("|").str[0]
    index = {name: position for position, name in enumerate(GENRES)}
    frame = pd.DataFrame(
        {
            "item_id": item_id.astype(np.int64).to_numpy(),
            "title": title.astype(str).to_numpy(),
            "genres": genres.to_numpy(),
            "category_id": first.map(index).fillna(0).astype(np.int64).to_numpy(),
        }
    )
    return frame.sort_values("item_id", ignore_index=True)
