"""Question authoring rules, answer parsing and deterministic scoring: pure functions, no I/O, no clock.

Three steps, used by the service in this order:

1. `validate_question` checks a question an instructor writes (all errors at once, as `FieldError`s whose
   fields start with the prefix the caller passes, e.g. `questions.3` -> `questions.3.options`).
2. `parse_answer` turns what a learner sends (`RawAnswer`) into the small normalised dict stored on the
   attempt, or raises `ValidationFailed` with one `FieldError` on the field the caller passes (`answers.2`).
3. `score_question` / `score_attempt` score stored answers. They never raise: an answer stored before the
   question changed scores what still matches (unknown ids count for nothing, a wrong shape is incorrect).

Normalised answers (stored in MongoDB: keys are fixed names or ids that `validate_question` restricts to
`[A-Za-z0-9_-]`, so never `.` or `$`):

    single/multiple choice  {"option_ids": ["a1", ...]}      in the question's option order
    true/false              {"value": True}
    short text              {"text": "as typed, stripped"}   normalised again when scored
    numeric                 {"number": 1.5}
    ordering                {"ordered_ids": ["i2", "i1", ...]}  a permutation of the item ids
    matching                {"pairs": {"p1": "p3", ...}}     left pair id -> right pair id, question order

Matching: both columns are identified by pair ids; pairing left `p1` with right `p3` says "the prompt of p1
goes with the match of p3", which is correct when the ids are equal. A learner may leave some prompts
unpaired (they score nothing). Whoever shows the right column to a learner must not label it with the pair
ids as they are (that would give the key away): map per-attempt labels back to pair ids before parsing.

An empty selection or text is rejected (EMPTY_ANSWER) rather than stored: a learner leaves a question
unanswered by not sending it. Every valid question has a correct option, so an empty multiple-choice
selection could never earn points anyway.
"""

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, assert_never

from coursegraph.codes import FieldCode
from coursegraph.errors import FieldError, ValidationFailed
from coursegraph.text import is_text
from subgraphs.assessments.models import Question, QuestionResult, QuestionType

PROMPT_MAX = 2_000
FEEDBACK_MAX = 2_000
TEXT_MAX = 1_000  # option texts and feedback, pair prompts and matches
POINTS_MAX = 1_000.0
ITEMS_MIN = 2
ITEMS_MAX = 20  # options, ordering items, matching pairs
ACCEPTED_ANSWERS_MAX = 20
ACCEPTED_ANSWER_MAX = 500
ANSWER_TEXT_MAX = 1_000
POINTS_DECIMALS = 4
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

CHOICE_TYPES = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE})
OPTION_TYPES = CHOICE_TYPES | {QuestionType.ORDERING}

# The one RawAnswer field (and its GraphQL name) each question type takes.
ANSWER_FIELD: dict[QuestionType, tuple[str, str]] = {
    QuestionType.SINGLE_CHOICE: ("option_ids", "optionIds"),
    QuestionType.MULTIPLE_CHOICE: ("option_ids", "optionIds"),
    QuestionType.TRUE_FALSE: ("value", "value"),
    QuestionType.SHORT_TEXT: ("text", "text"),
    QuestionType.NUMERIC: ("number", "number"),
    QuestionType.ORDERING: ("ordered_ids", "orderedIds"),
    QuestionType.MATCHING: ("pairs", "pairs"),
}
ANSWER_FIELD_NAMES = frozenset(name for name, _ in ANSWER_FIELD.values())


