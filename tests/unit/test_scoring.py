"""Scoring and answer validation, table-driven: every question type, partial credit, edges and refusals."""

import math
import random
from typing import Any, cast

import pytest

from coursegraph.errors import ValidationFailed
from subgraphs.assessments.models import MatchPair, Option, Question, QuestionType
from subgraphs.assessments.scoring import (
    RawAnswer,
    normalise_text,
    parse_answer,
    percent,
    score_attempt,
    score_question,
    validate_question,
)

QT = QuestionType


def _options(*specs: str) -> list[Option]:
    """`"a*"` is a correct option with id `a`; `"b"` an incorrect one."""
    return [
        Option(id=spec.rstrip("*"), text=f"Option {spec.rstrip('*')}", correct=spec.endswith("*"))
        for spec in specs
    ]


def _items(count: int) -> list[Option]:
    return [Option(id=f"i{n}", text=f"Item {n}") for n in range(1, count + 1)]


def _pairs(count: int) -> list[MatchPair]:
    return [MatchPair(id=f"p{n}", prompt=f"Prompt {n}", match=f"Match {n}") for n in range(1, count + 1)]


SINGLE = Question(
    id="q1", type=QT.SINGLE_CHOICE, prompt="Capital of France?", points=2, options=_options("a*", "b", "c")
)
MULTIPLE = Question(
    id="q2", type=QT.MULTIPLE_CHOICE, prompt="Primes?", points=3, options=_options("a*", "b*", "c*", "d", "e")
)
TRUE_FALSE = Question(id="q3", type=QT.TRUE_FALSE, prompt="Water is wet.", points=1, correct_bool=True)
SHORT = Question(
    id="q4",
    type=QT.SHORT_TEXT,
    prompt="Capital of France?",
    points=1,
    accepted_answers=["Paris", "City of  Light"],
)
SHORT_CASE = Question(
    id="q5",
    type=QT.SHORT_TEXT,
    prompt="Table salt?",
    points=1,
    accepted_answers=["NaCl"],
    case_sensitive=True,
)
NUMERIC = Question(
    id="q6", type=QT.NUMERIC, prompt="Pi to 2 places?", points=1, numeric_answer=3.14, tolerance=0.01
)
NUMERIC_EXACT = Question(id="q7", type=QT.NUMERIC, prompt="6 x 7?", points=1, numeric_answer=42)
NUMERIC_NEGATIVE = Question(
    id="q8", type=QT.NUMERIC, prompt="Freezing?", points=1, numeric_answer=-5, tolerance=0.5
)
ORDERING = Question(id="q9", type=QT.ORDERING, prompt="Oldest first.", points=2, options=_items(4))
ORDERING_3 = Question(id="q10", type=QT.ORDERING, prompt="Smallest first.", points=1, options=_items(3))
MATCHING = Question(id="q11", type=QT.MATCHING, prompt="Countries and capitals.", points=3, pairs=_pairs(3))
MULTIPLE_ONE_POINT = MULTIPLE.model_copy(update={"id": "q12", "points": 1})

VALID_QUESTIONS = [
    SINGLE,
    MULTIPLE,
    TRUE_FALSE,
    SHORT,
    SHORT_CASE,
    NUMERIC,
    NUMERIC_EXACT,
    NUMERIC_NEGATIVE,
    ORDERING,
    ORDERING_3,
    MATCHING,
    MULTIPLE_ONE_POINT,
]


# --- scoring ----------------------------------------------------------------------------------------------

