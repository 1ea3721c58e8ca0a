"""Say in words how a learner's answer differs from the expected one, without giving it away.

`difference(answer, expected)` returns None when the two agree, else a short reason such as
"expected shape (3, 2), got (3, 1)", "1240 is too large, by less than 1%" or "columns differ:
missing ['x']". A reason names the type, shape, columns or direction of the mistake, and the
learner's own value, but never the expected value: a verdict that printed it could be copied
instead of understood. The kind of `expected` decides the comparison;
`course_lib.exercises.core.evaluate` wraps the reason into a verdict.
"""

from __future__ import annotations

import math
import numbers
import reprlib
import sys
from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np
import pandas as pd

RTOL = 1e-5  # default relative tolerance for floats, arrays, tensors and frames
ATOL = 1e-8  # default absolute tolerance

# float32 and float64 tensors may hold the same answer; integer and float tensors do not.
_DTYPE_FAMILY = {"b": "bool", "i": "integer", "u": "integer", "f": "float", "c": "complex"}
_short = reprlib.Repr()  # short reprs for messages (its keyword arguments need Python 3.12)
_short.maxstring = _short.maxother = 40
_short.maxlist = _short.maxtuple = _short.maxset = 6


def difference(
    answer: Any, expected: Any, *, rtol: float = RTOL, atol: float = ATOL
) -> str | None:
    """Why `answer` differs from `expected`, or None when they agree.

    Args:
        answer: The learner's value.
        expected: The right value. Numbers compare with tolerance (two ints exactly); bools,
            strings, lists/tuples (item by item), sets, dicts (key by key), numpy arrays, torch
            tensors (same dtype family: bool, integer, float), pandas Series and DataFrames
            (column order ignored; the index is compared only when `expected` has a
            non-default one, and then in any order). Anything else compares with `==`.
        rtol: Relative tolerance for floating-point values.
        atol: Absolute tolerance for floating-point values.

    Returns:
        None when equal, else a one-line reason without a final period.
    """
    if isinstance(expected, pd.DataFrame):
        return _frame_difference(answer, expected, rtol, atol)
    if isinstance(expected, pd.Series):
        return _series_difference(answer, expected, rtol, atol)
    if _is_tensor(expected):
        return _tensor_difference(answer, expected, rtol, atol)
    if isinstance(expected, np.ndarray):
        return _array_difference(_as_array(answer), expected, rtol, atol)
    if isinstance(expected, bool | np.bool_):
        if not isinstance(answer, bool | np.bool_):
            return f"expected True or False, got {_kind(answer)}"
        return None if answer == expected else f"{answer} is not right"
    if isinstance(expected, numbers.Real):
        return _number_difference(answer, expected, rtol, atol)
    if isinstance(expected, str):
        if not isinstance(answer, str):
            return f"expected a string, got {_kind(answer)}"
        return None if answer == expected else _text_difference(answer, expected)
    if isinstance(expected, Mapping):
        return _mapping_difference(answer, expected, rtol, atol)
    if isinstance(expected, Set):
        return _set_difference(answer, expected)
    if isinstance(expected, Sequence):
        return _sequence_difference(answer, expected, rtol, atol)
    equal = answer == expected
    return None if equal else f"{_short.repr(answer)} is not the expected value"


def _text_difference(answer: str, expected: str) -> str:
    """Why a string answer is wrong: a near miss in case or spaces gets its own hint."""
    if answer.strip() == expected.strip():
        return f"{_short.repr(answer)} has extra spaces at its start or end"
    if answer.lower() == expected.lower():
        return f"{_short.repr(answer)} has the right letters; check upper and lower case"
    return f"{_short.repr(answer)} is not the expected text"


def _miss(answer: float, expected: float) -> str:
    """How far a wrong number is off, as a direction and an order of magnitude only.

    Examples: "1240 is too large, by less than 1%", "0.5 is too large, by a factor of 2 to 10",
    "-3 has the wrong sign". The bands are coarse on purpose, so that the expected value cannot
    be worked back from the message.
    """
    shown = _show(answer)
    if math.isnan(answer) or math.isnan(expected):
        return f"{shown} is not the expected number (one of the two is NaN)"
    if expected != 0 and answer != 0 and (answer > 0) != (expected > 0):
        return f"{shown} has the wrong sign"
    direction = "too large" if abs(answer) > abs(expected) else "too small"
    if expected == 0:
        return f"{shown} should be zero"
    ratio = abs(answer) / abs(expected)
    ratio = max(ratio, 1 / ratio) if ratio > 0 else math.inf
    if ratio < 1.01:
        band = "by less than 1%"
    elif ratio < 1.1:
        band = "by less than 10%"
    elif ratio < 2:
        band = "by less than a factor of 2"
    elif ratio < 10:
        band = "by a factor of 2 to 10"
    else:
        band = "by a factor of more than 10 (check the units, or what is being counted)"
    return f"{shown} is {direction}, {band}"


