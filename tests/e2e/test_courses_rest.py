"""The course endpoints of the REST layer, through rest-compat and the router, on real MongoDB."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from tests.e2e.conftest import PUBLISH_COURSE, E2EStack

pytestmark = pytest.mark.e2e

# A catalog page lists course summaries; one course also has its outline (ADR 0015).
SUMMARY_KEYS = {
    "id",
    "title",
    "description",
    "status",
    "instructor_id",
    "instructor",
    "lesson_count",
    "enrollment_count",
    "created_at",
    "updated_at",
    "published_at",
}
COURSE_KEYS = {*SUMMARY_KEYS, "modules"}
ENROLLMENT_KEYS = {
    "id",
    "user_id",
    "course_id",
    "enrolled_at",
    "progress",
    "completed_lesson_ids",
    "status",
    "completed_at",
}

Document = dict[str, Any]


# --- helpers shared by the courses e2e tests ------------------------------------------------------


@pytest.fixture(scope="module")
def courses_db(mongodb_url: str, stack: E2EStack) -> Iterator[Database[Document]]:
    """The courses subgraph's database, read directly to prove what a request did (or did not) write."""
    client: MongoClient[Document] = MongoClient(mongodb_url, serverSelectionTimeoutMS=5000)
    yield client[stack.courses_database]
    client.close()


