"""schemathesis hooks for the REST judge (tests/e2e/test_outside_judges.py, via `SCHEMATHESIS_HOOKS`).

Seven rules of the REST API are stated in its OpenAPI document in words but not in JSON Schema, so
schemathesis would send requests that break them and report their 400 as "schema-valid request rejected"
(ST202). Each is handled here exactly; every other failure stands.

- `POST /courses`: the lessons of a module never share an `order` (every lesson has one or none has: that
  part is in the schema). JSON Schema can say it only as one `contains`/`maxContains` clause per possible
  order (100), which makes schemathesis' generation about ten times slower. Bodies that repeat an order
  in a module are not sent (`filter_case`).
- `POST /assessments/{assessment_id}/submit`: an answer is judged against the assessment's own questions
  (its id must be one of them, answered once, in the field of the question's type, naming the question's
  items). That depends on stored data, which no static schema knows. Its 400 is excused when it names
  only answers (`answers.N`) or their question ids (`answers.N.question_id`), as the service does
  (`filter_failure`).
- `POST /notifications/unsubscribe`: the token must carry our signature and not have expired, which no
  schema can state (its pattern says only which characters a token has). Its 400 is excused when it
  names only `token`.
- `POST /media/upload`: a file is kept only if its content is of an allowed type, the one its part
  declares, and it has a plain name and at least one byte; the schema can say it is a binary file, not
  what is in it. Its 400 is excused when it names only the file, its name, type or size.
- deadlines (`PUT`/`DELETE /courses/{course_id}/deadlines/{target_id}`, `PUT .../extensions/{user_id}`):
  the target must be a module or an assessment of the course (with a deadline, to clear or extend it), the
  learner enrolled in it, and a due time in the future: stored data and the clock. Their 400 is excused
  when it names only `target_id`, `due_at` or `user_id`.
- `PUT /courses/{course_id}/grading-policy`: each weight names an assessment of the course, once. That
  depends on stored data. Its 400 is excused when it names only assessment ids (`weights.N.assessment_id`).
- `GET /courses/{course_id}/gradebook`: `after` is the id of a learner of the gradebook (where the last
  page ended). That depends on stored data too. Its 400 is excused when it names only `after`.

One more is no rule at all: `POST /courses/{course_id}/roster/import` takes a CSV (`text/csv`), and any
text is one. What schemathesis generates as a body "of another type" (`{}`, `0`) reaches the server as
that text, a one-row CSV whose row is reported invalid (200), so those cases are not sent
(`filter_case`).
"""

import json
import re
from typing import Any

import schemathesis

EXCUSED_ST202: dict[tuple[str, str], re.Pattern[str]] = {
    ("POST", "/assessments/{assessment_id}/submit"): re.compile(r"answers\.\d+(\.question_id)?"),
    ("POST", "/notifications/unsubscribe"): re.compile(r"token"),
    ("POST", "/media/upload"): re.compile(r"file|filename|content_type|size"),
    ("PUT", "/courses/{course_id}/deadlines/{target_id}"): re.compile(r"target_id|due_at"),
    ("DELETE", "/courses/{course_id}/deadlines/{target_id}"): re.compile(r"target_id"),
    ("PUT", "/courses/{course_id}/deadlines/{target_id}/extensions/{user_id}"): re.compile(
        r"target_id|due_at|user_id"
    ),
    ("PUT", "/courses/{course_id}/grading-policy"): re.compile(r"weights\.\d+\.assessment_id"),
    ("GET", "/courses/{course_id}/gradebook"): re.compile(r"after"),
}


def repeats_an_order(body: Any) -> bool:
    """Whether a `POST /courses` body has a module with two lessons of the same (non-null) `order`."""
    modules = body.get("modules") if isinstance(body, dict) else None
    for module in modules if isinstance(modules, list) else []:
        lessons = module.get("lessons") if isinstance(module, dict) else None
        orders = [
            lesson["order"]
            for lesson in (lessons if isinstance(lessons, list) else [])
            if isinstance(lesson, dict) and lesson.get("order") is not None
        ]
        if len(orders) != len({_order_key(order) for order in orders}):
            return True
    return False


def _order_key(order: Any) -> Any:
    """Orders as the server compares them: 65 and 65.0 are the same order (a JSON integer)."""
    if isinstance(order, int | float) and not isinstance(order, bool):
        return float(order)
    return json.dumps(order, sort_keys=True)


def refused_fields(content: bytes) -> list[str]:
    """The fields a 400 envelope names (`error.details.fields`, or the one `error.details.field`), or []
    when it names none."""
    try:
        details = json.loads(content)["error"]["details"]
        # One field is named alone (`details.field`), as a query parameter the graph refused.
        fields = details["fields"] if "fields" in details else {details["field"]: ""}
    except (ValueError, KeyError, TypeError):
        return []
    return list(fields) if isinstance(fields, dict) else []


def excused(failure: Any, operation: tuple[str, str], status: int, content: bytes) -> bool:
    pattern = EXCUSED_ST202.get(operation)
    if pattern is None or failure.code != "ST202" or status != 400:
        return False
    fields = refused_fields(content)
    return bool(fields) and all(pattern.fullmatch(field) for field in fields)


IMPORT = ("POST", "/courses/{course_id}/roster/import")


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Send no course body that repeats a lesson order within a module, and no roster import whose body
    is not text (every phase)."""
    operation = (case.operation.method.upper(), case.operation.path)
    if operation == IMPORT:
        return isinstance(case.body, str | bytes)
    if operation != ("POST", "/courses"):
        return True
    return not repeats_an_order(case.body)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but the excused ones."""
    operation = (case.operation.method.upper(), case.operation.path)
    return not excused(failure, operation, response.status_code, response.content)
