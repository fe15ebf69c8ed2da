"""Announcements' per-request DataLoader (issue 17): every course's page of announcements in one batch."""

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from coursegraph.pagination import Page
from coursegraph.security import Actor
from subgraphs.courses.announcements import AnnouncementService, constant
from subgraphs.courses.loaders import Loaders
from subgraphs.courses.models import Announcement

# A page of announcements: (course id, first, after).
PageKey = tuple[str, int, str | None]


def page_loader(
    service: AnnouncementService, actor: Actor, loaders: Loaders
) -> DataLoader[PageKey, Page[Announcement]]:
    """Per request: every course's page of announcements in one batch, with the caller's enrollments
    from the request's own loaders."""

    async def load(keys: list[PageKey]) -> Sequence[Page[Announcement] | BaseException]:
        course_ids = [course_id for course_id, _, _ in keys]
        courses = await loaders.any_course_by_id.load_many(course_ids)
        enrollments = await loaders.viewer_enrollment_by_course.load_many(course_ids)
        requests = [
            (course, enrollment, first, after)
            for course, enrollment, (_, first, after) in zip(courses, enrollments, keys, strict=True)
            if course is not None
        ]
        pages = iter(await service.pages(actor, requests))
        return [
            next(pages) if course is not None else Page([], has_next=False, total=constant(0))
            for course in courses
        ]

    return DataLoader(load_fn=load)


@dataclass
class Announcements:
    """What a request of the courses subgraph needs of announcements: the service and its page loader."""

    service: AnnouncementService
    pages: DataLoader[PageKey, Page[Announcement]]

    @classmethod
    def for_request(cls, service: AnnouncementService, actor: Actor, loaders: Loaders) -> "Announcements":
        return cls(service, page_loader(service, actor, loaders))