def normalise_text(s: str, case_sensitive: bool) -> str:
    """NFKC (full-width letters, ligatures...), casefolded unless case-sensitive, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", s)
    if not case_sensitive:
        text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in text)


# --- authoring --------------------------------------------------------------------------------------------


def _check_text(
    value: str | None, field: str, *, maximum: int, required: bool, errors: list[FieldError]
) -> None:
    cleaned = unicodedata.normalize("NFC", value or "").strip()
    if not cleaned:
        if required:
            errors.append(FieldError(field, FieldCode.REQUIRED, f"{field} must not be empty."))
    elif len(cleaned) > maximum:
        errors.append(FieldError(field, FieldCode.TOO_LONG, f"{field} must be at most {maximum} characters."))
    elif _has_control_characters(cleaned) or not is_text(cleaned):
        errors.append(FieldError(field, FieldCode.INVALID, f"{field} must not contain control characters."))


def _check_count(count: int, field: str, minimum: int, maximum: int, errors: list[FieldError]) -> None:
    if count < minimum:
        errors.append(FieldError(field, FieldCode.TOO_FEW, f"At least {minimum} needed."))
    elif count > maximum:
        errors.append(FieldError(field, FieldCode.TOO_MANY, f"At most {maximum} allowed."))


def _check_id(value: str, field: str, seen: set[str], errors: list[FieldError]) -> None:
    if not ID_PATTERN.fullmatch(value):
        errors.append(FieldError(field, FieldCode.INVALID, "An id is 1-64 letters, digits, '-' or '_'."))
    elif value in seen:
        errors.append(FieldError(field, FieldCode.DUPLICATE_ID, "Ids must be unique within a question."))
    seen.add(value)


def _check_points(points: float, field: str, errors: list[FieldError]) -> None:
    if not math.isfinite(points) or points <= 0 or points > POINTS_MAX:
        errors.append(
            FieldError(field, FieldCode.OUT_OF_RANGE, f"Points must be above 0 and at most {POINTS_MAX:g}.")
        )
    elif abs(points * 100 - round(points * 100)) > 1e-6:
        # Two decimals at most keep every partial score (a multiple of points/20 or more) distinct from
        # both 0 and full points after rounding to four decimals.
        errors.append(FieldError(field, FieldCode.TOO_PRECISE, "Points have at most two decimal places."))


def _check_not_applicable(question: Question, field: str, errors: list[FieldError]) -> None:
    """Keys and items belong only to the type that uses them: a stray one is a mistake (or a leak)."""
    kind = question.type
    stray = {
        "options": bool(question.options) and kind not in OPTION_TYPES,
        "pairs": bool(question.pairs) and kind is not QuestionType.MATCHING,
        "acceptedAnswers": bool(question.accepted_answers) and kind is not QuestionType.SHORT_TEXT,
        "correctBool": question.correct_bool is not None and kind is not QuestionType.TRUE_FALSE,
        "numericAnswer": question.numeric_answer is not None and kind is not QuestionType.NUMERIC,
    }
    for name, is_stray in stray.items():
        if is_stray:
            errors.append(
                FieldError(f"{field}.{name}", FieldCode.NOT_APPLICABLE, f"Not used by {kind} questions.")
            )


def _check_options(question: Question, field: str, errors: list[FieldError]) -> None:
    options_field = f"{field}.options"
    _check_count(len(question.options), options_field, ITEMS_MIN, ITEMS_MAX, errors)
    seen: set[str] = set()
    for index, option in enumerate(question.options):
        prefix = f"{options_field}.{index}"
        _check_id(option.id, f"{prefix}.id", seen, errors)
        _check_text(option.text, f"{prefix}.text", maximum=TEXT_MAX, required=True, errors=errors)
        _check_text(option.feedback, f"{prefix}.feedback", maximum=TEXT_MAX, required=False, errors=errors)
    correct = sum(1 for option in question.options if option.correct)
    if question.type in CHOICE_TYPES and question.options and correct == 0:
        errors.append(
            FieldError(options_field, FieldCode.NO_CORRECT_OPTION, "Mark at least one option correct.")
        )
    if question.type is QuestionType.SINGLE_CHOICE and correct > 1:
        errors.append(
            FieldError(options_field, FieldCode.TOO_MANY_CORRECT, "Mark exactly one option correct.")
        )


def _check_pairs(question: Question, field: str, errors: list[FieldError]) -> None:
    pairs_field = f"{field}.pairs"
    _check_count(len(question.pairs), pairs_field, ITEMS_MIN, ITEMS_MAX, errors)
    seen_ids: set[str] = set()
    seen_prompts: set[str] = set()
    seen_matches: set[str] = set()
    for index, pair in enumerate(question.pairs):
        prefix = f"{pairs_field}.{index}"
        _check_id(pair.id, f"{prefix}.id", seen_ids, errors)
        for name, text, seen in (("prompt", pair.prompt, seen_prompts), ("match", pair.match, seen_matches)):
            _check_text(text, f"{prefix}.{name}", maximum=TEXT_MAX, required=True, errors=errors)
            key = normalise_text(text, case_sensitive=False)
            if key and key in seen:
                errors.append(
                    FieldError(f"{prefix}.{name}", FieldCode.DUPLICATE, f"Each {name} must be unique.")
                )
            seen.add(key)


def _check_accepted_answers(question: Question, field: str, errors: list[FieldError]) -> None:
    answers_field = f"{field}.acceptedAnswers"
    _check_count(len(question.accepted_answers), answers_field, 1, ACCEPTED_ANSWERS_MAX, errors)
    for index, answer in enumerate(question.accepted_answers):
        answer_field = f"{answers_field}.{index}"
        if not normalise_text(answer, question.case_sensitive):
            errors.append(
                FieldError(answer_field, FieldCode.REQUIRED, "An accepted answer must not be empty.")
            )
        else:
            _check_text(answer, answer_field, maximum=ACCEPTED_ANSWER_MAX, required=True, errors=errors)


def _check_numeric(question: Question, field: str, errors: list[FieldError]) -> None:
    if question.numeric_answer is None:
        errors.append(FieldError(f"{field}.numericAnswer", FieldCode.REQUIRED, "Give the correct number."))
    elif not math.isfinite(question.numeric_answer):
        errors.append(
            FieldError(f"{field}.numericAnswer", FieldCode.NOT_FINITE, "The answer must be a finite number.")
        )
    if not math.isfinite(question.tolerance):
        errors.append(
            FieldError(f"{field}.tolerance", FieldCode.NOT_FINITE, "The tolerance must be a finite number.")
        )
    elif question.tolerance < 0:
        errors.append(
            FieldError(f"{field}.tolerance", FieldCode.OUT_OF_RANGE, "The tolerance must not be negative.")
        )


def validate_question(question: Question, field: str) -> list[FieldError]:
    """Every authoring rule `question` breaks, as errors on `field` + `.prompt`, `.options.2.text`..."""
    errors: list[FieldError] = []
    _check_id(question.id, f"{field}.id", set(), errors)  # a key of the attempt's `answers` in MongoDB
    _check_text(question.prompt, f"{field}.prompt", maximum=PROMPT_MAX, required=True, errors=errors)
    _check_text(question.feedback, f"{field}.feedback", maximum=FEEDBACK_MAX, required=False, errors=errors)
    _check_points(question.points, f"{field}.points", errors)
    _check_not_applicable(question, field, errors)
    match question.type:
        case QuestionType.SINGLE_CHOICE | QuestionType.MULTIPLE_CHOICE | QuestionType.ORDERING:
            _check_options(question, field, errors)
        case QuestionType.TRUE_FALSE:
            if question.correct_bool is None:
                errors.append(
                    FieldError(f"{field}.correctBool", FieldCode.REQUIRED, "Say whether it is true.")
                )
        case QuestionType.SHORT_TEXT:
            _check_accepted_answers(question, field, errors)
        case QuestionType.NUMERIC:
            _check_numeric(question, field, errors)
        case QuestionType.MATCHING:
            _check_pairs(question, field, errors)
        case _:
            assert_never(question.type)
    return errors


# --- answers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawAnswer:
    """What a client sends for one question: exactly the field for the question's type, the others None."""

    option_ids: list[str] | None = None
    value: bool | None = None
    text: str | None = None
    number: float | None = None
    ordered_ids: list[str] | None = None
    pairs: list[tuple[str, str]] | None = None