SCORING_CASES = [
    # single choice
    pytest.param(SINGLE, {"option_ids": ["a"]}, 2.0, "correct", id="single-correct"),
    pytest.param(SINGLE, {"option_ids": ["b"]}, 0.0, "incorrect", id="single-incorrect"),
    pytest.param(SINGLE, None, 0.0, "unanswered", id="single-unanswered"),
    # multiple choice: (correct chosen - incorrect chosen) / correct options, floored at zero
    pytest.param(MULTIPLE, {"option_ids": ["a", "b", "c"]}, 3.0, "correct", id="multiple-all-correct"),
    pytest.param(MULTIPLE, {"option_ids": ["a", "b"]}, 2.0, "partial", id="multiple-two-of-three"),
    pytest.param(MULTIPLE, {"option_ids": ["a", "b", "c", "d"]}, 2.0, "partial", id="multiple-one-penalty"),
    pytest.param(
        MULTIPLE, {"option_ids": ["a", "b", "c", "d", "e"]}, 1.0, "partial", id="multiple-everything"
    ),
    pytest.param(MULTIPLE, {"option_ids": ["a", "d"]}, 0.0, "incorrect", id="multiple-cancels-out"),
    pytest.param(MULTIPLE, {"option_ids": ["a", "d", "e"]}, 0.0, "incorrect", id="multiple-floored-at-zero"),
    pytest.param(MULTIPLE, {"option_ids": ["d"]}, 0.0, "incorrect", id="multiple-only-wrong"),
    pytest.param(MULTIPLE_ONE_POINT, {"option_ids": ["a"]}, 0.3333, "partial", id="multiple-rounded-4dp"),
    pytest.param(MULTIPLE_ONE_POINT, {"option_ids": ["a", "b"]}, 0.6667, "partial", id="multiple-rounded-up"),
    pytest.param(MULTIPLE, None, 0.0, "unanswered", id="multiple-unanswered"),
    # true/false
    pytest.param(TRUE_FALSE, {"value": True}, 1.0, "correct", id="true-false-correct"),
    pytest.param(TRUE_FALSE, {"value": False}, 0.0, "incorrect", id="true-false-incorrect"),
    pytest.param(TRUE_FALSE, None, 0.0, "unanswered", id="true-false-unanswered"),
    # short text: NFKC, strip, collapse whitespace, casefold unless case-sensitive
    pytest.param(SHORT, {"text": "Paris"}, 1.0, "correct", id="short-exact"),
    pytest.param(SHORT, {"text": "pARIS"}, 1.0, "correct", id="short-case-insensitive"),
    pytest.param(SHORT, {"text": "  Paris \n"}, 1.0, "correct", id="short-surrounding-space"),
    pytest.param(SHORT, {"text": "city\tof   light"}, 1.0, "correct", id="short-second-accepted-inner-space"),
    pytest.param(SHORT, {"text": "\uff30\uff41\uff52\uff49\uff53"}, 1.0, "correct", id="short-full-width"),
    pytest.param(SHORT, {"text": "City\u3000of\u00a0Light"}, 1.0, "correct", id="short-unicode-spaces"),
    pytest.param(SHORT, {"text": "Pariss"}, 0.0, "incorrect", id="short-misspelt"),
    pytest.param(SHORT, {"text": "Par is"}, 0.0, "incorrect", id="short-space-inside-word"),
    pytest.param(SHORT, None, 0.0, "unanswered", id="short-unanswered"),
    pytest.param(SHORT_CASE, {"text": "NaCl"}, 1.0, "correct", id="short-case-sensitive-exact"),
    pytest.param(SHORT_CASE, {"text": "nacl"}, 0.0, "incorrect", id="short-case-sensitive-wrong-case"),
    pytest.param(
        SHORT_CASE, {"text": "\uff2e\uff41\uff23\uff4c"}, 1.0, "correct", id="short-case-sensitive-full-width"
    ),
    pytest.param(SHORT_CASE, {"text": " NaCl  "}, 1.0, "correct", id="short-case-sensitive-spacing"),
    # numeric: |given - answer| <= tolerance, inclusive, on the numbers as written
    pytest.param(NUMERIC, {"number": 3.14}, 1.0, "correct", id="numeric-exact"),
    pytest.param(NUMERIC, {"number": 3.15}, 1.0, "correct", id="numeric-at-upper-tolerance"),
    pytest.param(NUMERIC, {"number": 3.13}, 1.0, "correct", id="numeric-at-lower-tolerance"),
    pytest.param(NUMERIC, {"number": 3.1501}, 0.0, "incorrect", id="numeric-just-above"),
    pytest.param(NUMERIC, {"number": 3.1299}, 0.0, "incorrect", id="numeric-just-below"),
    pytest.param(NUMERIC, {"number": -3.14}, 0.0, "incorrect", id="numeric-wrong-sign"),
    pytest.param(NUMERIC_EXACT, {"number": 42.0}, 1.0, "correct", id="numeric-zero-tolerance-exact"),
    pytest.param(NUMERIC_EXACT, {"number": 42}, 1.0, "correct", id="numeric-integer"),
    pytest.param(NUMERIC_EXACT, {"number": 42.000001}, 0.0, "incorrect", id="numeric-zero-tolerance-off"),
    pytest.param(NUMERIC_NEGATIVE, {"number": -5.5}, 1.0, "correct", id="numeric-negative-lower-edge"),
    pytest.param(NUMERIC_NEGATIVE, {"number": -4.5}, 1.0, "correct", id="numeric-negative-upper-edge"),
    pytest.param(NUMERIC_NEGATIVE, {"number": -5.50001}, 0.0, "incorrect", id="numeric-negative-outside"),
    pytest.param(NUMERIC, None, 0.0, "unanswered", id="numeric-unanswered"),
    # ordering: share of items in their correct position
    pytest.param(ORDERING, {"ordered_ids": ["i1", "i2", "i3", "i4"]}, 2.0, "correct", id="ordering-correct"),
    pytest.param(ORDERING, {"ordered_ids": ["i2", "i1", "i3", "i4"]}, 1.0, "partial", id="ordering-one-swap"),
    pytest.param(
        ORDERING, {"ordered_ids": ["i1", "i3", "i2", "i4"]}, 1.0, "partial", id="ordering-middle-swap"
    ),
    pytest.param(
        ORDERING, {"ordered_ids": ["i4", "i3", "i2", "i1"]}, 0.0, "incorrect", id="ordering-reversed"
    ),
    pytest.param(
        ORDERING, {"ordered_ids": ["i2", "i3", "i4", "i1"]}, 0.0, "incorrect", id="ordering-rotated"
    ),
    pytest.param(
        ORDERING_3, {"ordered_ids": ["i1", "i3", "i2"]}, 0.3333, "partial", id="ordering-one-of-three"
    ),
    pytest.param(ORDERING, None, 0.0, "unanswered", id="ordering-unanswered"),
    # matching: share of pairs matched correctly; unpaired prompts earn nothing
    pytest.param(
        MATCHING, {"pairs": {"p1": "p1", "p2": "p2", "p3": "p3"}}, 3.0, "correct", id="matching-correct"
    ),
    pytest.param(
        MATCHING, {"pairs": {"p1": "p1", "p2": "p3", "p3": "p2"}}, 1.0, "partial", id="matching-one-right"
    ),
    pytest.param(
        MATCHING, {"pairs": {"p1": "p1", "p2": "p2"}}, 2.0, "partial", id="matching-one-left-unpaired"
    ),
    pytest.param(
        MATCHING, {"pairs": {"p1": "p2", "p2": "p3", "p3": "p1"}}, 0.0, "incorrect", id="matching-none"
    ),
    pytest.param(MATCHING, None, 0.0, "unanswered", id="matching-unanswered"),
    # answers stored before the question changed, or of the wrong shape: never an exception, never points
    pytest.param(SINGLE, {"option_ids": ["gone"]}, 0.0, "incorrect", id="stale-single-option"),
    pytest.param(MULTIPLE, {"option_ids": ["a", "b", "gone"]}, 2.0, "partial", id="stale-multiple-ignored"),
    pytest.param(SHORT, {"number": 1.0}, 0.0, "incorrect", id="wrong-shape-short"),
    pytest.param(NUMERIC, {"number": "3.14"}, 0.0, "incorrect", id="wrong-shape-numeric-string"),
    pytest.param(NUMERIC, {"number": math.nan}, 0.0, "incorrect", id="stored-nan"),
    pytest.param(TRUE_FALSE, {"value": 1}, 0.0, "incorrect", id="wrong-shape-true-false-int"),
    pytest.param(ORDERING, {"ordered_ids": ["i1"]}, 0.5, "partial", id="stale-ordering-short"),
    pytest.param(MATCHING, {"pairs": [["p1", "p1"]]}, 0.0, "incorrect", id="wrong-shape-matching-list"),
    pytest.param(MULTIPLE, {}, 0.0, "incorrect", id="empty-dict"),
]