def _is_tensor(value: Any) -> bool:
    # A tensor can exist only once torch is imported: this keeps `import torch` off this path.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _kind(value: Any) -> str:
    """A short description of a wrong-typed answer, e.g. "str ('12')"."""
    return f"{type(value).__name__} ({_short.repr(value)})"


def _show(value: Any) -> str:
    """A value for a message: floats to 8 significant digits, numpy scalars as Python ones."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{float(value):.8g}"
    return _short.repr(value.item() if isinstance(value, np.generic) else value)


def _missing_extra(missing: list, extra: list) -> str:
    """ "missing [...], extra [...]", leaving out an empty part."""
    parts = [f"missing {_short.repr(missing)}"] if missing else []
    if extra:
        parts.append(f"extra {_short.repr(extra)}")
    return ", ".join(parts)


def _as_array(value: Any) -> Any:
    """A numpy array for tensors, Series, lists and tuples; other values unchanged."""
    if _is_tensor(value):
        value = value.detach().cpu()
        return (value.double() if value.is_floating_point() else value).numpy()
    if isinstance(value, pd.Series | pd.Index | list | tuple):
        return np.asarray(value)
    return value


def _number_difference(answer: Any, expected: Any, rtol: float, atol: float) -> str | None:
    if _is_tensor(answer) or isinstance(answer, np.ndarray):
        answer = _as_array(answer)
        answer = answer.item() if answer.size == 1 else answer  # a 0-d tensor is its number
    if not isinstance(answer, numbers.Real) or isinstance(answer, bool | np.bool_):
        return f"expected a number, got {_kind(answer)}"
    if isinstance(answer, numbers.Integral) and isinstance(expected, numbers.Integral):
        equal = answer == expected  # exact: a tolerance would accept 1_000_005 for 1_000_000
    else:
        both_nan = math.isnan(answer) and math.isnan(expected)
        equal = both_nan or math.isclose(answer, expected, rel_tol=rtol, abs_tol=atol)
    return None if equal else _miss(float(answer), float(expected))


def _array_difference(
    answer: Any, expected: np.ndarray, rtol: float, atol: float, labels: pd.Index | None = None
) -> str | None:
    """Compare arrays elementwise; `labels` names the positions of a 1-d array (an index)."""
    if not isinstance(answer, np.ndarray):
        return f"expected an array, got {_kind(answer)}"
    if answer.shape != expected.shape:
        return f"expected shape {expected.shape}, got {answer.shape}"
    if {answer.dtype.kind, expected.dtype.kind} <= set("biuf"):
        same = np.isclose(answer, expected, rtol=rtol, atol=atol, equal_nan=True)
    elif expected.dtype.kind in "biuf":
        return f"expected numbers, got values of dtype {answer.dtype}"
    else:
        same = np.asarray(answer == expected, dtype=bool)
    if same.all():
        return None
    first = tuple(np.argwhere(~same)[0])
    if labels is not None:
        at = f"label {_show(labels[first[0]])}"
    else:
        at = f"index {int(first[0]) if len(first) == 1 else tuple(int(i) for i in first)}"
    got, want = answer[first], expected[first]
    if isinstance(want, numbers.Real) and isinstance(got, numbers.Real):
        what = _miss(float(got), float(want))
    else:
        what = f"{_show(got)} is not the expected value"
    return f"{int((~same).sum())} of {same.size} values differ; first at {at}: {what}"


def _tensor_difference(answer: Any, expected: Any, rtol: float, atol: float) -> str | None:
    if not _is_tensor(answer):
        return f"expected a torch.Tensor, got {_kind(answer)}"
    if answer.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got {tuple(answer.shape)}"
    got, want = _as_array(answer), _as_array(expected)
    if _DTYPE_FAMILY[got.dtype.kind] != _DTYPE_FAMILY[want.dtype.kind]:
        return f"expected dtype {expected.dtype}, got {answer.dtype}"
    return _array_difference(got, want, rtol, atol)


def _series_difference(answer: Any, expected: pd.Series, rtol: float, atol: float) -> str | None:
    if not isinstance(answer, pd.Series):
        return f"expected a pandas Series, got {_kind(answer)}"
    if answer.shape != expected.shape:
        return f"expected shape {expected.shape}, got {answer.shape}"
    aligned, reason = _align_index(answer, expected)
    if reason:
        return reason
    labels = None if _has_default_index(expected) else expected.index
    return _array_difference(aligned.to_numpy(), expected.to_numpy(), rtol, atol, labels)


def _frame_difference(answer: Any, expected: pd.DataFrame, rtol: float, atol: float) -> str | None:
    if not isinstance(answer, pd.DataFrame):
        return f"expected a pandas DataFrame, got {_kind(answer)}"
    missing = [c for c in expected.columns if c not in answer.columns]
    extra = [c for c in answer.columns if c not in expected.columns]
    if missing or extra:
        return f"columns differ: {_missing_extra(missing, extra)}"
    answer = answer[list(expected.columns)]  # column order does not matter
    if answer.shape != expected.shape:
        return f"expected shape {expected.shape}, got {answer.shape}"
    aligned, reason = _align_index(answer, expected)
    if reason:
        return reason
    labels = None if _has_default_index(expected) else expected.index
    for column in expected.columns:
        got, want = aligned[column].to_numpy(), expected[column].to_numpy()
        reason = _array_difference(got, want, rtol, atol, labels)
        if reason:
            return f"column {column!r}: {reason}"
    return None


def _has_default_index(frame: pd.Series | pd.DataFrame) -> bool:
    return frame.index.equals(pd.RangeIndex(len(frame)))


def _align_index(answer: Any, expected: Any) -> tuple[Any, str | None]:
    """Reorder `answer` to `expected`'s index labels; positional when that index is default."""
    if _has_default_index(expected):
        return answer, None
    missing = expected.index.difference(answer.index).tolist()
    extra = answer.index.difference(expected.index).tolist()
    if missing or extra:
        return answer, f"index labels differ: {_missing_extra(missing, extra)}"
    if answer.index.has_duplicates:
        return answer, None
    return answer.loc[expected.index], None


