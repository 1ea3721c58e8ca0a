"""Tests for course_lib.exercises: verdicts and messages for every kind of answer."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.data import Feature
from course_lib.exercises import (
    Verdict,
    check,
    difference,
    embeddings,
    evaluate,
    imbalance,
    keras,
    multitask,
    own_data,
    preprocessing,
    privacy,
    scenarios,
    sequences,
    welcome,
)
from course_lib.exercises import lists as own_lists
from course_lib.exercises import loop as loop_exercises
from course_lib.loop import gini
from course_lib.training import FixedWeights, SumOfLosses

HINT = "look at the data"


def reason_of(answer: object, expected: object, **kwargs: object) -> str | None:
    """The reason in the message of an incorrect verdict, or None when correct."""
    verdict = evaluate("1.2", answer, expected, hint=HINT, **kwargs)
    if verdict.passed:
        return None
    assert verdict.status == "incorrect"
    prefix, suffix = "Exercise 1.2: not quite — ", f". Hint: {HINT}"
    assert verdict.message.startswith(prefix) and verdict.message.endswith(suffix)
    return verdict.message[len(prefix) : -len(suffix)]


@pytest.mark.parametrize("answer", [None, ...])
def test_missing_answer_is_not_done(answer: object) -> None:
    verdict = evaluate("1.2", answer, 3, hint=HINT)
    assert verdict == Verdict(
        "1.2",
        "not done",
        "Exercise 1.2: not done yet — replace the None (or ...) with your answer. "
        "Hint: look at the data",
    )
    assert not verdict.passed


CORRECT = [
    (3, 3),
    (np.int64(3), 3),
    (3.0, 3),
    (torch.tensor(3), 3),
    (0.1 + 0.2, 0.3),
    (float("nan"), float("nan")),
    (True, True),
    ("buy", "buy"),
    ([1, "a", 2.5], [1, "a", 2.5]),
    (np.array([1, 2]), [1, 2]),
    ((1, 2), [1, 2]),
    ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}),
    ([3, 1, 2], {1, 2, 3}),
    ([[1, 2], [3, 4]], np.array([[1, 2], [3, 4]])),
    (torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([1.0, 2.0])),
    (torch.tensor([1.0], requires_grad=True) * 2, torch.tensor([2.0])),
    (pd.Series([1, 2], index=[5, 6]), pd.Series([1, 2])),
    (pd.Series([1, 2], index=["b", "a"]), pd.Series([2, 1], index=["a", "b"])),
    (pd.DataFrame({"y": [3], "x": [1]}), pd.DataFrame({"x": [1], "y": [3]})),
]


@pytest.mark.parametrize(("answer", "expected"), CORRECT)
def test_correct_answers(answer: object, expected: object) -> None:
    verdict = evaluate("1.2", answer, expected, hint=HINT)
    assert verdict == Verdict("1.2", "correct", "Exercise 1.2: correct.")
    assert verdict.passed


INCORRECT = [
    (1240, 1234, "1240 is too large, by less than 1%"),
    (1_000_005, 1_000_000, "1000005 is too large, by less than 1%"),
    (0.5, 0.25, "0.5 is too large, by a factor of 2 to 10"),
    ("12", 12, "expected a number, got str ('12')"),
    (True, 1, "expected a number, got bool (True)"),
    (1, True, "expected True or False, got int (1)"),
    (False, True, "False is not right"),
    ("Buy", "buy", "'Buy' has the right letters; check upper and lower case"),
    (3, "buy", "expected a string, got int (3)"),
    ([1, 2], [1, 2, 3], "expected 3 items, got 2"),
    ([1, 5, 3], [1, 2, 3], "item 1: 5 is too large, by a factor of 2 to 10"),
    ("abc", ["a", "b", "c"], "expected a list, got str ('abc')"),
    ({"a": 1}, {"a": 1, "x": 2}, "keys differ: missing ['x']"),
    (
        {"a": [1, 2]},
        {"a": [1, 3]},
        "at key 'a': item 1: 2 is too small, by less than a factor of 2",
    ),
    ({1, 2}, {2, 3}, "items differ: 1 expected item(s) missing, these should not be there: [1]"),
    (np.zeros((3, 1)), np.zeros((3, 2)), "expected shape (3, 2), got (3, 1)"),
    (
        np.array([[1, 2], [3, 5]]),
        np.array([[1, 2], [3, 4]]),
        "1 of 4 values differ; first at index (1, 1): 5 is too large, by less than a factor of 2",
    ),
    (np.array(["a", "b"]), np.array([1, 2]), "expected numbers, got values of dtype <U1"),
    (torch.zeros(3, 1), torch.zeros(3, 2), "expected shape (3, 2), got (3, 1)"),
    (np.zeros(2), torch.zeros(2), "expected a torch.Tensor, got ndarray (array([0., 0.]))"),
    (
        torch.zeros(2, dtype=torch.long),
        torch.zeros(2),
        "expected dtype torch.float32, got torch.int64",
    ),
    (
        torch.tensor([1.0, 2.0, 3.5]),
        torch.tensor([1.0, 2.0, 3.0]),
        "1 of 3 values differ; first at index 2: 3.5 is too large, by less than a factor of 2",
    ),
    (pd.Series([1, 2, 3]), pd.Series([1, 2]), "expected shape (2,), got (3,)"),
    (
        pd.Series([1, 2, 4], index=["buy", "cart", "pv"]),
        pd.Series([3, 2, 1], index=["pv", "cart", "buy"]),
        "1 of 3 values differ; first at label 'pv': 4 is too large, by less than a factor of 2",
    ),
    (
        pd.Series([1, 2], index=["buy", "fav"]),
        pd.Series([1, 2], index=["buy", "cart"]),
        "index labels differ: missing ['cart'], extra ['fav']",
    ),
    (
        pd.Series(["a", "b"]),
        pd.Series(["a", "c"]),
        "1 of 2 values differ; first at index 1: 'b' is not the expected value",
    ),
    ([1, 2], pd.Series([1, 2]), "expected a pandas Series, got list ([1, 2])"),
    (
        pd.DataFrame({"a": [1]}),
        pd.DataFrame({"a": [1], "x": [2]}),
        "columns differ: missing ['x']",
    ),
    (
        pd.DataFrame({"a": [1], "y": [2]}),
        pd.DataFrame({"a": [1]}),
        "columns differ: extra ['y']",
    ),
    (
        pd.DataFrame({"a": [1, 2, 3]}),
        pd.DataFrame({"a": [1, 2]}),
        "expected shape (2, 1), got (3, 1)",
    ),
    (
        pd.DataFrame({"a": [1, 2], "b": [0.5, 0.7]}),
        pd.DataFrame({"a": [1, 2], "b": [0.5, 0.75]}),
        "column 'b': 1 of 2 values differ; first at index 1: 0.7 is too small, by less than 10%",
    ),
    (pd.Series([1]), pd.DataFrame({"a": [1]}), "expected a pandas DataFrame, got Series"),
]


@pytest.mark.parametrize(("answer", "expected", "reason"), INCORRECT)
def test_incorrect_answers_say_what_differs(answer: object, expected: object, reason: str) -> None:
    assert reason_of(answer, expected).startswith(reason)


NEAR_MISSES = [
    # (answer, expected, what the reason must say): direction and size, never the value
    (1234.5, 1234.0, "too large, by less than 1%"),
    (1100, 1234, "too small, by less than a factor of 2"),
    (123_400, 1234, "too large, by a factor of more than 10"),
    (-0.3, 0.3, "wrong sign"),
    (0.4, 0.0, "should be zero"),
    (" buy", "buy", "extra spaces"),
    ("cart", "buy", "not the expected text"),
]


@pytest.mark.parametrize(("answer", "expected", "says"), NEAR_MISSES)
def test_a_wrong_answer_gets_a_direction_not_the_value(
    answer: object, expected: object, says: str
) -> None:
    reason = reason_of(answer, expected)
    assert says in reason
    without_answer = reason.replace(repr(answer), "").replace(str(answer), "")
    assert str(expected) not in without_answer


@pytest.mark.parametrize(("answer", "expected", "reason"), INCORRECT)
def test_no_reason_gives_the_expected_value_away(
    answer: object, expected: object, reason: str
) -> None:
    """Scalars and strings: the expected value never appears beside the learner's own."""
    if isinstance(expected, int | float | str) and not isinstance(expected, bool):
        shown = reason_of(answer, expected).replace(repr(answer), "").replace(str(answer), "")
        assert str(expected) not in shown