def envelope_error(response: httpx.Response) -> tuple[int, str]:
    """(status, error code) of a refusal, after checking it is the requirements' error envelope."""
    body = response.json()
    assert body["success"] is False, body
    assert body["data"] is None
    assert set(body) == {"success", "data", "error", "timestamp"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    return response.status_code, body["error"]["code"]


def ok_data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True and body["error"] is None and body["timestamp"], body
    return body["data"]


def course_snapshot(db: Database[Document], course_id: str) -> Document | None:
    """The stored course without its outbox (the relay drains that concurrently)."""
    document = db.courses.find_one({"_id": ObjectId(course_id)})
    if document is not None:
        document.pop("outbox", None)
        document.pop("outbox_lease", None)
        document.pop("outbox_pending", None)
    return document


def enrollment_snapshots(db: Database[Document], course_id: str) -> list[Document]:
    documents = list(db.enrollments.find({"course_id": course_id}).sort("_id", 1))
    for document in documents:
        document.pop("outbox", None)
        document.pop("outbox_lease", None)
        document.pop("outbox_pending", None)
    return documents


def count_courses(db: Database[Document], instructor_id: str) -> int:
    return db.courses.count_documents({"instructor_id": instructor_id})


def outline(lessons: int = 2, *, media_url: str | None = None) -> list[dict[str, Any]]:
    """A REST outline: one module of `lessons` lessons."""
    return [
        {
            "title": "Module 1",
            "lessons": [
                {"title": f"Lesson {i + 1}", "content": f"Content {i + 1}", "media_url": media_url}
                for i in range(lessons)
            ],
        }
    ]


def rest_create(stack: E2EStack, token: str | None, title: str, **body: Any) -> httpx.Response:
    response: httpx.Response = stack.rest("POST", "/courses", token=token, json={"title": title, **body})
    return response


def publish(stack: E2EStack, token: str, course_id: str) -> None:
    published = stack.graphql(PUBLISH_COURSE, {"id": course_id}, token=token).json()
    assert published.get("errors") is None, published
    assert published["data"]["publishCourse"]["course"]["status"] == "PUBLISHED", published


def archive(stack: E2EStack, token: str, course_id: str) -> None:
    archived = stack.graphql(
        "mutation($id: ID!) { archiveCourse(id: $id) { course { status } errors { message } } }",
        {"id": course_id},
        token=token,
    ).json()
    assert archived["data"]["archiveCourse"]["course"]["status"] == "ARCHIVED", archived


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instructor(stack: E2EStack) -> dict[str, Any]:
    return stack.sign_in_as("instructor", name="Rita Rest")


@pytest.fixture(scope="module")
def admin(stack: E2EStack) -> dict[str, Any]:
    return stack.sign_in_admin()


# --- POST /courses and GET /courses/:id -----------------------------------------------------------


def test_create_then_read_a_course(
    stack: E2EStack, instructor: dict[str, Any], courses_db: Database[Document]
) -> None:
    title = f"REST course {uuid.uuid4().hex}"
    modules = [
        {
            "title": "Basics",
            "lessons": [
                {"title": "Hello", "content": "Welcome!", "media_url": "https://cdn.example.org/v/1.mp4"},
                {"title": "Next"},
            ],
        },
        {"title": "Advanced", "lessons": [{"title": "Deep", "content": "Deep dive"}]},
    ]
    created = stack.rest(
        "POST",
        "/courses",
        token=instructor["access_token"],
        json={"title": title, "description": "All about REST", "modules": modules},
    )
    course = ok_data(created, 201)
    assert set(course) == COURSE_KEYS
    assert course["title"] == title and course["description"] == "All about REST"
    assert course["status"] == "draft" and course["published_at"] is None
    assert course["instructor_id"] == instructor["user"]["id"]
    assert course["instructor"] == {"id": instructor["user"]["id"], "name": "Rita Rest"}
    assert course["lesson_count"] == 3 and course["enrollment_count"] == 0
    assert [(m["title"], m["order"]) for m in course["modules"]] == [("Basics", 1), ("Advanced", 2)]
    first = course["modules"][0]["lessons"]
    assert [(lesson["title"], lesson["order"]) for lesson in first] == [("Hello", 1), ("Next", 2)]
    assert set(first[0]) == {"id", "title", "order", "content", "media_url"}
    assert first[0]["content"] == "Welcome!" and first[0]["media_url"] == "https://cdn.example.org/v/1.mp4"
    assert first[1]["content"] == "" and first[1]["media_url"] is None
    assert course["created_at"] == course["updated_at"]

    stored = course_snapshot(courses_db, course["id"])
    assert stored is not None and stored["title"] == title and stored["status"] == "draft"

    read = ok_data(stack.rest("GET", f"/courses/{course['id']}", token=instructor["access_token"]))
    stamps = ("created_at", "updated_at")
    assert {k: v for k, v in read.items() if k not in stamps} == {
        k: v for k, v in course.items() if k not in stamps
    }
    assert all(read[k] == course[k] for k in stamps)
    # Ids are case-insensitive hex; the answer names the canonical id.
    upper = stack.rest("GET", f"/courses/{course['id'].upper()}", token=instructor["access_token"])
    assert ok_data(upper)["id"] == course["id"]


def test_timestamps_read_back_as_created(stack: E2EStack, instructor: dict[str, Any]) -> None:
    token = instructor["access_token"]
    # Three courses: one could be created on a whole millisecond by chance, three will not.
    for _ in range(3):
        created = ok_data(rest_create(stack, token, f"Stamps {uuid.uuid4().hex}"), 201)
        read = ok_data(stack.rest("GET", f"/courses/{created['id']}", token=token))
        assert (read["created_at"], read["updated_at"]) == (created["created_at"], created["updated_at"])


def test_a_course_published_right_after_creation_stays_published(
    stack: E2EStack, instructor: dict[str, Any], courses_db: Database[Document]
) -> None:
    """The outbox relay writes to the course document (lease, pop) while the next request changes it:
    neither may undo the other. (On FerretDB v1 an update is a read, a change in memory and a write of the
    whole document by _id, with no guard: concurrent updates of one document lose all but the last.)"""
    token = instructor["access_token"]
    ids = []
    for _ in range(5):
        created = ok_data(rest_create(stack, token, f"Stays {uuid.uuid4().hex}", modules=outline(1)), 201)
        publish(stack, token, created["id"])
        ids.append(created["id"])
    query = {"_id": {"$in": [ObjectId(i) for i in ids]}}
    deadline = time.monotonic() + 10
    while courses_db.courses.count_documents({**query, "outbox.0": {"$exists": True}}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)  # polling: the relay drains the outbox in the background
    stored = {str(doc["_id"]): (doc["status"], doc["version"]) for doc in courses_db.courses.find(query)}
    assert stored == dict.fromkeys(ids, ("published", 1)), "a state change was lost"
    learner = stack.sign_in()["access_token"]
    for course_id in ids:
        assert ok_data(stack.rest("GET", f"/courses/{course_id}", token=learner))["status"] == "published"


def test_learners_see_the_outline_until_they_enroll(stack: E2EStack, instructor: dict[str, Any]) -> None:
    course = stack.create_course(instructor["access_token"], lessons=2)
    learner = stack.sign_in()
    outline_only = ok_data(stack.rest("GET", f"/courses/{course['id']}", token=learner["access_token"]))
    assert outline_only["status"] == "published" and outline_only["published_at"]
    lessons = [lesson for m in outline_only["modules"] for lesson in m["lessons"]]
    assert [lesson["title"] for lesson in lessons] == ["Lesson 1", "Lesson 2"]
    assert all(lesson["content"] is None and lesson["media_url"] is None for lesson in lessons)
    anonymous = ok_data(stack.rest("GET", f"/courses/{course['id']}"))
    assert anonymous["modules"] == outline_only["modules"]

    ok_data(stack.rest("POST", f"/courses/{course['id']}/enroll", token=learner["access_token"]), 201)
    enrolled = ok_data(stack.rest("GET", f"/courses/{course['id']}", token=learner["access_token"]))
    contents = [lesson["content"] for m in enrolled["modules"] for lesson in m["lessons"]]
    assert contents == ["Content 1", "Content 2"] and enrolled["enrollment_count"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/courses/not-an-id",
        "/courses/" + "z" * 24,
        "/courses/" + "a" * 23,
        "/courses/" + "a" * 25,
        "/courses/" + "a" * 24 + "%00",
    ],
)
def test_malformed_course_ids_are_400(stack: E2EStack, instructor: dict[str, Any], path: str) -> None:
    response = stack.rest("GET", path)
    assert envelope_error(response) == (400, "BAD_USER_INPUT")
    assert "course_id" in response.json()["error"]["details"]["fields"]
    enroll = stack.rest("POST", f"{path}/enroll", token=instructor["access_token"])
    assert envelope_error(enroll) == (400, "BAD_USER_INPUT")


