"""Tests for everything that goes over HTTP: course_lib.datasets.download and the MovieLens
loader, against a server on 127.0.0.1 that serves tiny archives built here in the real layouts.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.data import UNK
from course_lib.data.pipeline import prepare
from course_lib.datasets import (
    GENRES,
    MOVIELENS_BEHAVIORS,
    MOVIELENS_FEATURES,
    MOVIELENS_FILES,
    OCCUPATIONS_1M,
    ChecksumError,
    CorruptArchiveError,
    DatasetNotFoundError,
    DownloadError,
    RemoteFile,
    download_file,
    load_movielens,
    load_movielens_side_tables,
)

# ------------------------------------------------------------------------------ local server


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` by path and counts requests; paths in ``truncated`` send half the body
    under the full Content-Length and close; paths in ``slow`` wait before answering."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: Counter[str] = Counter()
        self.truncated: set[str] = set()
        self.slow: set[str] = set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        self.server.requests[self.path] += 1
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if self.path in self.server.slow:
            time.sleep(1.0)
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(
                body[: len(body) // 2] if self.path in self.server.truncated else body
            )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout test)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def running_server() -> Iterator[FileServer]:
    httpd = FileServer()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(running_server: FileServer) -> FileServer:
    """The module's server, emptied: no files, no requests counted."""
    for state in ("files", "requests", "truncated", "slow"):
        getattr(running_server, state).clear()
    return running_server


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused, like being offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ml-100k.zip"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Names of every file in the folder (a failed download must leave none)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------------ tiny archives

# (user, movie, rating, unix time): 6 users rate 8 of 10 movies each, one rating per minute.
RATINGS = [
    (user, 1 + (user + step) % 10, 1 + (user * 3 + step) % 5, 880_000_000 + 60 * (8 * user + step))
    for user in range(1, 7)
    for step in range(8)
]
# movie -> genres; movie 4 has no genre flag, movie 10 is missing from the movie file.
MOVIE_GENRES = {
    1: ["Animation", "Children's", "Comedy"], 2: ["Action", "Thriller"], 3: ["Comedy"],
    4: [], 5: ["Drama", "Romance"], 6: ["Sci-Fi", "War"], 7: ["Documentary"],
    8: ["Film-Noir", "Thriller"], 9: ["Western"],
}  # fmt: skip


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def ml_100k_zip() -> bytes:
    """u.data: user \\t item \\t rating \\t time; u.item: 5 info fields | 19 genre flags."""
    data = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS)
    lines = []
    for movie, genres in MOVIE_GENRES.items():
        flags = "|".join("1" if g in genres else "0" for g in GENRES)
        title = f'Café "{movie}" (1995)'  # latin-1 accent and quotes, as real titles have
        lines.append(f"{movie}|{title}|01-Jan-1995||http://example.invalid/{movie}|{flags}\n")
    users = "".join(f"{u}|{20 + u}|{'MF'[u % 2]}|writer|0{u}101\n" for u in range(1, 7))
    return zip_bytes(
        {
            "ml-100k/u.data": data.encode(),
            "ml-100k/u.item": "".join(lines).encode("latin-1"),
            "ml-100k/u.user": users.encode(),
        }
    )


def ml_1m_zip() -> bytes:
    """ratings.dat: UserID::MovieID::Rating::Timestamp; movies.dat: MovieID::Title::Genres."""
    data = "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in RATINGS)
    movies = "".join(
        f"{movie}::Crème: Part {movie} (2000)::{'|'.join(genres) or 'Unheard-Of'}\n"
        for movie, genres in MOVIE_GENRES.items()
    )
    users = "".join(
        f"{u}::{'MF'[u % 2]}::{(1, 18, 25)[u % 3]}::{u + 9}::0{u}101\n" for u in range(1, 7)
    )
    return zip_bytes(
        {
            "ml-1m/ratings.dat": data.encode(),
            "ml-1m/movies.dat": movies.encode("latin-1"),
            "ml-1m/users.dat": users.encode(),
        }
    )


ARCHIVES = {"100k": ml_100k_zip(), "1m": ml_1m_zip()}


