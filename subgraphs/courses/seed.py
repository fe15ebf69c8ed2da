"""The courses service's part of `coursegraph seed`: a demo catalog with enrollments, written in bulk.

Courses, enrollments and learners' lists are Beanie documents (so they validate like any other), written
with `insert_many` and marked `seeded: true`: enrollments under their derived ids, counted in their
courses' `enrollment_count`, and listed in their learners' documents, as enrolling does. No document
carries outbox entries: seeding announces nothing.
Titles, outlines and lesson text come from the small word lists below; the same seed gives the same
catalog. About four in five courses are published (with `published_at`), 12% drafts and 8% archived;
learners enroll in published courses (and in archived ones before they closed), popular courses more
often, and each enrollment's completed lessons, progress and completion agree with the course.
"""

import asyncio
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from coursegraph.mongo import delete_ids, delete_in_batches, init_models, mongo_client
from coursegraph.seeding import SEED_MARKER, Advance, Person, StoreUnavailable, redact
from coursegraph.settings import Profile
from subgraphs.courses.app import CoursesSettings
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.catalog_keeper import announce_catalog
from subgraphs.courses.decisions import progress_of
from subgraphs.courses.models import (
    Course,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    Learner,
    Lesson,
    Module,
    Roster,
    enrollment_id,
)
from subgraphs.courses.repository import CatalogStateRepository, summaries_in, summary_of

COURSE_BATCH = 100
ENROLLMENT_BATCH = 1_000
PING_SECONDS = 5.0
DAY = 86_400

# topic -> concepts a course on it teaches
TOPICS: dict[str, tuple[str, ...]] = {
    "Python": ("variables", "functions", "classes", "modules", "iterators", "decorators", "testing"),
    "Data Analysis": ("data frames", "cleaning data", "grouping", "joins", "time series", "charts"),
    "Machine Learning": ("regression", "classification", "features", "model evaluation", "clustering"),
    "Web Development": ("HTML", "CSS layout", "forms", "HTTP", "routing", "templates", "accessibility"),
    "JavaScript": ("promises", "the DOM", "events", "closures", "modules", "fetch", "async functions"),
    "Databases": ("tables", "indexes", "queries", "transactions", "normal forms", "migrations"),
    "Cloud Computing": ("virtual machines", "containers", "object storage", "networking", "autoscaling"),
    "Security": ("threat models", "passwords", "encryption", "access control", "incident response"),
    "Design": ("typography", "colour", "grids", "prototypes", "user research", "design systems"),
    "Photography": ("exposure", "composition", "light", "lenses", "portraits", "editing", "landscapes"),
    "Marketing": ("audiences", "positioning", "campaigns", "email", "analytics", "content plans"),
    "Personal Finance": ("budgets", "saving", "interest", "investing", "taxes", "retirement plans"),
    "Music Theory": ("scales", "intervals", "chords", "rhythm", "harmony", "ear training"),
    "Project Management": ("scope", "estimates", "risks", "stakeholders", "retrospectives", "roadmaps"),
}
COURSE_TITLES = (
    "Introduction to {topic}", "{topic} for Beginners", "Practical {topic}", "{topic} Fundamentals",
    "Advanced {topic}", "Mastering {topic}", "{topic} in Practice", "{topic}: From Zero to Confident",
    "{topic} Essentials", "Hands-on {topic}", "{topic} Bootcamp", "Modern {topic}",
)  # fmt: skip
MODULE_TITLES = (
    "Getting started with {concept}", "Foundations of {concept}", "Working with {concept}",
    "{concept} in practice", "A closer look at {concept}", "Projects with {concept}",
)  # fmt: skip
LESSON_TITLES = (
    "What is {concept}?", "Your first steps with {concept}", "Common mistakes with {concept}",
    "{concept} step by step", "Exercise: {concept}", "Reviewing {concept}", "Case study: {concept}",
    "Tips for {concept}",
)  # fmt: skip
AUDIENCES = ("beginners", "working professionals", "students", "career changers", "curious hobbyists")
OPENINGS = (
    "This course takes {audience} from the basics of {topic} to work they can show.",
    "A practical course on {topic} for {audience}, built around short lessons and exercises.",
    "Learn {topic} the way practitioners use it, with examples {audience} can follow.",
)
CLOSINGS = (
    "Every module ends with an exercise and a short review.",
    "No prior experience is needed beyond curiosity and a little time each week.",
    "By the end you will have a small project of your own.",
)
SENTENCES = (
    "In this lesson we look at {concept} and why it matters.",
    "We start from a small example and build it up one step at a time.",
    "Pay attention to how {concept} changes the result.",
    "Try the exercise before reading the solution.",
    "Most beginners find {concept} confusing at first; that is normal.",
    "A short checklist at the end sums up what to remember.",
    "We compare two ways of approaching {concept} and when to prefer each.",
    "Keep notes: the next lesson builds on this one.",
    "The example uses realistic data, so expect a few surprises.",
    "If something does not work, go back to the previous step and compare.",
)


