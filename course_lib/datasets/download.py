"""Download a file once, check its SHA-256, and never leave a half file under its name.

The bytes go to a temporary ``<name>.<random>.part`` file next to the destination while the
checksum is computed; only when the whole file has arrived and its SHA-256 matches is it renamed
to the destination (``os.replace`` is atomic within a folder). So a dropped connection, a wrong
file or Ctrl-C leave nothing that a later run could mistake for the data set. A file already at
the destination with the right checksum is used without touching the network, which is also how
a file downloaded by hand on another machine gets in.

Only the standard library (urllib, hashlib) and tqdm for the progress bar.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from course_lib.datasets.errors import ChecksumError, CorruptArchiveError, DownloadError

_BLOCK = 1 << 16  # bytes read per step; also the progress bar's granularity
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# What a network failure looks like: urlopen wraps refusals and DNS errors in URLError, reads
# raise the socket's own errors, and http.client raises its own on a broken response.
_NETWORK_ERRORS = (
    urllib.error.URLError,
    ConnectionError,
    TimeoutError,
    ssl.SSLError,
    http.client.HTTPException,
)


@dataclass(frozen=True)
class RemoteFile:
    """A file on the web and the SHA-256 it must have (lowercase hex)."""

    url: str
    sha256: str

    def __post_init__(self) -> None:
        """Refuse a malformed checksum now, before any download rather than after it."""
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            length = (
                f"{len(self.sha256)} characters" if isinstance(self.sha256, str) else "not text"
            )
            raise ValueError(
                f"sha256={self.sha256!r} for {self.url}: not a SHA-256 checksum ({length}; one is "
                "64 hexadecimal digits). Fix: copy the whole digest, e.g. from `sha256sum FILE` "
                "or the data set's page"
            )

    @property
    def filename(self) -> str:
        """The last part of the URL's path, the name the file gets in the cache."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file as lowercase hex, read in blocks (the file may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    remote: RemoteFile, destination: Path, *, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Make sure ``destination`` holds the remote file, downloading it if needed.

    Args:
        remote: the URL and the expected SHA-256.
        destination: where the file goes; its folder is created if needed.
        progress: show a tqdm progress bar while downloading.
        timeout: seconds to wait for the connection and for each read.

    Returns:
        ``destination``, whose SHA-256 is ``remote.sha256``.

    Raises:
        DownloadError: no connection, a timeout, an HTTP error or a dropped connection.
        ChecksumError: the downloaded bytes have another SHA-256 (they are deleted).
    """
    destination = Path(destination)
    expected = remote.sha256.lower()
    stale = None
    if destination.is_file():
        stale = file_sha256(destination)
        if stale == expected:
            return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    # A random name, so two processes downloading at once do not write into the same file;
    # created by open() rather than tempfile so it gets the usual permissions (a shared cache).
    part = destination.with_name(f"{destination.name}.{secrets.token_hex(4)}.part")
    try:
        with part.open("xb") as stream:
            actual = _fetch(remote, destination, stream, stale, progress, timeout)
        if actual != expected:
            raise ChecksumError(
                f"{destination.name}: the file downloaded from {remote.url} has SHA-256 "
                f"{actual}, expected {expected}; it was deleted. Fix: try again; if it fails "
                f"again the file on the server is not the one the course expects (check the "
                f"data set's page for a new version)"
            )
        os.replace(part, destination)
    finally:
        part.unlink(missing_ok=True)
    return destination


def _fetch(
    remote: RemoteFile,
    destination: Path,
    stream: BinaryIO,
    stale: str | None,
    progress: bool,
    timeout: float,
) -> str:
    """Copy the response body into ``stream``; returns its SHA-256 (lowercase hex)."""
    digest = hashlib.sha256()
    received, length = 0, None
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout) as response:
            header = response.headers.get("Content-Length")
            length = int(header) if header and header.isdigit() else None
            with tqdm(
                total=length,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"Downloading {destination.name}",
                disable=not progress,
            ) as bar:
                while block := response.read(_BLOCK):
                    stream.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
    except _NETWORK_ERRORS as error:
        raise DownloadError(_offline_message(remote, destination, error, stale)) from error
    if length is not None and received < length:
        raise DownloadError(
            f"{destination.name}: the download from {remote.url} stopped after {received:,} "
            f"of {length:,} bytes (the connection was closed); nothing was saved. "
            f"Fix: try again"
        )
    return digest.hexdigest()


def _offline_message(
    remote: RemoteFile, destination: Path, error: BaseException, stale: str | None
) -> str:
    """Why the download failed, and how to place the file by hand instead."""
    # URLError wraps the cause (e.g. "Connection refused") in .reason; an HTTPError's own text
    # ("HTTP Error 404: Not Found") says more than its reason alone.
    reason = error
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        reason = error.reason
    message = (
        f"{destination.name}: the data set could not be downloaded from {remote.url} "
        f"({reason}). Fix: check the internet connection and try again; or download the file "
        f"by hand (on another machine if need be) and place it at {destination}: a file "
        f"there with SHA-256 {remote.sha256} is used without downloading"
    )
    if stale is not None:
        message += (
            f". The file already there has SHA-256 {stale} (incomplete or another version), "
            f"so it was not used"
        )
    return message


@contextmanager
def removed_if_corrupt(path: Path) -> Iterator[None]:
    """Delete ``path`` from the cache if reading it in the block finds it corrupt.

    A damaged archive whose checksum was given (a mirror's, say) would otherwise stay in the
    cache and fail every later load without a new download.
    """
    try:
        yield
    except CorruptArchiveError as error:
        path.unlink(missing_ok=True)
        problem = str(error).partition(". Fix: ")[0]  # its fix was to delete the file
        raise CorruptArchiveError(
            f"{problem}. It was deleted from the cache. Fix: load again to download it afresh; "
            "if the new download is damaged too, check the url= and sha256= you passed"
        ) from None
