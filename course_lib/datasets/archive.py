"""Reading members of a zip archive, with a clear error when the archive is damaged.

A truncated or corrupt archive otherwise fails deep inside zipfile or pandas with a message
that names neither the file nor the fix.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from course_lib.datasets.errors import CorruptArchiveError

_FIX = "delete the file and load again (a downloading loader fetches it afresh), or download it"


def zip_members(path: Path) -> list[str]:
    """The member names of a zip archive; raises CorruptArchiveError if it is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise CorruptArchiveError(
            f"{path}: not a readable zip archive ({error}). Fix: {_FIX} again"
        ) from None


def read_zip_member(path: Path, member: str) -> bytes:
    """The uncompressed bytes of one member of a zip archive.

    Raises:
        CorruptArchiveError: if the archive is damaged (bad directory, bad CRC, truncated
            data) or has no member of that name.
    """
    members = zip_members(path)
    if member not in members:
        shown = ", ".join(members[:8]) or "none"
        raise CorruptArchiveError(
            f"{path}: the archive has no member {member!r} (its members: {shown}). "
            f"Fix: check that this is the right file; {_FIX} again"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
        raise CorruptArchiveError(
            f"{path}: member {member!r} cannot be read ({error}). Fix: {_FIX} again"
        ) from None