def _object_id(rng: random.Random, at: datetime) -> ObjectId:
    """An ObjectId whose time part is `at` (as if created then) and whose rest comes from the seed."""
    return ObjectId(int(at.timestamp()).to_bytes(4, "big") + rng.getrandbits(64).to_bytes(8, "big"))


def _uid(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.uniform(0, max(0.0, (end - start).total_seconds())))


def _lesson_text(rng: random.Random, concept: str) -> str:
    paragraphs = [
        " ".join(rng.choice(SENTENCES).format(concept=concept) for _ in range(rng.randint(2, 4)))
        for _ in range(rng.randint(2, 3))
    ]
    return "\n\n".join(paragraphs)


def _outline(rng: random.Random, topic: str) -> list[Module]:
    concepts = rng.sample(TOPICS[topic], k=rng.randint(3, min(6, len(TOPICS[topic]))))
    modules = []
    for m_order, concept in enumerate(concepts, start=1):
        titles = rng.sample(LESSON_TITLES, k=rng.randint(2, 6))
        lessons = [
            Lesson(
                id=_uid(rng),
                title=title.format(concept=concept),
                content=_lesson_text(rng, concept),
                media_url=None if rng.random() < 0.7 else f"https://media.example.org/seed/{_uid(rng)}.mp4",
                order=l_order,
            )
            for l_order, title in enumerate(titles, start=1)
        ]
        title = rng.choice(MODULE_TITLES).format(concept=concept)
        modules.append(
            Module(id=_uid(rng), title=title[0].upper() + title[1:], order=m_order, lessons=lessons)
        )
    return modules


def _statuses(rng: random.Random, count: int) -> list[CourseStatus]:
    """About 12% drafts and 8% archived (at least one of each from three courses on), in random order."""
    least = 1 if count >= 3 else 0
    drafts, archived = max(least, round(count * 0.12)), max(least, round(count * 0.08))
    statuses = [CourseStatus.DRAFT] * drafts + [CourseStatus.ARCHIVED] * archived
    statuses += [CourseStatus.PUBLISHED] * (count - len(statuses))
    rng.shuffle(statuses)
    return statuses


def _course(rng: random.Random, instructor: Person, status: CourseStatus, now: datetime) -> Course:
    topic = rng.choice(list(TOPICS))
    if status is CourseStatus.DRAFT:
        created = _between(rng, max(instructor.joined_at, now - timedelta(days=60)), now - timedelta(hours=1))
        published = archived = None
    else:
        created = _between(rng, instructor.joined_at, now - timedelta(days=60))
        published = created + timedelta(seconds=rng.uniform(3_600, 30 * DAY))
        archived = (
            _between(rng, published + timedelta(days=7), now - timedelta(days=1))
            if status is CourseStatus.ARCHIVED
            else None
        )
    modules = _outline(rng, topic)
    audience = rng.choice(AUDIENCES)
    description = " ".join(
        (rng.choice(OPENINGS).format(topic=topic, audience=audience), rng.choice(CLOSINGS))
    )
    return Course(
        id=_object_id(rng, created),
        title=rng.choice(COURSE_TITLES).format(topic=topic),
        description=description,
        instructor_id=instructor.id,
        status=status,
        modules=modules,
        lesson_count=sum(len(m.lessons) for m in modules),
        created_at=created,
        updated_at=archived or published or created,
        published_at=published,
        archived_at=archived,
    )


def _enrollment(rng: random.Random, learner: Person, course: Course, now: datetime) -> Enrollment | None:
    assert course.published_at is not None
    opens = max(learner.joined_at, course.published_at)
    closes = course.archived_at or now
    if opens >= closes:
        return None  # the learner joined after the course closed
    enrolled = _between(rng, opens, closes)
    lessons = [lesson.id for module in course.modules for lesson in module.lessons]
    roll = rng.random()
    done = 0 if roll < 0.25 else len(lessons) if roll < 0.45 else rng.randint(1, max(1, len(lessons) - 1))
    completed = lessons[:done]  # in course order, as learners mostly go
    finished = done == len(lessons)
    return Enrollment(
        id=enrollment_id(learner.id, str(course.id)),
        user_id=learner.id,
        course_id=str(course.id),
        enrolled_at=enrolled,
        progress=progress_of(len(completed), len(lessons)),
        completed_lessons=completed,
        status=EnrollmentStatus.COMPLETED if finished else EnrollmentStatus.ACTIVE,
        completed_at=_between(rng, enrolled, now) if finished else None,
        counted=True,
    )