def test_a_missing_course_is_404(stack: E2EStack, instructor: dict[str, Any]) -> None:
    missing = str(ObjectId())
    assert envelope_error(stack.rest("GET", f"/courses/{missing}")) == (404, "NOT_FOUND")
    assert envelope_error(stack.rest("GET", f"/courses/{missing}", token=instructor["access_token"])) == (
        404,
        "NOT_FOUND",
    )


# --- validation: 400 with the fields named, and nothing created -----------------------------------


def _modules(count: int) -> list[dict[str, Any]]:
    return [{"title": f"M{i}"} for i in range(count)]


INVALID_BODIES: list[tuple[str, Any, str | None]] = [
    # (case, JSON body, the field named in details.fields (None: no field, e.g. unreadable JSON))
    ("missing title", {"description": "no title"}, "title"),
    ("title not a string", {"title": 123}, "title"),
    ("title a list", {"title": ["a", "b"]}, "title"),
    ("title null", {"title": None}, "title"),
    ("empty title", {"title": ""}, "title"),
    ("blank title", {"title": "   "}, "title"),
    ("title with control characters", {"title": "bad\u0000title"}, "title"),
    ("oversized title", {"title": "x" * 201}, "title"),
    ("oversized description", {"title": "ok", "description": "d" * 5_001}, "description"),
    ("description not a string", {"title": "ok", "description": 5}, "description"),
    ("modules not a list", {"title": "ok", "modules": "everything"}, "modules"),
    ("too many modules", {"title": "ok", "modules": _modules(51)}, "modules"),
    (
        "too many lessons",
        {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l"}] * 101}]},
        "modules.0.lessons",
    ),
    ("module without title", {"title": "ok", "modules": [{"lessons": []}]}, "modules.0.title"),
    ("oversized module title", {"title": "ok", "modules": [{"title": "m" * 201}]}, "modules.0.title"),
    (
        "oversized lesson content",
        {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l", "content": "c" * 100_001}]}]},
        "modules.0.lessons.0.content",
    ),
    (
        "media_url not http(s)",
        {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l", "media_url": "ftp://x/y"}]}]},
        "modules.0.lessons.0.media_url",
    ),
    (
        "javascript media_url",
        {
            "title": "ok",
            "modules": [{"title": "m", "lessons": [{"title": "l", "media_url": "javascript:alert(1)"}]}],
        },
        "modules.0.lessons.0.media_url",
    ),
    (
        "oversized media_url",
        {
            "title": "ok",
            "modules": [
                {"title": "m", "lessons": [{"title": "l", "media_url": "https://x.org/" + "a" * 2_048}]}
            ],
        },
        "modules.0.lessons.0.media_url",
    ),
    ("unknown top-level field", {"title": "ok", "price": 10}, "price"),
    ("camelCase field", {"title": "ok", "instructorId": "someone-else"}, "instructorId"),
    ("setting the instructor", {"title": "ok", "instructor_id": str(uuid.uuid4())}, "instructor_id"),
    ("setting the status", {"title": "ok", "status": "published"}, "status"),
    ("unknown module field", {"title": "ok", "modules": [{"title": "m", "order": 3}]}, "modules.0.order"),
    (
        "unknown lesson field",
        {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l", "mediaUrl": "https://x"}]}]},
        "modules.0.lessons.0.mediaUrl",
    ),
    (
        "a lesson id that is not this course's",
        {"title": "ok", "modules": [{"title": "m", "lessons": [{"id": "a" * 32, "title": "l"}]}]},
        "modules.0.lessons.0.id",
    ),
    ("body is a list", [{"title": "ok"}], "body"),
    ("body is a string", "ok", "body"),
]


@pytest.mark.parametrize(
    ("body", "field"), [(b, f) for _, b, f in INVALID_BODIES], ids=[c for c, _, _ in INVALID_BODIES]
)
def test_invalid_course_bodies_are_400_and_create_nothing(
    stack: E2EStack,
    instructor: dict[str, Any],
    courses_db: Database[Document],
    body: Any,
    field: str | None,
) -> None:
    before = count_courses(courses_db, instructor["user"]["id"])
    response = stack.rest("POST", "/courses", token=instructor["access_token"], json=body)
    assert envelope_error(response) == (400, "BAD_USER_INPUT"), response.text
    fields = response.json()["error"]["details"]["fields"]
    assert field in fields, fields
    assert count_courses(courses_db, instructor["user"]["id"]) == before


@pytest.mark.parametrize(
    "raw",
    [b'{"title": ', b"title=x", b'{"title": "x",}', b"", b"\xff\xfe"],
    ids=["truncated", "form-encoded", "trailing comma", "empty", "not utf-8"],
)
def test_malformed_json_is_400_and_creates_nothing(
    stack: E2EStack, instructor: dict[str, Any], courses_db: Database[Document], raw: bytes
) -> None:
    before = count_courses(courses_db, instructor["user"]["id"])
    response = stack.rest(
        "POST",
        "/courses",
        token=instructor["access_token"],
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert envelope_error(response) == (400, "BAD_USER_INPUT")
    assert count_courses(courses_db, instructor["user"]["id"]) == before


def test_a_valid_body_after_the_refusals_still_creates_exactly_one(
    stack: E2EStack, instructor: dict[str, Any], courses_db: Database[Document]
) -> None:
    title = f"After refusals {uuid.uuid4().hex}"
    ok_data(rest_create(stack, instructor["access_token"], title, modules=outline(1)), 201)
    assert courses_db.courses.count_documents({"title": title}) == 1


# --- GET /courses: pagination, filters, query validation ------------------------------------------


def _page(stack: E2EStack, token: str | None, **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = ok_data(stack.rest("GET", "/courses", token=token, params=params))
    assert set(data) == {"items", "page_info", "total_count"}
    assert set(data["page_info"]) == {"has_next_page", "end_cursor"}
    return data


def test_pages_are_complete_and_cursors_stable(stack: E2EStack, instructor: dict[str, Any]) -> None:
    token, search = instructor["access_token"], f"paging-{uuid.uuid4().hex}"
    created = [
        ok_data(rest_create(stack, token, f"{search} #{i}", modules=outline(1)), 201)["id"] for i in range(5)
    ]
    newest_first = list(reversed(created))

    seen: list[str] = []
    page = _page(stack, token, search=search, first=2)
    pages = [page]
    # A course added while a client pages through does not shift the pages after its cursor.
    newcomer = ok_data(rest_create(stack, token, f"{search} newcomer", modules=outline(1)), 201)["id"]
    while page["page_info"]["has_next_page"]:
        page = _page(stack, token, search=search, first=2, after=page["page_info"]["end_cursor"])
        pages.append(page)
    for page in pages:
        assert 1 <= len(page["items"]) <= 2
        assert page["page_info"]["end_cursor"]
        seen += [item["id"] for item in page["items"]]
    assert seen == newest_first, "every course once, newest first, no gaps or duplicates"
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert pages[0]["total_count"] == 5 and pages[-1]["total_count"] == 6
    assert [p["page_info"]["has_next_page"] for p in pages] == [True, True, False]

    fresh = _page(stack, token, search=search, first=2)
    assert [item["id"] for item in fresh["items"]] == [newcomer, newest_first[0]]

    everything = _page(stack, token, search=search, first=100)
    assert [item["id"] for item in everything["items"]] == [newcomer, *newest_first]
    assert everything["page_info"]["has_next_page"] is False

    default = _page(stack, token, search=search)
    assert len(default["items"]) == 6, "the default page size (20) holds them all"

    # Paging past the end is an empty page, not an error.
    last = _page(stack, token, search=search, first=100, after=everything["page_info"]["end_cursor"])
    assert last["items"] == [] and last["page_info"] == {"has_next_page": False, "end_cursor": None}


def test_filters_narrow_the_catalog_by_visibility(
    stack: E2EStack, instructor: dict[str, Any], admin: dict[str, Any]
) -> None:
    other = stack.sign_in_as("instructor")
    token, search = instructor["access_token"], f"filters-{uuid.uuid4().hex}"
    mine_published = [
        ok_data(rest_create(stack, token, f"{search} published {i}", modules=outline(1)), 201)["id"]
        for i in range(2)
    ]
    for course_id in mine_published:
        publish(stack, token, course_id)
    mine_draft = ok_data(rest_create(stack, token, f"{search} draft", modules=outline(1)), 201)["id"]
    mine_archived = ok_data(rest_create(stack, token, f"{search} archived", modules=outline(1)), 201)["id"]
    publish(stack, token, mine_archived)
    archive(stack, token, mine_archived)
    theirs = ok_data(rest_create(stack, other["access_token"], f"{search} theirs", modules=outline(1)), 201)[
        "id"
    ]
    publish(stack, other["access_token"], theirs)
    learner = stack.sign_in()["access_token"]

    def ids(caller: str | None, **params: Any) -> set[str]:
        page = _page(stack, caller, **{"search": search, "first": 100, **params})
        assert page["total_count"] == len(page["items"])
        return {item["id"] for item in page["items"]}

    published = {*mine_published, theirs}
    # Learners and anonymous callers list published courses only; whatever status they ask for.
    assert ids(learner) == published == ids(None)
    assert ids(learner, status="draft") == set() == ids(None, status="archived")
    assert ids(learner, status="published") == published
    assert ids(learner, instructor_id=instructor["user"]["id"]) == set(mine_published)
    assert ids(learner, search=search.upper()) == published, "search is case-insensitive"
    # Instructors also see their own drafts and archived courses; admins see everything.
    assert ids(token) == {*published, mine_draft, mine_archived}
    assert ids(other["access_token"]) == published
    assert ids(token, status="draft") == {mine_draft}
    assert ids(admin["access_token"], status="archived") == {mine_archived}
    assert ids(admin["access_token"], status="draft", instructor_id=instructor["user"]["id"]) == {mine_draft}
    assert ids(admin["access_token"], instructor_id=other["user"]["id"]) == {theirs}
    assert ids(admin["access_token"], instructor_id=str(uuid.uuid4())) == set()

    listed = _page(stack, learner, search=search, instructor_id=other["user"]["id"])["items"][0]
    assert set(listed) == SUMMARY_KEYS and listed["status"] == "published", "no outline, no lesson bodies"
    assert listed["instructor"]["id"] == listed["instructor_id"] == other["user"]["id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"first": "ten"}, "first"),
        ({"first": "1.5"}, "first"),
        ({"status": "deleted"}, "status"),
        ({"status": "PUBLISHED"}, "status"),
        ({"instructor_id": "not-a-uuid"}, "instructor_id"),
        ({"search": "s" * 101}, "search"),
        ({"after": "x" * 513}, "after"),
        ({"after": "not-a-cursor"}, None),
        ({"page": 2}, "page"),
        ({"sort": "title"}, "sort"),
    ],
    ids=lambda value: json.dumps(value)[:40] if isinstance(value, dict) else str(value),
)
def test_invalid_query_parameters_are_400(
    stack: E2EStack, instructor: dict[str, Any], params: dict[str, Any], field: str | None
) -> None:
    response = stack.rest("GET", "/courses", token=instructor["access_token"], params=params)
    assert envelope_error(response) == (400, "BAD_USER_INPUT"), response.text
    if field is not None:
        assert field in response.json()["error"]["details"]["fields"]


# --- POST /courses/:id/enroll ---------------------------------------------------------------------


def test_enroll_once_then_conflict(
    stack: E2EStack, instructor: dict[str, Any], courses_db: Database[Document]
) -> None:
    course = stack.create_course(instructor["access_token"], lessons=2)
    learner = stack.sign_in()
    token, user_id = learner["access_token"], learner["user"]["id"]

    enrollment = ok_data(stack.rest("POST", f"/courses/{course['id']}/enroll", token=token), 201)
    assert set(enrollment) == ENROLLMENT_KEYS
    assert enrollment["user_id"] == user_id and enrollment["course_id"] == course["id"]
    assert enrollment["progress"] == 0 and enrollment["completed_lesson_ids"] == []
    assert enrollment["status"] == "active" and enrollment["completed_at"] is None
    assert enrollment["enrolled_at"]
    ObjectId(enrollment["id"])

    for _ in range(2):
        again = stack.rest("POST", f"/courses/{course['id']}/enroll", token=token)
        assert envelope_error(again) == (409, "CONFLICT")
        assert again.json()["error"]["details"]["reason"] == "ALREADY_ENROLLED"
    stored = list(courses_db.enrollments.find({"user_id": user_id, "course_id": course["id"]}))
    assert len(stored) == 1 and str(stored[0]["_id"]) == enrollment["id"]
    read = ok_data(stack.rest("GET", f"/courses/{course['id']}", token=token))
    assert read["enrollment_count"] == 1


def test_enrolling_where_one_cannot(
    stack: E2EStack, instructor: dict[str, Any], admin: dict[str, Any], courses_db: Database[Document]
) -> None:
    owner = instructor["access_token"]
    draft = stack.create_course(owner, publish=False)
    archived = stack.create_course(owner)
    archive(stack, owner, archived["id"])
    published = stack.create_course(owner)
    missing = str(ObjectId())
    learner = stack.sign_in()["access_token"]

    def refused(token: str | None, course_id: str) -> tuple[int, str, dict[str, Any]]:
        before = enrollment_snapshots(courses_db, course_id)
        response = stack.rest("POST", f"/courses/{course_id}/enroll", token=token)
        status, code = envelope_error(response)
        assert enrollment_snapshots(courses_db, course_id) == before, "a refused enrollment writes nothing"
        return status, code, response.json()["error"]["details"]

    # Drafts are private: to a learner they do not exist.
    assert refused(learner, draft["id"])[:2] == (404, "NOT_FOUND")
    # Those who can see a draft learn why they cannot enroll.
    assert refused(admin["access_token"], draft["id"]) == (
        409,
        "CONFLICT",
        {"reason": "COURSE_NOT_PUBLISHED"},
    )
    assert refused(owner, draft["id"]) == (409, "CONFLICT", {"reason": "COURSE_NOT_PUBLISHED"})
    # Archived courses are closed, not secret.
    for token in (learner, admin["access_token"], owner):
        assert refused(token, archived["id"]) == (409, "CONFLICT", {"reason": "COURSE_NOT_PUBLISHED"})
    assert refused(learner, missing)[:2] == (404, "NOT_FOUND")
    assert refused(owner, published["id"]) == (409, "CONFLICT", {"reason": "OWN_COURSE"})
    assert refused(None, published["id"])[:2] == (401, "UNAUTHENTICATED")
    assert refused("not-a-jwt", published["id"])[:2] == (401, "UNAUTHENTICATED")