def test_tolerances_apply_to_floats_only() -> None:
    assert reason_of(1.01, 1.0, rtol=0.05) is None
    assert reason_of(1.01, 1.0) == "1.01 is too large, by less than 10%"
    assert reason_of(np.array([1.0, 2.0001]), np.array([1.0, 2.0]), atol=1e-3) is None


class Unequal:
    """An answer whose comparison raises, like a learner's half-finished object."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("cannot compare\nat all")

    __hash__ = object.__hash__


def test_an_exception_while_comparing_is_an_incorrect_verdict() -> None:
    assert reason_of(Unequal(), object()) == (
        "checking your answer raised RuntimeError: cannot compare at all"
    )


def test_custom_compare_gives_each_verdict() -> None:
    def even(answer: int) -> str | None:
        return None if answer % 2 == 0 else f"{answer} is odd."

    assert evaluate("2.1", 4, hint=HINT, compare=even).passed
    wrong = evaluate("2.1", 3, hint=HINT, compare=even)
    assert wrong.message == "Exercise 2.1: not quite — 3 is odd. Hint: look at the data"
    assert evaluate("2.1", None, hint=HINT, compare=even).status == "not done"
    raising = evaluate("2.1", "x", hint=HINT, compare=even)
    assert raising.status == "incorrect"
    assert "raised TypeError" in raising.message


def test_custom_compare_may_call_the_learners_function() -> None:
    def learner_function(x: int) -> int:
        return x // 0

    verdict = evaluate(
        "2.2", learner_function, hint="", compare=lambda f: None if f(2) == 4 else "wrong"
    )
    assert verdict.message == (
        "Exercise 2.2: not quite — checking your answer raised ZeroDivisionError: "
        "integer division or modulo by zero."
    )


@pytest.mark.parametrize("given", [{}, {"expected": 1, "compare": lambda a: None}])
def test_exactly_one_of_expected_and_compare(given: dict) -> None:
    with pytest.raises(ValueError, match="exactly one of `expected` and `compare`"):
        evaluate("3.1", 1, hint=HINT, **given)


def test_empty_hint_is_left_out() -> None:
    assert evaluate("1.1", 2, 1, hint="").message == (
        "Exercise 1.1: not quite — 2 is too large, by a factor of 2 to 10."
    )


def test_check_prints_one_line_and_returns_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("1.1", 3, 3, hint=HINT) is None
    check("1.1", None, 3, hint=HINT)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Exercise 1.1: correct.",
        "Exercise 1.1: not done yet — replace the None (or ...) with your answer. "
        "Hint: look at the data",
    ]


def test_verdict_is_frozen() -> None:
    verdict = evaluate("1.1", 3, 3, hint=HINT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.status = "incorrect"  # type: ignore[misc]


def test_difference_is_usable_in_custom_compares() -> None:
    assert difference([1, 2], [1, 2]) is None
    assert difference(1.0, 1.1, rtol=0.2) is None
    assert difference("a", "b") == "'a' is not the expected text"


def _forms(value: object) -> set[str]:
    """The ways a verdict could print a right answer: repr, str and rounded floats."""
    values = value if isinstance(value, tuple) else (value,)
    forms = set()
    for v in values:
        forms |= {repr(v), str(v)}
        if isinstance(v, float):
            forms |= {f"{v:.8g}", f"{v:.4g}", f"{v:.3g}"}
    return forms


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _explore_slate(
    slate: np.ndarray, epsilon: float, num_items: int, rng: np.random.Generator
) -> np.ndarray:
    """A right answer to exercise 8.2."""
    others = rng.permutation(np.setdiff1d(np.arange(num_items), slate))[: len(slate)]
    return np.where(rng.random(len(slate)) < epsilon, others, slate)


FILM_USERS = pd.DataFrame({"user_id": [1, 2], "gender": ["F", "M"], "occupation": ["a", "b"]})
FILMS = pd.DataFrame(
    {
        "item_id": [7, 8],
        "title": ["A", "B"],
        "genres": ["Drama|War", "Comedy"],
        "year": [1990, 2001],
    }
)


SURFACE_LOG = pd.DataFrame(
    {
        "scenario": ["home", "home", "search", "home", "search"],
        "behavior": ["pv", "buy", "buy", "pv", "pv"],
    }
)
STAR_SHARED = (np.array([[1.0, 1.0], [0.0, 1.5]]), np.array([0.5, -0.5]))


def _checker_cases() -> list[tuple[str, Callable[[object], None], object, object]]:
    """(name, check called with an answer, the right answer, a wrong answer) per exercise."""
    log = pd.DataFrame({"timestamp": [0, 86_400, 86_401, 3 * 86_400]})
    labels = np.array([0, 0, 0, 1, 0, 0, 1, 0])
    lists = pd.DataFrame({"item_id": [5, 6, 7, 5, 8]})
    p = sigmoid(0.5)
    focal = (1 - p) ** 2 * -math.log(p)
    return [
        ("0.1", lambda a: welcome.check_row_count(a, log), 4, 40),
        ("0.2", lambda a: welcome.check_busiest_day(a, log), "1970-01-02", "1970-01-01"),
        (
            "1.2",
            lambda a: preprocessing.check_time_cut(a, (0, 10 * 86_400)),
            (604_800, 691_200),
            (604_000, 691_000),
        ),
        ("2.1", lambda a: embeddings.check_one_hot_megabytes(a, 512, 20, 2000), 81.92, 8.2),
        ("3.1", lambda a: sequences.check_lstm_parameters(a, 32, 64), 25_088, 24_832),
        ("4.2", lambda a: multitask.check_cascade(a, 1.0, -2.0), sigmoid(1) * sigmoid(-2), 0.5),
        ("5.1", lambda a: imbalance.check_balancing_pos_weight(a, labels), 3.0, 0.33),
        ("5.2", lambda a: imbalance.check_focal_loss(a, 0.5, 1.0, 2.0), focal, 0.474),
        (
            "6.1",
            lambda a: own_lists.check_precision_recall(a, [1, 2, 3, 4], {2, 9}),
            (0.25, 0.5),
            (0.75, 0.1),
        ),
        ("6.2", lambda a: own_lists.check_distinct_items(a, lists), 4, 5),
        (
            "8.1",
            lambda a: loop_exercises.check_gini(a, gini),
            gini,
            lambda counts: float(np.std(counts) / np.mean(counts)),  # not the Gini
        ),
        (
            "8.2",
            loop_exercises.check_epsilon_greedy,
            _explore_slate,
            lambda slate, epsilon, num_items, rng: slate[::-1],  # reorders, never explores
        ),
        (
            "9.1",
            lambda a: privacy.check_weighted_average(
                a, [np.array([0.0, 4.0]), np.array([4.0, 8.0])], [1, 3]
            ),
            np.array([3.0, 7.0]),
            np.array([2.0, 6.0]),  # the plain mean, ignoring the sample counts
        ),
        (
            "9.2",
            lambda a: privacy.check_smallest_noise(a, {0.5: 9.0, 1.0: 2.5, 2.0: 1.0}, 3.0),
            1.0,
            2.0,
        ),
        (
            "7.4",
            lambda a: own_data.check_side_features(a, FILM_USERS, FILMS),
            [
                Feature("gender", "user"),
                Feature("occupation", "user"),
                Feature("genres", "item", "multi"),
                Feature("year", "item", "numeric"),
            ],
            [
                Feature("gender", "user"),
                Feature("occupation", "user"),
                Feature("genres", "item"),
                Feature("year", "item", "numeric"),
            ],
        ),
        (
            "7.2",
            lambda a: own_data.check_conversion(a, ("view", "cart", "order")),
            "order",
            "cart",
        ),
        (
            "10.1",
            lambda a: scenarios.check_scenario_table(a, SURFACE_LOG),
            pd.DataFrame({"share": [0.6, 0.4], "buy_rate": [1 / 3, 0.5]}, ["home", "search"]),
            pd.DataFrame({"share": [3, 2], "buy_rate": [1 / 3, 0.5]}, ["home", "search"]),
        ),
        (
            "10.2",
            lambda a: scenarios.check_star_output(
                a, np.array([1.0, 2.0]), STAR_SHARED, (np.full((2, 2), 2.0), np.ones(2))
            ),
            np.array([7.5, 6.5]),  # (W * 2) @ [1, 2] + b + 1 with W = [[1, 1], [0, 1.5]]
            np.array([3.5, 2.5]),  # the shared layer alone
        ),
        (
            "11.1",
            lambda a: keras.check_loss_weights(a, {"click": 0.5, "buy": 10.0}),
            FixedWeights({"click": 0.5, "buy": 10.0}),
            FixedWeights({"click": 1.0, "buy": 20.0}),  # the same ratio, twice the weights
        ),
        (
            "11.2",
            lambda a: keras.check_masked_embedding(a, 100, 32),
            torch.nn.Embedding(100, 32, padding_idx=0),
            torch.nn.Embedding(100, 32),  # no padding row
        ),
        (  # item 1 has ratings 5 and 4 around a mean of 3: (2 + 1) / (2 + 10); undamped: 1.5
            "7.3",
            lambda a: own_data.check_damped_item_bias(
                a, np.array([5.0, 4.0, 2.0, 1.0, 3.0]), np.array([1, 1, 2, 2, 3]), 1
            ),
            0.25,
            1.5,
        ),
    ]


@pytest.mark.parametrize("case", _checker_cases(), ids=lambda case: case[0])
def test_exercise_checks_never_print_the_right_answer(
    case: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    exercise, run_check, right, wrong = case
    run_check(wrong)
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"Exercise {exercise}: not quite — "), line
    assert "Hint:" in line
    shown = line.replace(repr(wrong), "").replace(str(wrong), "")
    leaked = [form for form in _forms(right) if form in shown]
    assert not leaked, f"the verdict gives the answer away ({leaked}): {line}"
    run_check(right)
    assert capsys.readouterr().out.strip().endswith("correct."), "the right answer must pass"


KERAS_WEIGHTS = {"click": 0.5, "buy": 10.0}


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (dict(KERAS_WEIGHTS), "a dict of weights is what Keras' compile takes"),
        ("FixedWeights", "expected a TaskWeighting object, got str"),
        (SumOfLosses(), "the weight of the click loss: 1 is too large"),
        (FixedWeights({"click": 0.5}), "it has no weight for every task"),
        (FixedWeights({"click": 0.5, "buy": 5.0}), "the weight of the buy loss: 5 is too small"),
    ],
)
def test_loss_weights_check_says_what_is_wrong(
    answer: object, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keras.check_loss_weights(answer, KERAS_WEIGHTS)
    line = capsys.readouterr().out.strip()
    assert line.startswith("Exercise 11.1: not quite — ") and says in line, line
    assert "10.0" not in line, line  # the expected weight of buy is not given away


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (torch.nn.Linear(100, 32), "expected a torch.nn.Embedding, got Linear"),
        (torch.nn.Embedding(99, 32, padding_idx=0), "num_embeddings: 99 is too small"),
        (torch.nn.Embedding(100, 16, padding_idx=0), "embedding_dim: 16 is too small"),
        (torch.nn.Embedding(100, 32), "padding_idx is None"),
        (torch.nn.Embedding(100, 32, padding_idx=1), "padding_idx=1 is not the id"),
    ],
)
def test_masked_embedding_check_says_what_is_wrong(
    answer: object, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keras.check_masked_embedding(answer, 100, 32)
    line = capsys.readouterr().out.strip()
    assert line.startswith("Exercise 11.2: not quite — ") and says in line, line
