"""Every assessments-store query, built only from typed values."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId, SortDirection
from bson import ObjectId

from coursegraph.mongo import document_lock
from subgraphs.assessments.models import Assessment, Attempt, AttemptStatus


class AssessmentRepository:
    async def get_many(self, ids: Sequence[str]) -> dict[str, Assessment]:
        found = await Assessment.find({"_id": {"$in": [ObjectId(i) for i in set(ids)]}}).to_list()
        return {str(a.id): a for a in found}

    async def for_courses(self, course_ids: Sequence[str]) -> dict[str, list[Assessment]]:
        found = (
            await Assessment.find({"course_id": {"$in": list(set(course_ids))}})
            .sort([("created_at", SortDirection.ASCENDING)])
            .to_list()
        )
        grouped: dict[str, list[Assessment]] = {}
        for assessment in found:
            grouped.setdefault(assessment.course_id, []).append(assessment)
        return grouped

    async def course_ids_of_instructor(self, instructor_id: str) -> list[str]:
        rows = await Assessment.get_pymongo_collection().aggregate(
            [{"$match": {"instructor_id": instructor_id}}, {"$group": {"_id": "$course_id"}}]
        )
        return [row["_id"] async for row in rows]

    async def insert(self, assessment: Assessment) -> Assessment:
        await assessment.insert()
        return assessment

    async def update(self, assessment_id: PydanticObjectId, version: int, update: dict[str, Any]) -> bool:
        update = {**update, "$inc": {"version": 1}}
        collection = Assessment.get_pymongo_collection()
        async with document_lock(collection, assessment_id):
            result = await collection.update_one({"_id": assessment_id, "version": version}, update)
        return result.modified_count == 1


class AttemptRepository:
    async def get(self, attempt_id: str) -> Attempt | None:
        return await Attempt.find_one({"_id": ObjectId(attempt_id)})

    async def get_many(self, ids: Sequence[str]) -> dict[str, Attempt]:
        found = await Attempt.find({"_id": {"$in": [ObjectId(i) for i in set(ids)]}}).to_list()
        return {str(a.id): a for a in found}

    async def of_learner(self, assessment_id: str, user_id: str) -> list[Attempt]:
        return (
            await Attempt.find({"assessment_id": assessment_id, "user_id": user_id})
            .sort([("number", SortDirection.ASCENDING)])
            .to_list()
        )

    async def of_user(
        self, user_id: str, *, course_ids: Sequence[str] | None, limit: int, skip: int
    ) -> list[Attempt]:
        query: dict[str, Any] = {"user_id": user_id}
        if course_ids is not None:
            query["course_id"] = {"$in": list(course_ids)}
        return (
            await Attempt.find(query)
            .sort([("started_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)])
            .skip(skip)
            .limit(limit)
            .to_list()
        )

    async def expired(self, deadline_before: datetime, *, limit: int) -> list[Attempt]:
        """Open attempts whose deadline is before the cutoff, oldest deadline first."""
        return (
            await Attempt.find(
                {"status": AttemptStatus.IN_PROGRESS.value, "deadline": {"$lt": deadline_before}}
            )
            .sort([("deadline", SortDirection.ASCENDING)])
            .limit(limit)
            .to_list()
        )

    async def insert(self, attempt: Attempt) -> Attempt:
        await attempt.insert()
        return attempt

    async def update_open(self, attempt: Attempt, update: dict[str, Any]) -> bool:
        """Change an attempt only while it is open and unchanged since read: one submit wins a race."""
        update = {**update, "$inc": {"version": 1}}
        collection = Attempt.get_pymongo_collection()
        async with document_lock(collection, attempt.id):
            result = await collection.update_one(
                {"_id": attempt.id, "version": attempt.version, "status": AttemptStatus.IN_PROGRESS.value},
                update,
            )
        return result.modified_count == 1
