"""Exact int64 ids and timestamps from text, integers or floats: never rounded through float64.

pandas reads a column that holds one ``3.0`` as float64 (and its int64 parser reads ``3.0``
through float64 too), and float64 holds whole numbers exactly only below 2**53: above that,
neighbouring ids round to the same float and distinct users or items merge without a word.
So the readers trust pandas' fast int64 parse only while every value stays below 2**53, and
otherwise read the id and timestamp columns as text, which `to_int64` converts exactly:

- text: a number whose value is whole is that whole number: ``"42"``, ``" +042 "``,
  ``"42.0"`` (as pandas writes a float column) and ``"4.2e1"`` are 42; ``"4.2"``, ``""``,
  ``"nan"`` and words are not whole numbers; a whole number outside int64 (``"1e20"``, or
  ``"9223372036854775808"``, 2**63) is too large;
- integers: exact; unsigned ones above 2**63 - 1 are too large;
- floats (a column built in memory): whole values below 2**53 are exact; larger ones may
  already have been rounded, so they are refused rather than trusted.

The fast parse reads a decimal through float64, so a text within about 1e-16 of a whole
number (``"3.0000000000000001"``, which no log writer produces) passes as that number.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_EXACT_LIMIT = 2**53  # float64 holds every whole number of smaller magnitude exactly
# A whole number in ASCII digits (the common case, parsed by int), and any decimal number:
# sign, digits, fraction, exponent (parsed exactly by Decimal); spaces around either.
_INTEGER = re.compile(r"[ \t]*([+-]?[0-9]+)[ \t]*")
_NUMBER = re.compile(r"[ \t]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t]*")
_INT64_DIGITS = 19  # a whole number of more digits is outside int64

# What `to_int64` flags for each value, besides OK.
OK, NOT_WHOLE, TOO_LARGE, INEXACT_FLOAT = 0, 1, 2, 3


def to_int64(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every value of a column as an exact int64, with a flag for those that have none.

    Args:
        column: text, integers, floats or a mix (an object column).

    Returns:
        ``values``: (n,) int64, 0 where the flag is not OK;
        ``flags``: (n,) int8, per value OK, NOT_WHOLE (missing, or not a whole number),
        TOO_LARGE (a whole number outside int64) or INEXACT_FLOAT (a float of magnitude
        2**53 or more, which float64 may have rounded).
    """
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_integer_dtype(column):
        return _from_integers(column)
    if pd.api.types.is_float_dtype(column):
        return _from_floats(column.to_numpy(dtype="float64", na_value=np.nan))
    return _from_objects(column.to_numpy(dtype=object))


def _from_integers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer columns (nullable ones included): exact, unless unsigned beyond int64."""
    flags = np.where(column.isna().to_numpy(), NOT_WHOLE, OK).astype(np.int8)
    if pd.api.types.is_unsigned_integer_dtype(column):
        unsigned = column.to_numpy(dtype="uint64", na_value=0)
        flags[unsigned > INT64_MAX] = TOO_LARGE
        return np.where(flags == OK, unsigned, 0).astype(np.int64), flags
    return column.to_numpy(dtype="int64", na_value=0), flags


def _from_floats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float values: whole and below 2**53 are exact; the rest are flagged."""
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(x) & (x == np.round(x))
        flags = np.where(whole, OK, NOT_WHOLE).astype(np.int8)
        flags[whole & (np.abs(x) >= FLOAT_EXACT_LIMIT)] = INEXACT_FLOAT
    return np.where(flags == OK, x, 0).astype(np.int64), flags


def _from_objects(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text and Python numbers one by one (a float among text takes the float rules)."""
    parsed = [_parse(value) for value in objects.tolist()]
    values = np.fromiter((number for number, _ in parsed), np.int64, len(parsed))
    flags = np.fromiter((flag for _, flag in parsed), np.int8, len(parsed))
    return values, flags


def _parse(value: object) -> tuple[int, int]:
    """One value as (its exact integer, OK), or (0, the flag saying why it has none)."""
    if isinstance(value, float | np.floating):
        number, flag = _from_floats(np.array([value], dtype="float64"))
        return int(number[0]), int(flag[0])
    if isinstance(value, int | np.integer):  # bool included, as in an integer column
        number = int(value)
    elif isinstance(value, str) and (match := _INTEGER.fullmatch(value)):
        number = int(match.group(1))
    elif isinstance(value, str) and (match := _NUMBER.fullmatch(value)):
        return _parse_number(match.group(1))
    else:
        return 0, NOT_WHOLE
    return (number, OK) if INT64_MIN <= number <= INT64_MAX else (0, TOO_LARGE)


def _parse_number(text: str) -> tuple[int, int]:
    """A decimal number's text as `_parse` returns it; exact at any size (no float)."""
    decimal = Decimal(text)
    if decimal != decimal.to_integral_value():
        return 0, NOT_WHOLE
    if decimal != 0 and decimal.adjusted() >= _INT64_DIGITS:  # "1e999999" is never expanded
        return 0, TOO_LARGE
    number = int(decimal)
    return (number, OK) if INT64_MIN <= number <= INT64_MAX else (0, TOO_LARGE)