def serve_movielens(server: FileServer, size: str) -> tuple[str, str]:
    """Put a tiny archive on the server; returns its URL and SHA-256."""
    path = f"/ml-{size}.zip"
    server.files[path] = ARCHIVES[size]
    return server.url(path), sha256(ARCHIVES[size])


# ------------------------------------------------------------------------------ download_file


def test_download_writes_the_file_and_the_second_call_uses_the_cache(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/data.bin"] = payload = b"x" * 200_000
    remote = RemoteFile(server.url("/data.bin"), sha256(payload))
    target = tmp_path / "cache" / "data.bin"
    assert download_file(remote, target, progress=False) == target
    assert target.read_bytes() == payload
    assert download_file(remote, target) == target  # with a progress bar this time
    assert server.requests["/data.bin"] == 1
    assert leftovers(target.parent) == ["data.bin"]


def test_a_cached_file_with_a_wrong_checksum_is_downloaded_again(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/data.bin"] = payload = b"right bytes"
    target = tmp_path / "data.bin"
    target.write_bytes(b"a half-written file from an old version")
    download_file(RemoteFile(server.url("/data.bin"), sha256(payload)), target, progress=False)
    assert target.read_bytes() == payload
    assert server.requests["/data.bin"] == 1


def test_a_wrong_checksum_deletes_the_download_and_names_both_digests(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/data.bin"] = payload = b"not what we expect"
    expected = "0" * 64
    with pytest.raises(ChecksumError) as error:
        download_file(RemoteFile(server.url("/data.bin"), expected), tmp_path / "data.bin")
    assert expected in str(error.value) and sha256(payload) in str(error.value)
    assert leftovers(tmp_path) == []  # neither data.bin nor a .part file


def test_a_dropped_connection_leaves_no_file(server: FileServer, tmp_path: Path) -> None:
    server.files["/data.bin"] = payload = bytes(range(256)) * 400
    server.truncated.add("/data.bin")
    remote = RemoteFile(server.url("/data.bin"), sha256(payload))
    with pytest.raises(DownloadError, match=r"stopped after 51,200 of 102,400 bytes"):
        download_file(remote, tmp_path / "data.bin", progress=False)
    assert leftovers(tmp_path) == []


def test_offline_says_where_to_place_the_file_by_hand(tmp_path: Path) -> None:
    target = tmp_path / "movielens" / "ml-100k.zip"
    with pytest.raises(DownloadError) as error:
        download_file(RemoteFile(closed_port_url(), "ab" * 32), target, progress=False)
    message = str(error.value)
    assert "could not be downloaded from http://127.0.0.1:" in message
    assert f"place it at {target}" in message and "ab" * 32 in message
    assert leftovers(target.parent) == []


def test_an_http_error_and_a_timeout_are_download_errors(
    server: FileServer, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match=r"\(HTTP Error 404: Not Found\)"):
        download_file(RemoteFile(server.url("/nothing"), "0" * 64), tmp_path / "a", progress=False)
    server.files["/slow"] = b"late"
    server.slow.add("/slow")
    remote = RemoteFile(server.url("/slow"), sha256(b"late"))
    with pytest.raises(DownloadError, match="timed out"):
        download_file(remote, tmp_path / "b", progress=False, timeout=0.2)
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ MovieLens


@pytest.mark.parametrize("size", ["100k", "1m"])
def test_movielens_maps_ratings_into_the_contract(
    server: FileServer, tmp_path: Path, size: str
) -> None:
    url, digest = serve_movielens(server, size)
    log = load_movielens(size, cache_dir=tmp_path, url=url, sha256=digest, progress=False)
    contract = ["user_id", "item_id", "category_id", "behavior", "timestamp", "value"]
    assert list(log.columns) == contract
    assert [str(t) for t in log.dtypes] == ["int64"] * 3 + ["str", "int64", "float64"]
    expected = pd.DataFrame(RATINGS, columns=["user_id", "item_id", "value", "timestamp"])
    np.testing.assert_array_equal(log["user_id"], expected["user_id"])
    np.testing.assert_array_equal(log["timestamp"], expected["timestamp"])
    np.testing.assert_array_equal(log["value"], expected["value"].astype(float))
    np.testing.assert_array_equal(
        log["behavior"], np.where(expected["value"] >= 4, "like", "rate")
    )
    first_genre = {movie: GENRES.index(g[0]) if g else 0 for movie, g in MOVIE_GENRES.items()}
    np.testing.assert_array_equal(
        log["category_id"], expected["item_id"].map(first_genre).fillna(0)
    )
    assert (tmp_path / "movielens" / f"ml-{size}.zip").is_file()


def test_movielens_first_genre_examples(server: FileServer, tmp_path: Path) -> None:
    url, digest = serve_movielens(server, "100k")
    log = load_movielens(cache_dir=tmp_path, url=url, sha256=digest, progress=False)
    category = log.drop_duplicates("item_id").set_index("item_id")["category_id"]
    assert category[1] == GENRES.index("Animation") == 3
    assert category[5] == GENRES.index("Drama")
    assert category[4] == 0 and category[10] == 0  # no genre flag; not in u.item


def test_movielens_like_threshold_is_a_parameter(server: FileServer, tmp_path: Path) -> None:
    url, digest = serve_movielens(server, "1m")
    log = load_movielens(
        "1m", like_threshold=5, cache_dir=tmp_path, url=url, sha256=digest, progress=False
    )
    np.testing.assert_array_equal(log["behavior"] == "like", log["value"] == 5)
    assert (log["value"] == 4).any()


def test_movielens_is_downloaded_once(server: FileServer, tmp_path: Path) -> None:
    url, digest = serve_movielens(server, "100k")
    first = load_movielens(cache_dir=tmp_path, url=url, sha256=digest, progress=False)
    again = load_movielens(cache_dir=tmp_path, url=url, sha256=digest, progress=False)
    pd.testing.assert_frame_equal(first, again)
    assert server.requests["/ml-100k.zip"] == 1


def test_movielens_cache_dir_comes_from_the_environment(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "shared"))
    url, digest = serve_movielens(server, "100k")
    load_movielens(url=url, sha256=digest, progress=False)
    assert (tmp_path / "shared" / "movielens" / "ml-100k.zip").is_file()


def test_movielens_prepares_with_its_funnel(server: FileServer, tmp_path: Path) -> None:
    url, digest = serve_movielens(server, "1m")
    log = load_movielens("1m", cache_dir=tmp_path, url=url, sha256=digest, progress=False)
    data = prepare(log, behaviors=MOVIELENS_BEHAVIORS, num_negatives=2)
    assert data.behaviors == MOVIELENS_BEHAVIORS and data.vocabularies.num_behaviors == 2
    liked = log["behavior"].to_numpy()[data.train.event_index] == "like"
    np.testing.assert_array_equal(data.train.buy, (data.train.click == 1) & liked)
    assert data.train.buy.sum() > 0


def test_movielens_wrong_checksum_leaves_nothing_in_the_cache(
    server: FileServer, tmp_path: Path
) -> None:
    url, _ = serve_movielens(server, "100k")
    with pytest.raises(ChecksumError, match="expected " + "1" * 64):
        load_movielens(cache_dir=tmp_path, url=url, sha256="1" * 64, progress=False)
    assert leftovers(tmp_path / "movielens") == []


def test_movielens_corrupt_archive_is_a_clear_error_and_leaves_the_cache(
    server: FileServer, tmp_path: Path
) -> None:
    broken = ARCHIVES["100k"][:-40]  # the zip's central directory is at its end
    server.files["/ml-100k.zip"] = broken
    options = {"cache_dir": tmp_path, "url": server.url("/ml-100k.zip"), "progress": False}
    for attempt in (1, 2):  # the retry downloads again instead of failing on the cached file
        with pytest.raises(
            CorruptArchiveError, match=r"ml-100k\.zip: not a readable zip"
        ) as error:
            load_movielens(sha256=sha256(broken), **options)
        assert "deleted from the cache" in str(error.value)
        assert leftovers(tmp_path / "movielens") == []
        assert server.requests["/ml-100k.zip"] == attempt
    server.files["/ml-100k.zip"] = ARCHIVES["100k"]  # the server's file is mended
    assert len(load_movielens(sha256=sha256(ARCHIVES["100k"]), **options)) == len(RATINGS)


@pytest.mark.parametrize("digest", ["abc", "0" * 63, "g" * 64, "0" * 64 + " "])
def test_a_malformed_checksum_is_refused_before_any_download(
    server: FileServer, tmp_path: Path, digest: str
) -> None:
    url, _ = serve_movielens(server, "100k")
    with pytest.raises(ValueError, match="not a SHA-256 checksum") as error:
        load_movielens(cache_dir=tmp_path, url=url, sha256=digest, progress=False)
    assert repr(digest) in str(error.value) and "64 hexadecimal digits" in str(error.value)
    assert server.requests["/ml-100k.zip"] == 0


def test_movielens_archive_without_a_member_names_it(server: FileServer, tmp_path: Path) -> None:
    server.files["/ml-100k.zip"] = archive = zip_bytes({"ml-100k/u.data": b"1\t2\t3\t4\n"})
    with pytest.raises(CorruptArchiveError, match=r"no member 'ml-100k/u\.item'"):
        load_movielens(cache_dir=tmp_path, url=server.url("/ml-100k.zip"), sha256=sha256(archive))


def test_movielens_offline_explains_the_manual_placement(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as error:
        load_movielens(cache_dir=tmp_path, url=closed_port_url(), progress=False)
    message = str(error.value)
    assert "could not be downloaded" in message
    assert str(tmp_path / "movielens" / "ml-100k.zip") in message


def test_movielens_without_download_never_touches_the_network(
    server: FileServer, tmp_path: Path
) -> None:
    url, digest = serve_movielens(server, "100k")
    with pytest.raises(DatasetNotFoundError, match="download=False") as error:
        load_movielens(cache_dir=tmp_path, url=url, sha256=digest, download=False)
    assert str(tmp_path / "movielens" / "ml-100k.zip") in str(error.value)
    assert server.requests["/ml-100k.zip"] == 0
    load_movielens(cache_dir=tmp_path, url=url, sha256=digest, progress=False)  # now cached
    cached = load_movielens(cache_dir=tmp_path, url=url, sha256=digest, download=False)
    assert len(cached) > 0 and server.requests["/ml-100k.zip"] == 1


def test_movielens_refuses_an_unknown_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\['100k', '1m'\]"):
        load_movielens("20m", cache_dir=tmp_path)


def test_movielens_reads_an_archive_already_on_disk(tmp_path: Path) -> None:
    copy = tmp_path / "downloads" / "ml-1m.zip"
    copy.parent.mkdir()
    copy.write_bytes(ARCHIVES["1m"])
    cache = tmp_path / "cache"
    log = load_movielens("1m", archive=copy, sha256=sha256(ARCHIVES["1m"]), cache_dir=cache)
    assert len(log) == len(RATINGS)
    assert log["value"].tolist() == [float(rating) for _, _, rating, _ in RATINGS]
    assert not cache.exists()  # read in place: nothing copied, nothing downloaded
    assert copy.read_bytes() == ARCHIVES["1m"]


def test_movielens_refuses_a_local_archive_that_is_not_the_expected_file(tmp_path: Path) -> None:
    copy = tmp_path / "ml-100k.zip"
    copy.write_bytes(ARCHIVES["1m"])  # the other size's archive under the 100k name
    with pytest.raises(ChecksumError) as caught:
        load_movielens("100k", archive=copy)
    message = str(caught.value)
    assert str(copy) in message and sha256(ARCHIVES["1m"]) in message
    assert MOVIELENS_FILES["100k"].sha256 in message and "Fix:" in message
    assert copy.is_file()  # the learner's file is never deleted
    with pytest.raises(DatasetNotFoundError, match="archive= names no file"):
        load_movielens("100k", archive=tmp_path / "missing.zip")


@pytest.mark.parametrize("size", ["100k", "1m"])
def test_movielens_side_tables_describe_the_users_and_movies(tmp_path: Path, size: str) -> None:
    copy = tmp_path / f"ml-{size}.zip"
    copy.write_bytes(ARCHIVES[size])
    users, movies = load_movielens_side_tables(size, archive=copy, sha256=sha256(ARCHIVES[size]))
    assert list(users.columns) == [
        "user_id", "gender", "age", "age_group", "occupation", "zip_code"
    ]  # fmt: skip
    assert users["user_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert users["gender"].tolist() == ["F", "M", "F", "M", "F", "M"]
    if size == "100k":
        assert users["age"].tolist() == [21, 22, 23, 24, 25, 26]
        assert users["age_group"].tolist() == [18, 18, 18, 18, 25, 25]
        assert set(users["occupation"]) == {"writer"}
    else:  # age groups, and occupation codes 10..15 decoded
        assert users["age"].tolist() == [18, 25, 1, 18, 25, 1]
        assert users["age_group"].tolist() == users["age"].tolist()
        assert users["occupation"].tolist() == list(OCCUPATIONS_1M[10:16])
    assert users["zip_code"].iloc[0] == "01101"  # a zip code stays text, leading zero kept
    assert list(movies.columns) == ["item_id", "title", "genres", "category_id"]
    by_id = movies.set_index("item_id")
    assert by_id.loc[1, "genres"] == "Animation|Children's|Comedy"  # multi-valued, GENRES order
    assert by_id.loc[6, "genres"] == "Sci-Fi|War"
    assert by_id.loc[4, "genres"] == ""  # no genre
    log = load_movielens(size, archive=copy, sha256=sha256(ARCHIVES[size]))
    first = log.drop_duplicates("item_id").set_index("item_id")["category_id"]
    pd.testing.assert_series_equal(  # the category is the log's, for every movie both know
        by_id["category_id"].reindex(first.index).dropna().astype(np.int64),
        first[first.index.isin(by_id.index)],
        check_names=False,
    )


def test_movielens_features_prepare_from_the_side_tables(tmp_path: Path) -> None:
    copy = tmp_path / "ml-100k.zip"
    copy.write_bytes(ARCHIVES["100k"])
    log = load_movielens("100k", archive=copy, sha256=sha256(ARCHIVES["100k"]))
    users, movies = load_movielens_side_tables(
        "100k", archive=copy, sha256=sha256(ARCHIVES["100k"])
    )
    data = prepare(
        log,
        behaviors=MOVIELENS_BEHAVIORS,
        min_events_per_user=1,
        feedback="explicit",
        features=MOVIELENS_FEATURES,
        users=users,
        items=movies,
    )
    side, vocab = data.features, data.vocabularies
    assert side.names == ("gender", "age_group", "occupation", "genres")
    genres = side.vocabularies["genres"]
    movie_1 = side.tables["genres"][vocab.item.encode([1])[0]]
    assert sorted(genres.decode(movie_1[movie_1 > 0])) == ["Animation", "Children's", "Comedy"]
    gender = side.vocabularies["gender"].decode(side.tables["gender"][vocab.user.encode([1, 2])])
    assert gender.tolist() == ["F", "M"]
    missing = {"gender": 0, "age_group": 0, "occupation": 0, "genres": 1}
    assert side.missing == missing  # movie 10 is rated, not described: kept, its genre unknown
    assert side.tables["genres"][vocab.item.encode([10])[0]].tolist()[0] == UNK


def test_movielens_side_tables_come_from_the_same_cached_download(
    server: FileServer, tmp_path: Path
) -> None:
    url, digest = serve_movielens(server, "100k")
    options = {"cache_dir": tmp_path, "url": url, "sha256": digest, "progress": False}
    load_movielens(**options)
    users, movies = load_movielens_side_tables("100k", **options)
    assert server.requests["/ml-100k.zip"] == 1 and len(users) == 6 and len(movies) == 9
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_movielens_side_tables("1m", cache_dir=tmp_path, download=False)