@pytest.mark.parametrize(("question", "answer", "points", "outcome"), SCORING_CASES)
def test_score_question(
    question: Question, answer: dict[str, Any] | None, points: float, outcome: str
) -> None:
    result = score_question(question, answer)

    assert result.question_id == question.id
    assert result.points == points
    assert result.max_points == question.points
    assert result.outcome == outcome


@pytest.mark.parametrize(
    ("text", "case_sensitive", "expected"),
    [
        pytest.param("  Hello   World \n", False, "hello world", id="strip-collapse-casefold"),
        pytest.param("  Hello   World \n", True, "Hello World", id="case-kept"),
        pytest.param("\uff28\uff45\uff4c\uff4c\uff4f", False, "hello", id="full-width"),
        pytest.param("\ufb01nal", True, "final", id="ligature"),
        pytest.param("STRASSE", False, "strasse", id="casefold-sharp-s-upper"),
        pytest.param("stra\u00dfe", False, "strasse", id="casefold-sharp-s"),
        pytest.param("caf\u0065\u0301", False, "caf\u00e9", id="combining-accent-composed"),
        pytest.param("a\u3000b\u00a0c\td", False, "a b c d", id="unicode-whitespace"),
        pytest.param("x\u00b2", False, "x2", id="superscript"),
        pytest.param(" \t\n", False, "", id="blank"),
    ],
)
def test_normalise_text(text: str, case_sensitive: bool, expected: str) -> None:
    assert normalise_text(text, case_sensitive) == expected


def test_score_attempt_keeps_question_order_and_sums() -> None:
    questions = [SINGLE, MULTIPLE, TRUE_FALSE, ORDERING_3]
    answers: dict[str, dict[str, Any]] = {
        "q2": {"option_ids": ["a"]},  # 1 of 3
        "q1": {"option_ids": ["a"]},  # 2 of 2
        "q10": {"ordered_ids": ["i1", "i3", "i2"]},  # 0.3333 of 1
        "elsewhere": {"value": True},  # not a question of this assessment
    }

    results, score, max_score = score_attempt(questions, answers)

    assert [r.question_id for r in results] == ["q1", "q2", "q3", "q10"]
    assert [r.outcome for r in results] == ["correct", "partial", "unanswered", "partial"]
    assert score == 3.3333
    assert max_score == 7.0
    assert percent(score, max_score) == 47.62


def test_score_attempt_of_nothing() -> None:
    assert score_attempt([], {}) == ([], 0.0, 0.0)


@pytest.mark.parametrize(
    ("score", "max_score", "expected"),
    [
        pytest.param(0.0, 0.0, 0.0, id="nothing-to-score"),
        pytest.param(0.0, 5.0, 0.0, id="zero"),
        pytest.param(1.0, 3.0, 33.33, id="third"),
        pytest.param(2.0, 3.0, 66.67, id="two-thirds"),
        pytest.param(3.0, 3.0, 100.0, id="full"),
        pytest.param(0.3333, 1.0, 33.33, id="rounded-score"),
    ],
)
def test_percent(score: float, max_score: float, expected: float) -> None:
    assert percent(score, max_score) == expected


