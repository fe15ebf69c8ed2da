"""REST request and response bodies (snake_case, like the requirements' schemas)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Role = Literal["learner", "instructor", "admin"]
Code = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://")]
Verifier = Annotated[str, StringConstraints(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")]


class Strict(BaseModel):
    # Unknown fields are an error, and "1" is not a number: clients learn their mistakes early.
    model_config = ConfigDict(extra="forbid", strict=True)


class OAuthSignInRequest(Strict):
    code: Code
    code_verifier: Verifier | None = None
    redirect_uri: Url


class RefreshRequest(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class DevSignInRequest(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UpdateUserRequest(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    role: Role | None = None


class User(BaseModel):
    id: str
    email: str | None
    name: str
    provider: str | None
    role: Role
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "User":
        return cls(
            id=node["id"],
            email=node.get("email"),
            name=node["name"],
            provider=node.get("provider"),
            role=node["role"].lower(),
            created_at=node["createdAt"],
            updated_at=node["updatedAt"],
        )


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: User

    @classmethod
    def from_graph(cls, payload: dict[str, Any]) -> "Tokens":
        return cls(
            access_token=payload["accessToken"],
            refresh_token=payload["refreshToken"],
            token_type=payload["tokenType"],
            expires_in=payload["expiresIn"],
            user=User.from_graph(payload["user"]),
        )


class Roles(BaseModel):
    user_id: str
    role: Role
    permissions: list[str] = Field(description="What the role allows.")


class SignedOut(BaseModel):
    signed_out: bool


# --- courses ----------------------------------------------------------------------------------------
# Bounds mirror the courses service's limits, so an oversized request never reaches the graph.

TITLE_MAX = 200
DESCRIPTION_MAX = 5_000
CONTENT_MAX = 100_000
URL_MAX = 2_048
MODULES_MAX = 50
LESSONS_MAX = 100
SEARCH_MAX = 100
PAGE_MAX = 100
CURSOR_MAX = 512

CourseStatus = Literal["draft", "published", "archived"]
EnrollmentStatus = Literal["active", "completed"]
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX)]
# Module and lesson ids are opaque tokens the API minted (kept when a client sends them back).
OutlineId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MediaUrl = Annotated[str, StringConstraints(min_length=1, max_length=URL_MAX, pattern=r"^https?://\S+$")]


class CourseListParams(BaseModel):
    """`GET /courses` query parameters; unknown ones (e.g. `status[$in]`) are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    first: int = Field(20, ge=1, le=PAGE_MAX, description="Page size (1 to 100).")
    after: str | None = Field(
        None, min_length=1, max_length=CURSOR_MAX, description="`page_info.end_cursor` of the previous page."
    )
    instructor_id: UUID | None = Field(None, description="Only this instructor's courses.")
    status: CourseStatus | None = Field(None, description="Only courses in this status.")
    search: str | None = Field(
        None, max_length=SEARCH_MAX, description="Case-insensitive text in the title, matched literally."
    )


class LessonRequest(Strict):
    id: OutlineId | None = None
    title: Title
    content: Annotated[str, StringConstraints(max_length=CONTENT_MAX)] = ""
    media_url: MediaUrl | None = None


class ModuleRequest(Strict):
    id: OutlineId | None = None
    title: Title
    lessons: Annotated[list[LessonRequest], Field(max_length=LESSONS_MAX)] = Field(default_factory=list)


class CreateCourseRequest(Strict):
    title: Title
    description: Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)] = ""
    modules: Annotated[list[ModuleRequest], Field(max_length=MODULES_MAX)] = Field(default_factory=list)

    def to_graph(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "modules": [
                {
                    "id": module.id,
                    "title": module.title,
                    "lessons": [
                        {
                            "id": lesson.id,
                            "title": lesson.title,
                            "content": lesson.content,
                            "mediaUrl": lesson.media_url,
                        }
                        for lesson in module.lessons
                    ],
                }
                for module in self.modules
            ],
        }


class Instructor(BaseModel):
    id: str
    name: str


class Lesson(BaseModel):
    id: str
    title: str
    order: int
    content: str | None = Field(description="Only for enrolled learners, the instructor and admins.")
    media_url: str | None = Field(description="Only for enrolled learners, the instructor and admins.")


class Module(BaseModel):
    id: str
    title: str
    order: int
    lessons: list[Lesson]


class Course(BaseModel):
    id: str
    title: str
    description: str
    status: CourseStatus
    instructor_id: str
    instructor: Instructor
    modules: list[Module]
    lesson_count: int
    enrollment_count: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "Course":
        instructor = node["instructor"]
        return cls(
            id=node["id"],
            title=node["title"],
            description=node["description"],
            status=node["status"].lower(),
            instructor_id=instructor["id"],
            instructor=Instructor(id=instructor["id"], name=instructor["name"]),
            modules=[
                Module(
                    id=module["id"],
                    title=module["title"],
                    order=module["order"],
                    lessons=[
                        Lesson(
                            id=lesson["id"],
                            title=lesson["title"],
                            order=lesson["order"],
                            content=lesson["content"],
                            media_url=lesson["mediaUrl"],
                        )
                        for lesson in module["lessons"]
                    ],
                )
                for module in node["modules"]
            ],
            lesson_count=node["lessonCount"],
            enrollment_count=node["enrollmentCount"],
            created_at=node["createdAt"],
            updated_at=node["updatedAt"],
            published_at=node["publishedAt"],
        )


class PageInfo(BaseModel):
    has_next_page: bool
    end_cursor: str | None


class CoursePage(BaseModel):
    items: list[Course]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_graph(cls, connection: dict[str, Any]) -> "CoursePage":
        page_info = connection["pageInfo"]
        return cls(
            items=[Course.from_graph(edge["node"]) for edge in connection["edges"]],
            page_info=PageInfo(has_next_page=page_info["hasNextPage"], end_cursor=page_info["endCursor"]),
            total_count=connection["totalCount"],
        )


class Enrollment(BaseModel):
    id: str
    user_id: str
    course_id: str
    enrolled_at: datetime
    progress: float = Field(description="Percent of the course's lessons completed (0 to 100).")
    completed_lesson_ids: list[str]
    status: EnrollmentStatus
    completed_at: datetime | None

    @classmethod
    def from_graph(cls, node: dict[str, Any], course_id: str) -> "Enrollment":
        course = node.get("course")
        return cls(
            id=node["id"],
            user_id=node["user"]["id"],
            course_id=course["id"] if course else course_id,
            enrolled_at=node["enrolledAt"],
            progress=node["progress"],
            completed_lesson_ids=node["completedLessonIds"],
            status=node["status"].lower(),
            completed_at=node["completedAt"],
        )