def _reject(field: str, code: FieldCode, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message)])


def _check_ids(given: list[str], known: Iterable[str], field: str, what: str) -> None:
    """Raise unless `given` is a non-empty list of distinct ids, each one of `known`."""
    if not given:
        raise _reject(field, FieldCode.EMPTY_ANSWER, "Leave the question out to leave it unanswered.")
    known_ids = set(known)
    seen: set[str] = set()
    for item in given:
        if not isinstance(item, str) or item not in known_ids:
            raise _reject(field, FieldCode.UNKNOWN_ID, f"Not {what} of this question.")
        if item in seen:
            raise _reject(field, FieldCode.DUPLICATE_ID, "Give each id once.")
        seen.add(item)


def _parse_option_ids(question: Question, option_ids: list[str], field: str) -> dict[str, Any]:
    _check_ids(option_ids, (o.id for o in question.options), field, "an option")
    if question.type is QuestionType.SINGLE_CHOICE and len(option_ids) > 1:
        raise _reject(field, FieldCode.TOO_MANY_OPTIONS, "Choose exactly one option.")
    chosen = set(option_ids)
    return {"option_ids": [o.id for o in question.options if o.id in chosen]}


def _parse_text(text: str, field: str) -> dict[str, Any]:
    cleaned = text.strip()
    if len(cleaned) > ANSWER_TEXT_MAX:
        raise _reject(field, FieldCode.TOO_LONG, f"An answer is at most {ANSWER_TEXT_MAX} characters.")
    if _has_control_characters(cleaned) or not is_text(cleaned):
        raise _reject(field, FieldCode.INVALID, "The answer must not contain control characters.")
    if not normalise_text(cleaned, case_sensitive=True):
        raise _reject(field, FieldCode.EMPTY_ANSWER, "Leave the question out to leave it unanswered.")
    return {"text": cleaned}