# --- parsing answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "raw", "expected"),
    [
        pytest.param(SINGLE, RawAnswer(option_ids=["b"]), {"option_ids": ["b"]}, id="single"),
        pytest.param(
            MULTIPLE,
            RawAnswer(option_ids=["d", "a"]),
            {"option_ids": ["a", "d"]},
            id="multiple-question-order",
        ),
        pytest.param(TRUE_FALSE, RawAnswer(value=False), {"value": False}, id="true-false"),
        pytest.param(SHORT, RawAnswer(text="  Paris \n"), {"text": "Paris"}, id="short-stripped"),
        pytest.param(SHORT, RawAnswer(text="Par  is"), {"text": "Par  is"}, id="short-inner-space-kept"),
        pytest.param(NUMERIC, RawAnswer(number=3.15), {"number": 3.15}, id="numeric"),
        pytest.param(NUMERIC_EXACT, RawAnswer(number=42), {"number": 42.0}, id="numeric-integer-as-float"),
        pytest.param(
            ORDERING,
            RawAnswer(ordered_ids=["i4", "i2", "i3", "i1"]),
            {"ordered_ids": ["i4", "i2", "i3", "i1"]},
            id="ordering",
        ),
        pytest.param(
            MATCHING,
            RawAnswer(pairs=[("p3", "p1"), ("p1", "p2")]),
            {"pairs": {"p1": "p2", "p3": "p1"}},
            id="matching-partial-question-order",
        ),
    ],
)
def test_parse_answer_normalises(question: Question, raw: RawAnswer, expected: dict[str, Any]) -> None:
    assert parse_answer(question, raw, "answers.0") == expected


LONG_TEXT = "x" * 1001

REJECTIONS = [
    # wrong field for the type, several fields, no field
    pytest.param(SINGLE, RawAnswer(value=True), "WRONG_ANSWER_TYPE", id="single-given-value"),
    pytest.param(SINGLE, RawAnswer(), "WRONG_ANSWER_TYPE", id="single-given-nothing"),
    pytest.param(SINGLE, RawAnswer(option_ids=["a"], text="a"), "WRONG_ANSWER_TYPE", id="single-two-fields"),
    pytest.param(
        MULTIPLE, RawAnswer(ordered_ids=["a"]), "WRONG_ANSWER_TYPE", id="multiple-given-ordered-ids"
    ),
    pytest.param(
        TRUE_FALSE, RawAnswer(option_ids=["a"]), "WRONG_ANSWER_TYPE", id="true-false-given-option-ids"
    ),
    pytest.param(
        TRUE_FALSE, RawAnswer(value=True, text="true"), "WRONG_ANSWER_TYPE", id="true-false-two-fields"
    ),
    pytest.param(SHORT, RawAnswer(number=1.0), "WRONG_ANSWER_TYPE", id="short-given-number"),
    pytest.param(NUMERIC, RawAnswer(text="3.14"), "WRONG_ANSWER_TYPE", id="numeric-given-text"),
    pytest.param(NUMERIC, RawAnswer(number=True), "WRONG_ANSWER_TYPE", id="numeric-given-bool"),
    pytest.param(ORDERING, RawAnswer(option_ids=["i1"]), "WRONG_ANSWER_TYPE", id="ordering-given-option-ids"),
    pytest.param(MATCHING, RawAnswer(option_ids=["p1"]), "WRONG_ANSWER_TYPE", id="matching-given-option-ids"),
    pytest.param(
        MATCHING,
        RawAnswer(pairs=cast(Any, [("p1", "p1", "p2")])),
        "WRONG_ANSWER_TYPE",
        id="matching-triple",
    ),
    # single and multiple choice
    pytest.param(SINGLE, RawAnswer(option_ids=[]), "EMPTY_ANSWER", id="single-empty"),
    pytest.param(SINGLE, RawAnswer(option_ids=["a", "b"]), "TOO_MANY_OPTIONS", id="single-two-options"),
    pytest.param(SINGLE, RawAnswer(option_ids=["a", "a"]), "DUPLICATE_ID", id="single-duplicate"),
    pytest.param(SINGLE, RawAnswer(option_ids=["z"]), "UNKNOWN_ID", id="single-unknown"),
    pytest.param(MULTIPLE, RawAnswer(option_ids=[]), "EMPTY_ANSWER", id="multiple-empty"),
    pytest.param(MULTIPLE, RawAnswer(option_ids=["a", "b", "a"]), "DUPLICATE_ID", id="multiple-duplicate"),
    pytest.param(MULTIPLE, RawAnswer(option_ids=["a", "zz"]), "UNKNOWN_ID", id="multiple-unknown"),
    pytest.param(MULTIPLE, RawAnswer(option_ids=["q2"]), "UNKNOWN_ID", id="multiple-question-id"),
    pytest.param(MULTIPLE, RawAnswer(option_ids=["a", "$where"]), "UNKNOWN_ID", id="multiple-operator"),
    # short text
    pytest.param(SHORT, RawAnswer(text=""), "EMPTY_ANSWER", id="short-empty"),
    pytest.param(SHORT, RawAnswer(text=" \t\u3000 "), "EMPTY_ANSWER", id="short-blank"),
    pytest.param(SHORT, RawAnswer(text=LONG_TEXT), "TOO_LONG", id="short-oversized"),
    pytest.param(SHORT, RawAnswer(text="Par\x00is"), "INVALID", id="short-control-character"),
    pytest.param(SHORT, RawAnswer(text="Paris\ud800"), "INVALID", id="short-lone-surrogate"),
    # numeric
    pytest.param(NUMERIC, RawAnswer(number=math.nan), "NOT_FINITE", id="numeric-nan"),
    pytest.param(NUMERIC, RawAnswer(number=math.inf), "NOT_FINITE", id="numeric-inf"),
    pytest.param(NUMERIC, RawAnswer(number=-math.inf), "NOT_FINITE", id="numeric-minus-inf"),
    # ordering
    pytest.param(ORDERING, RawAnswer(ordered_ids=[]), "EMPTY_ANSWER", id="ordering-empty"),
    pytest.param(
        ORDERING, RawAnswer(ordered_ids=["i1", "i2", "i3"]), "NOT_A_PERMUTATION", id="ordering-missing"
    ),
    pytest.param(
        ORDERING, RawAnswer(ordered_ids=["i1", "i2", "i3", "i3"]), "DUPLICATE_ID", id="ordering-duplicate"
    ),
    pytest.param(
        ORDERING, RawAnswer(ordered_ids=["i1", "i2", "i3", "i9"]), "UNKNOWN_ID", id="ordering-unknown"
    ),
    pytest.param(
        ORDERING,
        RawAnswer(ordered_ids=["i1", "i2", "i3", "i4", "i4"]),
        "DUPLICATE_ID",
        id="ordering-too-long",
    ),
    # matching
    pytest.param(MATCHING, RawAnswer(pairs=[]), "EMPTY_ANSWER", id="matching-empty"),
    pytest.param(MATCHING, RawAnswer(pairs=[("px", "p1")]), "UNKNOWN_ID", id="matching-unknown-left"),
    pytest.param(MATCHING, RawAnswer(pairs=[("p1", "px")]), "UNKNOWN_ID", id="matching-unknown-right"),
    pytest.param(
        MATCHING, RawAnswer(pairs=[("p1", "p1"), ("p1", "p2")]), "DUPLICATE_ID", id="matching-duplicate-left"
    ),
    pytest.param(
        MATCHING, RawAnswer(pairs=[("p1", "p2"), ("p3", "p2")]), "DUPLICATE_ID", id="matching-duplicate-right"
    ),
]


