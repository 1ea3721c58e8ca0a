"""The errors a data set loader raises, each for one kind of problem a learner can fix.

Every message has the same shape as the rest of ``course_lib``: what file, what went wrong,
and ``Fix:`` what to do about it.
"""

from __future__ import annotations


class DownloadError(OSError):
    """A data set could not be downloaded: no connection, a timeout, an HTTP error, a dropped
    connection. Nothing is left under the destination's name."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 is not the expected one; the file was deleted."""


class CorruptArchiveError(ValueError):
    """A zip or gzip file cannot be read, or lacks a member the loader needs."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set that needs a login to download is not where the loader looks for it."""
