"""Public data sets mapped into the course's behavior-log contract, for practitioners.

Each loader returns a validated log that ``course_lib.prepare(log, behaviors=...)`` takes with
the data set's own funnel; the course itself never needs them (it runs on the bundled data).

- ``load_movielens("100k" | "1m")``: downloaded from GroupLens once, checked against its
  SHA-256 and cached; funnel ``MOVIELENS_BEHAVIORS`` (rate, like), the rating in ``value``;
  ``load_movielens_side_tables`` gives its users (gender, age, occupation) and movies
  (title, genres) from the same archive.
- ``load_taobao_user_behavior()`` and ``load_retailrocket()``: need a login to download, so
  they read files placed by hand in the cache folder and say where to put them when missing;
  funnels ``TAOBAO_BEHAVIORS`` and ``RETAILROCKET_BEHAVIORS``.

The cache folder is ``cache_dir=``, else $COURSE_CACHE_DIR, else ``~/.cache/course_lib``.
See ``datasets/README.md`` for each data set's datasheet and license.
"""

from course_lib.datasets.cache import CACHE_ENV_VAR, get_cache_dir
from course_lib.datasets.download import RemoteFile, download_file, file_sha256
from course_lib.datasets.errors import (
    ChecksumError,
    CorruptArchiveError,
    DatasetNotFoundError,
    DownloadError,
)
from course_lib.datasets.movielens import (
    GENRES,
    MOVIELENS_BEHAVIORS,
    MOVIELENS_FILES,
    load_movielens,
)
from course_lib.datasets.movielens_side import (
    MOVIELENS_FEATURES,
    OCCUPATIONS_1M,
    load_movielens_side_tables,
)
from course_lib.datasets.retailrocket import (
    RETAILROCKET_BEHAVIORS,
    UNKNOWN_CATEGORY,
    load_retailrocket,
)
from course_lib.datasets.taobao import load_taobao_user_behavior

__all__ = [
    "CACHE_ENV_VAR",
    "GENRES",
    "MOVIELENS_BEHAVIORS",
    "MOVIELENS_FEATURES",
    "MOVIELENS_FILES",
    "OCCUPATIONS_1M",
    "RETAILROCKET_BEHAVIORS",
    "UNKNOWN_CATEGORY",
    "ChecksumError",
    "CorruptArchiveError",
    "DatasetNotFoundError",
    "DownloadError",
    "RemoteFile",
    "download_file",
    "file_sha256",
    "get_cache_dir",
    "load_movielens",
    "load_movielens_side_tables",
    "load_retailrocket",
    "load_taobao_user_behavior",
]
