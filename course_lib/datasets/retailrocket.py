"""RetailRocket (on Kaggle) from the cache folder, placed there by hand, as a behavior log.

Downloading needs a Kaggle login, so the course cannot fetch it: this loader finds the files in
``<cache>/retailrocket/`` and explains where to put them when they are missing. The mapping:

| contract column | from                                                                    |
| --------------- | ----------------------------------------------------------------------- |
| user_id         | ``visitorid`` of events.csv                                             |
| item_id         | ``itemid``                                                              |
| category_id     | the item's latest "categoryid" property; ``UNKNOWN_CATEGORY`` (-1) if none |
| behavior        | ``event``: view, addtocart or transaction (``RETAILROCKET_BEHAVIORS``)   |
| timestamp       | ``timestamp`` in milliseconds, floored to unix seconds                  |

Item properties are weekly snapshots (timestamp, itemid, property, value) split over two files,
and an item's category can change over time: the loader keeps the value of each item's latest
"categoryid" row (of rows with the same time, the last in file order, part 1 before part 2).
Items that never have one share the placeholder category -1, a real category id to the
vocabulary ("category unknown"). ``transactionid`` is not kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.schema import LogValidationError, validate_log
from course_lib.datasets.cache import get_cache_dir, manual_download_error

RETAILROCKET_BEHAVIORS: tuple[str, ...] = ("view", "addtocart", "transaction")
RETAILROCKET_PAGE = "https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset"
UNKNOWN_CATEGORY = -1  # category_id of items without a "categoryid" property
EVENTS_FILE = "events.csv"
PROPERTY_FILES: tuple[str, ...] = ("item_properties_part1.csv", "item_properties_part2.csv")
EVENT_COLUMNS: tuple[str, ...] = ("timestamp", "visitorid", "event", "itemid")
PROPERTY_COLUMNS: tuple[str, ...] = ("timestamp", "itemid", "property", "value")
_CHUNK_ROWS = 2_000_000  # the property files have 20M rows: filter them chunk by chunk


def load_retailrocket(
    *, cache_dir: str | os.PathLike[str] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    """Load RetailRocket from ``<cache>/retailrocket/`` as a validated behavior log.

    Prepare it with its own funnel: ``prepare(log, behaviors=RETAILROCKET_BEHAVIORS)``.

    Args:
        cache_dir: the cache folder (see ``get_cache_dir``).
        nrows: read only the first ``nrows`` events; None reads all 2,756,101.

    Returns:
        The log in the order of events.csv, indexed 0..n-1 (see the module doc).

    Raises:
        DatasetNotFoundError: a file is missing; the message says where to download the data
            set and exactly where to put each file.
        LogValidationError: a file lacks a column or breaks the contract (with line numbers).
    """
    folder = get_cache_dir(cache_dir) / "retailrocket"
    names = (EVENTS_FILE, *PROPERTY_FILES)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        hint = (
            "It comes as one zip holding events.csv, category_tree.csv and the two "
            "item_properties files; unzip it into the folder below."
        )
        raise manual_download_error("RetailRocket", RETAILROCKET_PAGE, folder, missing, hint)
    events_path = folder / EVENTS_FILE
    events = _read_csv(events_path, EVENT_COLUMNS, nrows=nrows)
    category = latest_categories([folder / name for name in PROPERTY_FILES])
    log = pd.DataFrame(
        {
            "user_id": events["visitorid"],
            "item_id": events["itemid"],
            "category_id": events["itemid"].map(category).fillna(UNKNOWN_CATEGORY),
            "behavior": events["event"],
            "timestamp": pd.to_numeric(events["timestamp"], errors="coerce") // 1000,
        }
    )
    return validate_log(
        log, source=str(events_path), behaviors=RETAILROCKET_BEHAVIORS, line_offset=2
    )


def latest_categories(paths: list[Path]) -> pd.Series:
    """Each item's latest "categoryid" property value, indexed by item id (int64).

    Only the "categoryid" rows are kept while reading, so memory holds a small part of the
    20M property rows. Of rows with the same time, the last in file order wins.
    """
    rows = []
    for path in paths:
        for chunk in _read_csv(path, PROPERTY_COLUMNS, chunksize=_CHUNK_ROWS):
            rows.append(_as_categories(chunk[chunk["property"] == "categoryid"], path))
    table = pd.concat(rows, ignore_index=True).sort_values("timestamp", kind="stable")
    latest = table.drop_duplicates("itemid", keep="last")
    return pd.Series(latest["category"].to_numpy(), index=latest["itemid"].to_numpy())


def _as_categories(chunk: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The "categoryid" rows of a chunk as integers, or an error naming the file lines.

    Chunks keep counting rows from the top of the file, so index + 2 is the line (header = 1).
    """
    frame = chunk.assign(
        timestamp=pd.to_numeric(chunk["timestamp"], errors="coerce"),
        itemid=pd.to_numeric(chunk["itemid"], errors="coerce"),
        category=pd.to_numeric(chunk["value"], errors="coerce"),
    )
    bad = frame[["timestamp", "itemid", "category"]].isna().any(axis=1).to_numpy()
    if bad.any():
        lines = (chunk.index[bad][:5] + 2).tolist()
        raise LogValidationError(
            f"{path}: 'categoryid' rows with a non-integer timestamp, itemid or value on "
            f"line(s) {lines}. Fix: check that this is RetailRocket's item properties file"
        )
    columns = ["timestamp", "itemid", "category"]
    return frame[columns].astype(np.int64)


def _read_csv(path: Path, columns: tuple[str, ...], **options: object) -> pd.DataFrame:
    """Read the needed columns of a CSV with a header, after checking that they are there."""
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except pd.errors.EmptyDataError:
        fix = "download the data set again; the file was not completely written"
        raise LogValidationError(f"{path}: the file is empty (0 bytes). Fix: {fix}") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise LogValidationError(
            f"{path}: missing column(s) {missing}; the columns present are {header}. "
            f"Fix: check that this is RetailRocket's {path.name}, with its header row"
        )
    text_columns = {"property": "str", "value": "str"}  # values mix numbers and text
    return pd.read_csv(path, usecols=list(columns), dtype=text_columns, **options)