@dataclass(frozen=True)
class Catalog:
    courses: list[Course]
    enrollments: list[Enrollment]
    learners: list[Learner]
    rosters: list[Roster]

    def totals(self) -> dict[str, int]:
        return {
            "courses": len(self.courses),
            "enrollments": len(self.enrollments),
            "learners": len(self.learners),
            "rosters": len(self.rosters),
        }

    def summary(self) -> dict[str, int]:
        by_status = dict.fromkeys(CourseStatus, 0)
        for course in self.courses:
            by_status[course.status] += 1
        return {
            **{f"{status.value} courses": count for status, count in by_status.items()},
            "modules": sum(len(c.modules) for c in self.courses),
            "lessons": sum(c.lesson_count for c in self.courses),
            "enrollments": len(self.enrollments),
            "completed enrollments": sum(e.status is EnrollmentStatus.COMPLETED for e in self.enrollments),
        }


def _enrolled(enrollment: Enrollment) -> datetime:
    return enrollment.enrolled_at


def plan_catalog(
    *,
    seed: int,
    instructors: Sequence[Person],
    learners: Sequence[Person],
    courses: int,
    enrollments_per_learner: int,
    now: datetime,
) -> Catalog:
    """Needs the Beanie models initialised (documents are built and validated here)."""
    rng = random.Random(f"{seed}:courses")  # noqa: S311 (demo data, not secrets)
    catalog = (
        [_course(rng, rng.choice(instructors), status, now) for status in _statuses(rng, courses)]
        if instructors
        else []
    )
    open_courses = [c for c in catalog if c.published_at is not None]
    # Popularity: a few courses draw most learners (weights fall with a random rank).
    ranks = list(range(1, len(open_courses) + 1))
    rng.shuffle(ranks)
    cumulative = list(accumulate(1 / rank**0.9 for rank in ranks))
    enrollments: list[Enrollment] = []
    for learner in learners if open_courses else ():
        wanted = min(enrollments_per_learner, len(open_courses))
        chosen: dict[str, Course] = {}
        for _ in range(10):
            if len(chosen) >= wanted:
                break
            for course in rng.choices(open_courses, cum_weights=cumulative, k=wanted * 2):
                if len(chosen) < wanted:
                    chosen.setdefault(str(course.id), course)
        for course in chosen.values():
            if (enrollment := _enrollment(rng, learner, course, now)) is not None:
                enrollments.append(enrollment)
    counts: dict[str, int] = {}
    courses_of: dict[str, list[Enrollment]] = {}
    for enrollment in enrollments:
        counts[enrollment.course_id] = counts.get(enrollment.course_id, 0) + 1
        courses_of.setdefault(enrollment.user_id, []).append(enrollment)
    for course in catalog:
        course.enrollment_count = counts.get(str(course.id), 0)
    learner_lists = [
        Learner(id=user_id, courses=[e.course_id for e in sorted(mine, key=_enrolled)])
        for user_id, mine in courses_of.items()
    ]
    classes: dict[str, list[Enrollment]] = {}
    for enrollment in enrollments:
        classes.setdefault(enrollment.course_id, []).append(enrollment)
    rosters = [
        Roster(id=course_id, learners=[e.user_id for e in sorted(mine, key=_enrolled)], complete=True)
        for course_id, mine in classes.items()
    ]
    return Catalog(courses=catalog, enrollments=enrollments, learners=learner_lists, rosters=rosters)


def _documents(documents: Sequence[Course | Enrollment | Learner | Roster]) -> list[dict[str, Any]]:
    return [{**document.model_dump(by_alias=True), SEED_MARKER: True} for document in documents]