@pytest.mark.parametrize(("question", "raw", "code"), REJECTIONS)
def test_parse_answer_rejects(question: Question, raw: RawAnswer, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_answer(question, raw, "answers.4")

    assert [(e.field, e.code) for e in caught.value.errors] == [("answers.4", code)]


def test_parse_answer_accepts_the_longest_text() -> None:
    assert parse_answer(SHORT, RawAnswer(text="x" * 1000 + "  "), "a") == {"text": "x" * 1000}


# --- authoring --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", [pytest.param(q, id=f"{q.id}-{q.type}") for q in VALID_QUESTIONS])
def test_valid_questions_pass(question: Question) -> None:
    assert validate_question(question, "questions.0") == []


@pytest.mark.parametrize(
    ("question", "changes"),
    [
        pytest.param(SINGLE, {"prompt": "x" * 2000, "points": 1000}, id="longest-prompt-most-points"),
        pytest.param(SINGLE, {"points": 0.01}, id="fewest-points"),
        pytest.param(SINGLE, {"points": 2.5}, id="two-decimals"),
        pytest.param(SINGLE, {"options": _options("a*", "b")}, id="single-two-options"),
        pytest.param(
            SINGLE, {"options": _options("a*", *[f"o{n}" for n in range(19)])}, id="single-20-options"
        ),
        pytest.param(MULTIPLE, {"options": _options("a*", "b*")}, id="multiple-all-correct"),
        pytest.param(SHORT, {"accepted_answers": ["y" * 500]}, id="short-longest-answer"),
        pytest.param(SHORT, {"accepted_answers": [f"a{n}" for n in range(20)]}, id="short-20-answers"),
        pytest.param(NUMERIC, {"tolerance": 0.0, "numeric_answer": -1e9}, id="numeric-zero-tolerance"),
        pytest.param(ORDERING, {"options": _items(2)}, id="ordering-two-items"),
        pytest.param(ORDERING, {"options": _items(20)}, id="ordering-20-items"),
        pytest.param(MATCHING, {"pairs": _pairs(20)}, id="matching-20-pairs"),
        pytest.param(TRUE_FALSE, {"correct_bool": False, "feedback": "f" * 2000}, id="true-false-false"),
        pytest.param(SINGLE, {"prompt": "Line one\nline two\ttabbed"}, id="prompt-newlines"),
    ],
)
def test_question_edges_pass(question: Question, changes: dict[str, Any]) -> None:
    assert validate_question(question.model_copy(update=changes), "questions.0") == []


def _option(
    option_id: str = "a", text: str = "Text", *, correct: bool = True, feedback: str | None = None
) -> Option:
    return Option(id=option_id, text=text, correct=correct, feedback=feedback)


QUESTION_ERRORS = [
    # every type: id, prompt, points, feedback
    pytest.param(SINGLE, {"id": "q.1"}, "questions.3.id", "INVALID", id="question-id-with-dot"),
    pytest.param(SINGLE, {"id": ""}, "questions.3.id", "INVALID", id="question-id-empty"),
    pytest.param(SINGLE, {"prompt": ""}, "questions.3.prompt", "REQUIRED", id="prompt-empty"),
    pytest.param(SINGLE, {"prompt": " \n "}, "questions.3.prompt", "REQUIRED", id="prompt-blank"),
    pytest.param(SINGLE, {"prompt": "x" * 2001}, "questions.3.prompt", "TOO_LONG", id="prompt-too-long"),
    pytest.param(
        SINGLE, {"prompt": "bell\x07"}, "questions.3.prompt", "INVALID", id="prompt-control-character"
    ),
    pytest.param(
        SINGLE, {"feedback": "f" * 2001}, "questions.3.feedback", "TOO_LONG", id="feedback-too-long"
    ),
    pytest.param(SINGLE, {"points": 0}, "questions.3.points", "OUT_OF_RANGE", id="points-zero"),
    pytest.param(SINGLE, {"points": -1}, "questions.3.points", "OUT_OF_RANGE", id="points-negative"),
    pytest.param(SINGLE, {"points": 1000.01}, "questions.3.points", "OUT_OF_RANGE", id="points-too-many"),
    pytest.param(SINGLE, {"points": math.inf}, "questions.3.points", "OUT_OF_RANGE", id="points-inf"),
    pytest.param(SINGLE, {"points": math.nan}, "questions.3.points", "OUT_OF_RANGE", id="points-nan"),
    pytest.param(SINGLE, {"points": 0.125}, "questions.3.points", "TOO_PRECISE", id="points-three-decimals"),
    # single and multiple choice
    pytest.param(
        SINGLE, {"options": _options("a*")}, "questions.3.options", "TOO_FEW", id="single-one-option"
    ),
    pytest.param(SINGLE, {"options": []}, "questions.3.options", "TOO_FEW", id="single-no-options"),
    pytest.param(
        SINGLE,
        {"options": _options("a*", *[f"o{n}" for n in range(20)])},
        "questions.3.options",
        "TOO_MANY",
        id="single-21-options",
    ),
    pytest.param(
        SINGLE,
        {"options": _options("a", "b")},
        "questions.3.options",
        "NO_CORRECT_OPTION",
        id="single-none-correct",
    ),
    pytest.param(
        SINGLE,
        {"options": _options("a*", "b*")},
        "questions.3.options",
        "TOO_MANY_CORRECT",
        id="single-two-correct",
    ),
    pytest.param(
        MULTIPLE,
        {"options": _options("a", "b", "c")},
        "questions.3.options",
        "NO_CORRECT_OPTION",
        id="multiple-none-correct",
    ),
    pytest.param(
        MULTIPLE,
        {"options": _options(*[f"o{n}*" for n in range(21)])},
        "questions.3.options",
        "TOO_MANY",
        id="multiple-21-options",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option("a"), _option("a", correct=False)]},
        "questions.3.options.1.id",
        "DUPLICATE_ID",
        id="option-duplicate-id",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option("a.b"), _option("c", correct=False)]},
        "questions.3.options.0.id",
        "INVALID",
        id="option-id-with-dot",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option("$gt"), _option("c", correct=False)]},
        "questions.3.options.0.id",
        "INVALID",
        id="option-id-with-dollar",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option(""), _option("c", correct=False)]},
        "questions.3.options.0.id",
        "INVALID",
        id="option-id-empty",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option("a"), _option("c", text="", correct=False)]},
        "questions.3.options.1.text",
        "REQUIRED",
        id="option-text-empty",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option("a", text="t" * 1001), _option("c", correct=False)]},
        "questions.3.options.0.text",
        "TOO_LONG",
        id="option-text-too-long",
    ),
    pytest.param(
        SINGLE,
        {"options": [_option("a", feedback="f" * 1001), _option("c", correct=False)]},
        "questions.3.options.0.feedback",
        "TOO_LONG",
        id="option-feedback-too-long",
    ),
    # true/false
    pytest.param(
        TRUE_FALSE, {"correct_bool": None}, "questions.3.correctBool", "REQUIRED", id="true-false-no-key"
    ),
    pytest.param(
        TRUE_FALSE,
        {"options": _options("a*", "b")},
        "questions.3.options",
        "NOT_APPLICABLE",
        id="true-false-with-options",
    ),
    # short text
    pytest.param(
        SHORT, {"accepted_answers": []}, "questions.3.acceptedAnswers", "TOO_FEW", id="short-no-answers"
    ),
    pytest.param(
        SHORT,
        {"accepted_answers": [f"a{n}" for n in range(21)]},
        "questions.3.acceptedAnswers",
        "TOO_MANY",
        id="short-21-answers",
    ),
    pytest.param(
        SHORT,
        {"accepted_answers": ["Paris", "  "]},
        "questions.3.acceptedAnswers.1",
        "REQUIRED",
        id="short-blank-answer",
    ),
    pytest.param(
        SHORT,
        {"accepted_answers": ["\u3000"]},
        "questions.3.acceptedAnswers.0",
        "REQUIRED",
        id="short-ideographic-space-only",
    ),
    pytest.param(
        SHORT,
        {"accepted_answers": ["y" * 501]},
        "questions.3.acceptedAnswers.0",
        "TOO_LONG",
        id="short-answer-too-long",
    ),
    # numeric
    pytest.param(
        NUMERIC, {"numeric_answer": None}, "questions.3.numericAnswer", "REQUIRED", id="numeric-no-key"
    ),
    pytest.param(
        NUMERIC, {"numeric_answer": math.inf}, "questions.3.numericAnswer", "NOT_FINITE", id="numeric-inf"
    ),
    pytest.param(
        NUMERIC, {"numeric_answer": math.nan}, "questions.3.numericAnswer", "NOT_FINITE", id="numeric-nan"
    ),
    pytest.param(
        NUMERIC, {"tolerance": -0.01}, "questions.3.tolerance", "OUT_OF_RANGE", id="tolerance-negative"
    ),
    pytest.param(NUMERIC, {"tolerance": math.inf}, "questions.3.tolerance", "NOT_FINITE", id="tolerance-inf"),
    pytest.param(NUMERIC, {"tolerance": math.nan}, "questions.3.tolerance", "NOT_FINITE", id="tolerance-nan"),
    # ordering
    pytest.param(ORDERING, {"options": _items(1)}, "questions.3.options", "TOO_FEW", id="ordering-one-item"),
    pytest.param(
        ORDERING, {"options": _items(21)}, "questions.3.options", "TOO_MANY", id="ordering-21-items"
    ),
    pytest.param(
        ORDERING,
        {"options": [*_items(2), Option(id="i1", text="Again")]},
        "questions.3.options.2.id",
        "DUPLICATE_ID",
        id="ordering-duplicate-id",
    ),
    # matching
    pytest.param(MATCHING, {"pairs": _pairs(1)}, "questions.3.pairs", "TOO_FEW", id="matching-one-pair"),
    pytest.param(MATCHING, {"pairs": _pairs(21)}, "questions.3.pairs", "TOO_MANY", id="matching-21-pairs"),
    pytest.param(
        MATCHING,
        {"pairs": [*_pairs(2), MatchPair(id="p3", prompt="prompt  1", match="Match 3")]},
        "questions.3.pairs.2.prompt",
        "DUPLICATE",
        id="matching-duplicate-prompt",
    ),
    pytest.param(
        MATCHING,
        {"pairs": [*_pairs(2), MatchPair(id="p3", prompt="Prompt 3", match="MATCH 2")]},
        "questions.3.pairs.2.match",
        "DUPLICATE",
        id="matching-duplicate-match",
    ),
    pytest.param(
        MATCHING,
        {"pairs": [*_pairs(2), MatchPair(id="p2", prompt="Prompt 3", match="Match 3")]},
        "questions.3.pairs.2.id",
        "DUPLICATE_ID",
        id="matching-duplicate-id",
    ),
    pytest.param(
        MATCHING,
        {"pairs": [*_pairs(2), MatchPair(id="p3", prompt="Prompt 3", match="")]},
        "questions.3.pairs.2.match",
        "REQUIRED",
        id="matching-empty-match",
    ),
    pytest.param(
        MATCHING,
        {"pairs": [*_pairs(2), MatchPair(id="p3", prompt="p" * 1001, match="Match 3")]},
        "questions.3.pairs.2.prompt",
        "TOO_LONG",
        id="matching-prompt-too-long",
    ),
    # keys and items of another type
    pytest.param(
        NUMERIC, {"correct_bool": True}, "questions.3.correctBool", "NOT_APPLICABLE", id="stray-bool"
    ),
    pytest.param(
        SINGLE,
        {"accepted_answers": ["a"]},
        "questions.3.acceptedAnswers",
        "NOT_APPLICABLE",
        id="stray-accepted",
    ),
    pytest.param(
        TRUE_FALSE, {"numeric_answer": 1.0}, "questions.3.numericAnswer", "NOT_APPLICABLE", id="stray-number"
    ),
    pytest.param(SHORT, {"pairs": _pairs(2)}, "questions.3.pairs", "NOT_APPLICABLE", id="stray-pairs"),
    pytest.param(
        MATCHING, {"options": _items(2)}, "questions.3.options", "NOT_APPLICABLE", id="stray-options"
    ),
]