def _parse_number(number: float, field: str) -> dict[str, Any]:
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise _reject(field, FieldCode.WRONG_ANSWER_TYPE, "The answer must be a number.")
    if not math.isfinite(number):
        raise _reject(field, FieldCode.NOT_FINITE, "The answer must be a finite number.")
    return {"number": float(number)}


def _parse_ordering(question: Question, ordered_ids: list[str], field: str) -> dict[str, Any]:
    _check_ids(ordered_ids, (o.id for o in question.options), field, "an item")
    if len(ordered_ids) != len(question.options):
        raise _reject(field, FieldCode.NOT_A_PERMUTATION, "Put every item in the order, each once.")
    return {"ordered_ids": list(ordered_ids)}


def _parse_pairs(question: Question, pairs: list[tuple[str, str]], field: str) -> dict[str, Any]:
    if not pairs:
        raise _reject(field, FieldCode.EMPTY_ANSWER, "Leave the question out to leave it unanswered.")
    if any(not isinstance(pair, tuple | list) or len(pair) != 2 for pair in pairs):
        raise _reject(field, FieldCode.WRONG_ANSWER_TYPE, "Each pair is a left id and a right id.")
    pair_ids = [p.id for p in question.pairs]
    _check_ids([left for left, _ in pairs], pair_ids, field, "a left id")
    _check_ids([right for _, right in pairs], pair_ids, field, "a right id")
    chosen = dict(pairs)
    return {"pairs": {pair_id: chosen[pair_id] for pair_id in pair_ids if pair_id in chosen}}


def parse_answer(question: Question, raw: RawAnswer, field: str) -> dict[str, Any]:
    """The normalised answer to store, or `ValidationFailed` with one `FieldError` on `field`."""
    expected, graphql_name = ANSWER_FIELD[question.type]
    given = {name for name in ANSWER_FIELD_NAMES if getattr(raw, name) is not None}
    if given != {expected}:
        raise _reject(
            field, FieldCode.WRONG_ANSWER_TYPE, f"A {question.type} question takes `{graphql_name}` only."
        )
    match question.type:
        case QuestionType.SINGLE_CHOICE | QuestionType.MULTIPLE_CHOICE:
            assert raw.option_ids is not None
            return _parse_option_ids(question, raw.option_ids, field)
        case QuestionType.TRUE_FALSE:
            if not isinstance(raw.value, bool):
                raise _reject(field, FieldCode.WRONG_ANSWER_TYPE, "The answer must be true or false.")
            return {"value": raw.value}
        case QuestionType.SHORT_TEXT:
            if not isinstance(raw.text, str):
                raise _reject(field, FieldCode.WRONG_ANSWER_TYPE, "The answer must be text.")
            return _parse_text(raw.text, field)
        case QuestionType.NUMERIC:
            assert raw.number is not None
            return _parse_number(raw.number, field)
        case QuestionType.ORDERING:
            assert raw.ordered_ids is not None
            return _parse_ordering(question, raw.ordered_ids, field)
        case QuestionType.MATCHING:
            assert raw.pairs is not None
            return _parse_pairs(question, raw.pairs, field)
        case _:
            assert_never(question.type)


# --- scoring ----------------------------------------------------------------------------------------------