class CourseSeeder:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str, where: str) -> None:
        self.client = client
        self.database = client[database]
        self.where = where
        # The whole catalog once the seed has written it (what it found, plus what it added).
        self._catalog: list[CourseSummary] | None = None

    async def seeded_documents(self) -> int:
        return sum(
            [
                await self.database[model.Settings.name].count_documents({SEED_MARKER: True})
                for model in (Course, Enrollment, Learner, Roster)
            ]
        )

    plan = staticmethod(plan_catalog)

    async def _summaries_in_store(self) -> list[CourseSummary]:
        return await summaries_in(self.database[Course.Settings.name])

    async def insert(self, plan: Catalog, advance: Advance) -> None:
        # Read before inserting: only courses the seed does not own are there, usually none.
        found = await self._summaries_in_store()
        for step, items, batch, collection in (
            ("courses", plan.courses, COURSE_BATCH, Course.Settings.name),
            ("enrollments", plan.enrollments, ENROLLMENT_BATCH, Enrollment.Settings.name),
            ("learners", plan.learners, ENROLLMENT_BATCH, Learner.Settings.name),
            ("rosters", plan.rosters, COURSE_BATCH, Roster.Settings.name),
        ):
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                await self.database[collection].insert_many(_documents(chunk), ordered=False)
                advance(step, len(chunk))
        self._catalog = [*found, *(summary_of(course.model_dump(by_alias=True)) for course in plan.courses)]

    async def remove(self, user_ids: Sequence[str]) -> dict[str, int]:
        """Seeded documents, and what belongs to seeded users (so nothing points at a removed user).
        What is not marked is read once and matched here: a long `$in` costs FerretDB v1 a walk of the
        list for every document."""
        courses = self.database[Course.Settings.name]
        enrollments = self.database[Enrollment.Settings.name]
        learners = self.database[Learner.Settings.name]
        rosters = self.database[Roster.Settings.name]
        users = set(user_ids)
        unmarked = {SEED_MARKER: {"$ne": True}}
        taught = [
            document["_id"]
            async for document in courses.find(unmarked, {"_id": 1, "instructor_id": 1})
            if document.get("instructor_id") in users
        ]
        seeded_courses = [document["_id"] async for document in courses.find({SEED_MARKER: True}, {"_id": 1})]
        removed = {str(course_id) for course_id in [*seeded_courses, *taught]}
        removed_enrollments = await delete_in_batches(enrollments, {SEED_MARKER: True})
        removed_enrollments += await delete_ids(
            enrollments,
            [
                document["_id"]
                async for document in enrollments.find(unmarked, {"_id": 1, "user_id": 1, "course_id": 1})
                if document.get("user_id") in users or document.get("course_id") in removed
            ],
        )
        removed_courses = await delete_in_batches(courses, {SEED_MARKER: True})
        removed_courses += await delete_ids(courses, taught)
        # Rosters go with their courses; other rosters may keep a removed learner, whom readers skip
        # (their enrollment is gone).
        await delete_in_batches(rosters, {SEED_MARKER: True})
        await delete_ids(rosters, [str(course_id) for course_id in taught])
        # Learners' lists go with their learners; other lists may keep a removed course, which readers
        # skip (its enrollment is gone).
        await delete_in_batches(learners, {SEED_MARKER: True})
        await delete_ids(
            learners,
            [
                document["_id"]
                async for document in learners.find(unmarked, {"_id": 1})
                if document["_id"] in users
            ],
        )
        return {"courses": removed_courses, "enrollments": removed_enrollments}

    async def announce(self, now: datetime) -> int:
        """Tell the running courses replicas that the catalog changed under them (ADR 0025)."""
        catalog = self._catalog if self._catalog is not None else await self._summaries_in_store()
        return await announce_catalog(CatalogStateRepository(self.database), catalog, now)

    async def announce_all(self, now: datetime) -> tuple[int, int]:
        """Announce whatever the store holds (after a restore): how many courses, and the generation."""
        catalog = await self._summaries_in_store()
        return len(catalog), await announce_catalog(CatalogStateRepository(self.database), catalog, now)

    async def close(self) -> None:
        await self.client.close()


def _unreachable(settings: CoursesSettings, url: str, exc: BaseException) -> StoreUnavailable:
    reason = type(exc).__name__
    if settings.profile is Profile.DEV and not settings.mongodb_url:
        return StoreUnavailable(
            f"MongoDB is not reachable at {url} ({reason}). In the dev profile the document store "
            "(FerretDB) runs only while `coursegraph dev` (or `make dev`) does: start it in another "
            "terminal and seed again, or point COURSEGRAPH_MONGODB_URL at a MongoDB server."
        )
    return StoreUnavailable(
        f"MongoDB is not reachable at {url} ({reason}): check COURSEGRAPH_MONGODB_URL "
        "(test infrastructure: `coursegraph infra up`)."
    )


async def connect(overrides: Mapping[str, Any]) -> CourseSeeder:
    """The courses store of these settings, reachable, with the models bound and indexes created."""
    settings = CoursesSettings(**dict(overrides))
    url = redact(settings.document_store_url)
    client = mongo_client(settings.document_store_url, service="courses")
    try:
        async with asyncio.timeout(PING_SECONDS):
            await client.admin.command("ping")
    except (TimeoutError, PyMongoError) as exc:
        await client.close()
        raise _unreachable(settings, url, exc) from exc
    await init_models(client, settings.courses_database, [Course, Enrollment, Learner, Roster])
    return CourseSeeder(client, settings.courses_database, f"{url} database {settings.courses_database}")