@pytest.mark.parametrize(("question", "changes", "field", "code"), QUESTION_ERRORS)
def test_question_errors(question: Question, changes: dict[str, Any], field: str, code: str) -> None:
    errors = validate_question(question.model_copy(update=changes), "questions.3")

    assert [(e.field, e.code) for e in errors] == [(field, code)]


def test_question_errors_are_all_reported() -> None:
    question = SINGLE.model_copy(update={"prompt": "", "points": 0, "options": _options("a", "a")})

    errors = validate_question(question, "questions.1")

    assert {(e.field, e.code) for e in errors} == {
        ("questions.1.prompt", "REQUIRED"),
        ("questions.1.points", "OUT_OF_RANGE"),
        ("questions.1.options.1.id", "DUPLICATE_ID"),
        ("questions.1.options", "NO_CORRECT_OPTION"),
    }


# --- properties over random questions and answers ---------------------------------------------------------


def _random_question(rng: random.Random, index: int) -> Question:
    kind = rng.choice(list(QT))
    points = rng.choice([0.01, 0.5, 1, 1.25, 2, 3, 7.77, 10, 1000])
    size = rng.randint(2, 20)
    base: dict[str, Any] = {"id": f"q{index}", "type": kind, "prompt": f"Question {index}", "points": points}
    match kind:
        case QT.SINGLE_CHOICE | QT.MULTIPLE_CHOICE:
            correct = {0} if kind is QT.SINGLE_CHOICE else set(rng.sample(range(size), rng.randint(1, size)))
            options = [Option(id=f"o{n:x}", text=f"Option {n}", correct=n in correct) for n in range(size)]
            return Question(**base, options=options)
        case QT.TRUE_FALSE:
            return Question(**base, correct_bool=rng.random() < 0.5)
        case QT.SHORT_TEXT:
            return Question(
                **base,
                accepted_answers=[f"Answer {n}" for n in range(rng.randint(1, 3))],
                case_sensitive=rng.random() < 0.5,
            )
        case QT.NUMERIC:
            return Question(
                **base, numeric_answer=rng.uniform(-1e6, 1e6), tolerance=rng.choice([0.0, 0.01, 0.5, 10.0])
            )
        case QT.ORDERING:
            return Question(**base, options=[Option(id=f"i{n:x}", text=f"Item {n}") for n in range(size)])
        case QT.MATCHING:
            pairs = [MatchPair(id=f"p{n:x}", prompt=f"Prompt {n}", match=f"Match {n}") for n in range(size)]
            return Question(**base, pairs=pairs)
    raise AssertionError(kind)