def _str_list(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list | tuple) else []


def _exact(number: float) -> Fraction:
    """The decimal a float prints as, exactly: 3.15 - 3.14 is 0.01 here, not 0.010000000000000231."""
    return Fraction(repr(float(number)))


def _ratio(question: Question, answer: dict[str, Any]) -> Fraction:
    """The share of the points `answer` earns, in [0, 1]; a shape that does not fit the type earns 0."""
    match question.type:
        case QuestionType.SINGLE_CHOICE:
            chosen = _str_list(answer.get("option_ids"))
            correct = {o.id for o in question.options if o.correct}
            return Fraction(len(chosen) == 1 and chosen[0] in correct)
        case QuestionType.MULTIPLE_CHOICE:
            chosen_ids = set(_str_list(answer.get("option_ids")))
            correct = {o.id for o in question.options if o.correct}
            wrong = {o.id for o in question.options if not o.correct}
            if not correct:
                return Fraction(0)
            earned = len(chosen_ids & correct) - len(chosen_ids & wrong)
            return Fraction(max(0, earned), len(correct))
        case QuestionType.TRUE_FALSE:
            value = answer.get("value")
            return Fraction(isinstance(value, bool) and value == question.correct_bool)
        case QuestionType.SHORT_TEXT:
            text = answer.get("text")
            if not isinstance(text, str):
                return Fraction(0)
            given = normalise_text(text, question.case_sensitive)
            accepted = {normalise_text(a, question.case_sensitive) for a in question.accepted_answers}
            return Fraction(bool(given) and given in accepted)
        case QuestionType.NUMERIC:
            number = answer.get("number")
            if (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or not math.isfinite(number)
                or question.numeric_answer is None
                or not math.isfinite(question.numeric_answer)
                or not math.isfinite(question.tolerance)
            ):
                return Fraction(0)
            distance = abs(_exact(number) - _exact(question.numeric_answer))
            return Fraction(distance <= _exact(question.tolerance))
        case QuestionType.ORDERING:
            given_order = _str_list(answer.get("ordered_ids"))
            items = [o.id for o in question.options]
            if not items:
                return Fraction(0)
            in_place = sum(1 for a, b in zip(given_order, items, strict=False) if a == b)
            return Fraction(in_place, len(items))
        case QuestionType.MATCHING:
            pairs = answer.get("pairs")
            if not isinstance(pairs, dict) or not question.pairs:
                return Fraction(0)
            right = sum(1 for p in question.pairs if pairs.get(p.id) == p.id)
            return Fraction(right, len(question.pairs))
        case _:
            assert_never(question.type)


def score_question(question: Question, answer: dict[str, Any] | None) -> QuestionResult:
    """Points (rounded to four decimals) and outcome for one stored answer; `None` is unanswered."""
    max_points = round(question.points, POINTS_DECIMALS) if math.isfinite(question.points) else 0.0
    max_points = max(max_points, 0.0)
    if answer is None:
        return QuestionResult(
            question_id=question.id, points=0.0, max_points=max_points, outcome="unanswered"
        )
    ratio = _ratio(question, answer)
    points = max_points if ratio >= 1 else round(float(Fraction(max_points) * ratio), POINTS_DECIMALS)
    points = min(max(points, 0.0), max_points)
    if points >= max_points > 0:
        outcome = "correct"
    elif points > 0:
        outcome = "partial"
    else:
        outcome = "incorrect"
    return QuestionResult(question_id=question.id, points=points, max_points=max_points, outcome=outcome)


def score_attempt(
    questions: list[Question], answers: dict[str, dict[str, Any]]
) -> tuple[list[QuestionResult], float, float]:
    """Results in question order, the score and the max score (each summed exactly, rounded to 4 decimals)."""
    results = [score_question(question, answers.get(question.id)) for question in questions]
    score = round(math.fsum(result.points for result in results), POINTS_DECIMALS)
    max_score = round(math.fsum(result.max_points for result in results), POINTS_DECIMALS)
    return results, score, max_score


def percent(score: float, max_score: float) -> float:
    """The score as a percentage of the max score, to two decimals; 0 when there is nothing to score."""
    if max_score <= 0:
        return 0.0
    return round(score * 100 / max_score, 2)
