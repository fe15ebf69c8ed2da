"""Every courses-store query. Filters are built only from typed values (never a client's dict)."""

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from beanie import PydanticObjectId, SortDirection
from bson import ObjectId

from coursegraph.errors import BadUserInput
from coursegraph.mongo import document_lock
from subgraphs.courses.models import Course, CourseStatus, Enrollment

T = TypeVar("T")
DESC = SortDirection.DESCENDING


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (cursor, item)
    has_next: bool
    query: dict[str, Any]  # for totalCount, counted only when asked for


def encode_cursor(created_at: datetime, object_id: ObjectId) -> str:
    raw = json.dumps([created_at.isoformat(), str(object_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        created, object_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), ObjectId(object_id)
    except (ValueError, TypeError) as exc:
        raise BadUserInput("`after` is not a cursor this API returned.", details={"field": "after"}) from exc


def after_filter(field: str, cursor: str | None) -> dict[str, Any]:
    """Keyset pagination on (field desc, _id desc): stable while documents are added or removed."""
    if cursor is None:
        return {}
    value, object_id = decode_cursor(cursor)
    return {"$or": [{field: {"$lt": value}}, {field: value, "_id": {"$lt": object_id}}]}


class CourseRepository:
    collection = Course

    async def get_many(self, ids: Sequence[str]) -> dict[str, Course]:
        object_ids = [ObjectId(i) for i in set(ids)]
        courses = await Course.find({"_id": {"$in": object_ids}}).to_list()
        return {str(course.id): course for course in courses}

    async def page(
        self,
        *,
        visible: dict[str, Any],
        instructor_id: str | None,
        status: CourseStatus | None,
        search: str | None,
        first: int,
        after: str | None,
    ) -> Page[Course]:
        conditions: list[dict[str, Any]] = [visible]
        if instructor_id is not None:
            conditions.append({"instructor_id": instructor_id})
        if status is not None:
            conditions.append({"status": status.value})
        if search:
            # Escaped: the search text is matched literally, never as a pattern.
            conditions.append({"title": {"$regex": re.escape(search), "$options": "i"}})
        query: dict[str, Any] = {"$and": conditions} if len(conditions) > 1 else conditions[0]
        paged = {"$and": [query, after_filter("created_at", after)]} if after else query
        courses = (
            await Course.find(paged).sort([("created_at", DESC), ("_id", DESC)]).limit(first + 1).to_list()
        )
        items = [(encode_cursor(c.created_at, ObjectId(c.id)), c) for c in courses[:first]]
        return Page(items=items, has_next=len(courses) > first, query=query)

    async def count(self, query: dict[str, Any]) -> int:
        return await Course.find(query).count()

    async def insert(self, course: Course) -> Course:
        await course.insert()
        return course

    async def update(self, course_id: PydanticObjectId, version: int, update: dict[str, Any]) -> bool:
        """Apply `update` only if nobody changed the course since it was read (its version)."""
        update = {**update, "$inc": {"version": 1}}
        collection = Course.get_pymongo_collection()
        async with document_lock(collection, course_id):
            result = await collection.update_one({"_id": course_id, "version": version}, update)
        return result.modified_count == 1


class EnrollmentRepository:
    async def get_many(self, ids: Sequence[str]) -> dict[str, Enrollment]:
        enrollments = await Enrollment.find({"_id": {"$in": [ObjectId(i) for i in set(ids)]}}).to_list()
        return {str(e.id): e for e in enrollments}

    async def for_user(self, user_id: str, course_ids: Sequence[str]) -> dict[str, Enrollment]:
        found = await Enrollment.find(
            {"user_id": user_id, "course_id": {"$in": list(set(course_ids))}}
        ).to_list()
        return {e.course_id: e for e in found}

    async def by_certificate(self, code: str) -> Enrollment | None:
        return await Enrollment.find_one({"certificate_code": code})

    async def get(self, user_id: str, course_id: str) -> Enrollment | None:
        return await Enrollment.find_one({"user_id": user_id, "course_id": course_id})

    async def counts(self, course_ids: Sequence[str]) -> dict[str, int]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"course_id": {"$in": list(set(course_ids))}}},
            {"$group": {"_id": "$course_id", "count": {"$sum": 1}}},
        ]
        rows = await Enrollment.get_pymongo_collection().aggregate(pipeline)
        return {row["_id"]: row["count"] async for row in rows}

    async def page_for_user(self, user_id: str, *, first: int, after: str | None) -> Page[Enrollment]:
        query = {"user_id": user_id}
        paged = {"$and": [query, after_filter("enrolled_at", after)]} if after else query
        found = (
            await Enrollment.find(paged)
            .sort([("enrolled_at", DESC), ("_id", DESC)])
            .limit(first + 1)
            .to_list()
        )
        items = [(encode_cursor(e.enrolled_at, ObjectId(e.id)), e) for e in found[:first]]
        return Page(items=items, has_next=len(found) > first, query=query)

    async def count(self, query: dict[str, Any]) -> int:
        return await Enrollment.find(query).count()

    async def insert(self, enrollment: Enrollment) -> Enrollment:
        await enrollment.insert()
        return enrollment

    async def update(self, enrollment_id: PydanticObjectId, version: int, update: dict[str, Any]) -> bool:
        update = {**update, "$inc": {"version": 1}}
        collection = Enrollment.get_pymongo_collection()
        async with document_lock(collection, enrollment_id):
            result = await collection.update_one({"_id": enrollment_id, "version": version}, update)
        return result.modified_count == 1
