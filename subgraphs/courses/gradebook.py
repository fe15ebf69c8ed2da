"""The gradebook (issue 17, ADR 0031 "Gradebook"): the course grades of a course's learners.

Kept from assessment.events as they arrive (no batch job): the course's assessments (`CourseGrading`)
and each learner's results (`GradeRecord`). A course grade is computed when read, from the record, the
weights, and the learner's due times (`Deadline`), so a changed weight, excuse or extension, or a due
time passing, shows at once. Every read is by `_id`: a page of the gradebook costs the same few queries
(roster, grading, then one batch each of enrollments, grade records and deadlines) whatever its size.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from strawberry.dataloader import DataLoader

from coursegraph.clock import Clock
from coursegraph.codes import FieldCode
from coursegraph.errors import FieldError, Forbidden, NotFound, ValidationFailed
from coursegraph.pagination import Page, page_size
from coursegraph.security import Actor
from coursegraph.unit_of_work import change
from subgraphs.courses import gradebook_decisions as decisions
from subgraphs.courses import permissions
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.gradebook_decisions import GradebookSort, LearnerGrade
from subgraphs.courses.models import (
    CourseGrading,
    EnrollmentStatus,
    GradedAssessment,
    GradeRecord,
    enrollment_id,
)
from subgraphs.courses.repository import GradebookRepository, RosterRepository
from subgraphs.courses.service import COURSES, CourseService

# Reads the gradebook makes for itself (which learners are still enrolled) act as the service.
_AS_SERVICE = Actor(service=COURSES)
_ACTIVE = {EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED}


@dataclass(frozen=True)
class GradebookPage:
    grading: CourseGrading
    page: Page[LearnerGrade]


class GradebookService:
    def __init__(
        self, courses: CourseService, rosters: RosterRepository, store: GradebookRepository, clock: Clock
    ) -> None:
        self._courses = courses
        self._rosters = rosters
        self._store = store
        self._clock = clock

    # --- what assessment.events tell it -------------------------------------------------------------

    async def learn_assessment(self, actor: Actor, course_id: str, assessment: GradedAssessment) -> None:
        """An assessment of the course was created or changed: the gradebook's column for it."""
        actor.require_service(COURSES)
        await change(
            lambda: self._store.grading_or_new(course_id),
            lambda grading: decisions.learn_assessment(grading, assessment),
            self._store.write_grading,
            conflict="Could not record the assessment; will retry.",
        )

    async def record_result(
        self,
        actor: Actor,
        *,
        course_id: str,
        user_id: str,
        assessment_id: str,
        attempt: int,
        percent: float,
        submitted_at: datetime,
    ) -> None:
        """A learner's attempt was scored: their grade record, once per attempt, in attempt order."""
        actor.require_service(COURSES)
        await change(
            lambda: self._store.record_or_new(course_id, user_id),
            lambda record: decisions.record_result(
                record, assessment_id, attempt=attempt, percent=percent, submitted_at=submitted_at
            ),
            self._store.write_record,
            conflict="Could not record the result; will retry.",
        )

    # --- the managers' writes -----------------------------------------------------------------------

    async def _course(self, actor: Actor, course_id: str) -> CourseSummary:
        actor.require_user()
        course = (await self._courses.courses(actor, [course_id]))[0]
        if course is None:
            raise NotFound("Course not found.")
        if not permissions.can_grade(actor, course):
            raise Forbidden("Only the course's instructor or an admin can change its grading.")
        return course

    async def set_grading_policy(
        self, actor: Actor, course_id: str, weights: Sequence[tuple[str, float]]
    ) -> CourseGrading:
        """The course's weights, replacing the last policy (unnamed assessments weigh 1)."""
        await self._course(actor, course_id)
        written = await change(
            lambda: self._store.grading_or_new(course_id),
            lambda grading: decisions.set_weights(grading, weights),
            self._store.write_grading,
            conflict="The grading policy is being changed by someone else; try again.",
        )
        assert written is not None  # grading_or_new always answers one
        return written

    async def excuse(
        self, actor: Actor, course_id: str, user_id: str, assessment_id: str, *, excused: bool
    ) -> tuple[CourseGrading, LearnerGrade]:
        """Leave an assessment out of a learner's course grade (or count it again); their grades."""
        await self._course(actor, course_id)
        grading = await self._store.grading_or_new(course_id)
        errors = []
        if assessment_id not in {a.id for a in grading.assessments}:
            errors.append(
                FieldError("assessmentId", FieldCode.UNKNOWN_ID, "Not an assessment of this course.")
            )
        if user_id not in await self._rosters.learners(course_id):
            errors.append(FieldError("userId", FieldCode.UNKNOWN_ID, "Not a learner of this course."))
        if errors:
            raise ValidationFailed(errors)
        record = await change(
            lambda: self._store.record_or_new(course_id, user_id),
            lambda record: decisions.excuse(record, assessment_id, excused=excused),
            self._store.write_record,
            conflict="The learner's grades are being changed; try again.",
        )
        return grading, (await self._grades(grading, course_id, [user_id], {user_id: record}))[0]

    # --- reads ----------------------------------------------------------------------------------------

    async def _grades(
        self,
        grading: CourseGrading,
        course_id: str,
        user_ids: Sequence[str],
        records: dict[str, GradeRecord | None] | None = None,
    ) -> list[LearnerGrade]:
        """These learners' grades: their records (unless given) and the course's deadlines, a batch each."""
        if records is None:
            records = dict(await self._store.records(course_id, user_ids))
        deadlines = await self._store.deadlines(course_id, [a.id for a in grading.assessments])
        now = self._clock()
        return [
            decisions.grade(
                grading,
                user_id,
                records.get(user_id),
                {target: deadline.due_for(user_id) for target, deadline in deadlines.items()},
                now,
            )
            for user_id in user_ids
        ]

    async def _enrolled(self, course_id: str, user_ids: Sequence[str]) -> list[str]:
        """Those of these roster entries still enrolled (readers skip the others, ADR 0031), in order."""
        found = await self._courses.enrollments(
            _AS_SERVICE, [str(enrollment_id(u, course_id)) for u in user_ids]
        )
        active = {e.user_id for e in found if e is not None and e.status in _ACTIVE}
        return [u for u in user_ids if u in active]

    async def gradebook(
        self, actor: Actor, course: CourseSummary, *, first: int, after: str | None, sort: GradebookSort
    ) -> GradebookPage:
        """A page of the course's learners with their grades, for those who teach it. In the roster's
        order only the page's learners are read; by grade, every learner's grade is computed first."""
        actor.require_user()  # anonymous callers are told to sign in, not that they may not
        if not permissions.can_see_gradebook(actor, course):
            raise Forbidden("Only the course's instructors and teaching assistants see its gradebook.")
        size = page_size(first)
        grading = await self._store.grading_or_new(course.id)
        roster = await self._rosters.learners(course.id)
        if sort is GradebookSort.LEARNER:
            rest = roster[decisions.page_after(roster, after) :]
            rows: list[LearnerGrade] = []
            # Usually one pass: a learner who left is skipped and the page is filled from further on.
            while len(rows) <= size and rest:
                wanted, rest = rest[: size + 1 - len(rows)], rest[size + 1 - len(rows) :]
                rows += await self._grades(grading, course.id, await self._enrolled(course.id, wanted))
        else:
            everyone = await self._grades(grading, course.id, await self._enrolled(course.id, roster))
            ordered = decisions.sorted_grades(everyone, sort)
            rows = ordered[decisions.page_after([g.user_id for g in ordered], after) :][: size + 1]
        items = [(decisions.encode_cursor(row.user_id), row) for row in rows[:size]]
        return GradebookPage(grading, Page(items, has_next=len(rows) > size))

    async def learner_count(self, course: CourseSummary) -> int:
        """How many learners the gradebook lists (the roster's still enrolled): one batch."""
        return len(await self._enrolled(course.id, await self._rosters.learners(course.id)))

    async def viewer_grades(
        self, actor: Actor, courses: Sequence[CourseSummary]
    ) -> list[tuple[CourseGrading, LearnerGrade] | None]:
        """The caller's own grades in each course (None unless enrolled in it), every course's documents
        in one batch of each kind (a list of courses with their grades costs what one does)."""
        enrollments = await self._courses.viewer_enrollments(actor, [course.id for course in courses])
        enrolled = [
            (course.id, enrollment.user_id)
            for course, enrollment in zip(courses, enrollments, strict=True)
            if enrollment is not None and enrollment.status in _ACTIVE
        ]
        if not enrolled:
            return [None] * len(courses)
        gradings = await self._store.gradings([course_id for course_id, _ in enrolled])
        records = await self._store.records_of(enrolled)
        targets = [
            (c, a.id) for c, _ in enrolled if (g := gradings.get(c)) is not None for a in g.assessments
        ]
        deadlines = await self._store.deadlines_of(targets)
        now, answers = self._clock(), dict[str, tuple[CourseGrading, LearnerGrade]]()
        for course_id, user_id in enrolled:
            grading = gradings.get(course_id) or CourseGrading(id=course_id)
            due = {
                a.id: deadline.due_for(user_id)
                for a in grading.assessments
                if (deadline := deadlines.get((course_id, a.id))) is not None
            }
            grade = decisions.grade(grading, user_id, records.get((course_id, user_id)), due, now)
            answers[course_id] = (grading, grade)
        return [answers.get(course.id) for course in courses]


ViewerGradesLoader = DataLoader[CourseSummary, tuple[CourseGrading, LearnerGrade] | None]


def viewer_grades_loader(service: GradebookService, actor: Actor) -> ViewerGradesLoader:
    """A request's loader of the caller's grades by course: the courses of one request in one batch."""

    async def load(courses: list[CourseSummary]) -> list[tuple[CourseGrading, LearnerGrade] | None]:
        return await service.viewer_grades(actor, courses)

    return DataLoader(load_fn=load, cache_key_fn=lambda course: course.id)