def _mapping_difference(answer: Any, expected: Mapping, rtol: float, atol: float) -> str | None:
    if isinstance(answer, pd.Series):
        answer = answer.to_dict()
    if not isinstance(answer, Mapping):
        return f"expected a dict, got {_kind(answer)}"
    missing = [k for k in expected if k not in answer]
    extra = [k for k in answer if k not in expected]
    if missing or extra:
        return f"keys differ: {_missing_extra(missing, extra)}"
    for key, value in expected.items():
        reason = difference(answer[key], value, rtol=rtol, atol=atol)
        if reason:
            return f"at key {key!r}: {reason}"
    return None


def _to_list(value: Any) -> Any:
    """Tensors, arrays, Series and Index as lists; other values unchanged."""
    if _is_tensor(value) or isinstance(value, np.ndarray | pd.Series | pd.Index):
        return value.tolist()
    return value


def _set_difference(answer: Any, expected: Set) -> str | None:
    answer = _to_list(answer)
    if isinstance(answer, str) or not isinstance(answer, Set | Sequence):
        return f"expected a set, got {_kind(answer)}"
    answer = set(answer)
    missing, extra = len(expected - answer), sorted(answer - expected, key=repr)
    if not missing and not extra:
        return None
    parts = [f"{missing} expected item(s) missing"] if missing else []
    if extra:
        parts.append(f"these should not be there: {_short.repr(extra)}")
    return "items differ: " + ", ".join(parts)


def _sequence_difference(answer: Any, expected: Sequence, rtol: float, atol: float) -> str | None:
    answer = _to_list(answer)
    if isinstance(answer, str) or not isinstance(answer, Sequence):
        return f"expected a {type(expected).__name__}, got {_kind(answer)}"
    if len(answer) != len(expected):
        return f"expected {len(expected)} items, got {len(answer)}"
    for position, (got, want) in enumerate(zip(answer, expected, strict=True)):
        reason = difference(got, want, rtol=rtol, atol=atol)
        if reason:
            return f"item {position}: {reason}"
    return None