def _random_answer(rng: random.Random, question: Question) -> RawAnswer:
    option_ids = [o.id for o in question.options]
    match question.type:
        case QT.SINGLE_CHOICE:
            return RawAnswer(option_ids=[rng.choice(option_ids)])
        case QT.MULTIPLE_CHOICE:
            return RawAnswer(option_ids=rng.sample(option_ids, rng.randint(1, len(option_ids))))
        case QT.TRUE_FALSE:
            return RawAnswer(value=rng.random() < 0.5)
        case QT.SHORT_TEXT:
            accepted = rng.choice(question.accepted_answers)
            return RawAnswer(
                text=rng.choice([accepted, accepted.upper(), f"  {accepted} ", "something else"])
            )
        case QT.NUMERIC:
            assert question.numeric_answer is not None
            return RawAnswer(number=question.numeric_answer + rng.uniform(-2, 2) * question.tolerance)
        case QT.ORDERING:
            return RawAnswer(ordered_ids=rng.sample(option_ids, len(option_ids)))
        case QT.MATCHING:
            pair_ids = [p.id for p in question.pairs]
            lefts = rng.sample(pair_ids, rng.randint(1, len(pair_ids)))
            rights = rng.sample(pair_ids, len(lefts))
            return RawAnswer(pairs=list(zip(lefts, rights, strict=True)))
    raise AssertionError(question.type)


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value] + [k for v in value.values() for k in _keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


@pytest.mark.parametrize("seed", range(20))
def test_random_valid_answers_score_within_bounds(seed: int) -> None:
    rng = random.Random(seed)
    questions = [_random_question(rng, n) for n in range(rng.randint(1, 15))]
    answers: dict[str, dict[str, Any]] = {}
    for index, question in enumerate(questions):
        assert validate_question(question, f"questions.{index}") == []
        if rng.random() < 0.85:  # some questions left unanswered
            answers[question.id] = parse_answer(question, _random_answer(rng, question), f"answers.{index}")

    results, score, max_score = score_attempt(questions, answers)

    for question, result in zip(questions, results, strict=True):
        assert result.question_id == question.id
        assert 0 <= result.points <= result.max_points == question.points
        assert round(result.points, 4) == result.points
        expected_outcome = (
            "unanswered"
            if question.id not in answers
            else "correct"
            if result.points == result.max_points
            else "partial"
            if result.points > 0
            else "incorrect"
        )
        assert result.outcome == expected_outcome
        assert score_question(question, answers.get(question.id)) == result  # deterministic
    assert score == pytest.approx(sum(r.points for r in results), abs=1e-9)
    assert max_score == pytest.approx(sum(q.points for q in questions), abs=1e-9)
    assert 0 <= score <= max_score
    assert 0 <= percent(score, max_score) <= 100
    assert all("." not in key and not key.startswith("$") for key in _keys(answers))
