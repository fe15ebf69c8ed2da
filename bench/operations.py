"""The everyday operations, one call at a time: latency and CPU time per call of each, same data, same run.

For each run it seeds a catalog with the measured checkout's own `coursegraph seed`, starts that
checkout's stack (`coursegraph serve`: every Python service in one process, the router as its child, the
router's rate limit off) in the dev or test profile, prepares through the API what the operations need
(dev sign-in of seeded instructors and learners and of fresh learners, one assessment in a few published
courses, enrollments), then for each operation: a warm-up, then `--calls` calls one at a time, each
timed, and the CPU time of each part of the system read from /proc around each timed call. With a
baseline both stacks are up at once and take turns operation by operation.

    uv run python bench/operations.py --profile dev --calls 10
    uv run python bench/operations.py --baseline-ref 41e52a1 --json run.json   # that commit and this one
    uv run python bench/operations.py --smoke       # a tiny catalog, every operation twice (tests/bench)

Needs the test infrastructure for `--profile test` (`uv run coursegraph infra up`), and FerretDB built by
it for both profiles. Not a test: pytest does not collect it.
"""

import argparse
import itertools
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.checkout import REPO, Checkout, RunningStack, open_checkout, serve, worktree
from bench.common import ProcessGroups, idle_cpu, machine, percentile, stores, write_report

# --- the operations --------------------------------------------------------------------------------------

CATALOG = """query Catalog($first: Int!) {
  courses(first: $first) { edges { node { id title instructor { name } enrollmentCount } } totalCount }
}"""
# 96 characters (the catalog refuses more than 100): a pattern that backtracks badly if ever run as a regex.
SEARCH_TEXT = "(a+)+$" * 16
SEARCH = """query Search($first: Int!, $search: String!) {
  courses(first: $first, filter: {search: $search}) {
    edges { node { id title instructor { name } enrollmentCount } } totalCount
  }
}"""
MY_ENROLLMENTS = """query MyEnrollments {
  me { enrollments(first: 20) { totalCount edges { node { progress status course { id title } } } } }
}"""
COMPLETE_LESSON = """mutation CompleteLesson($courseId: ID!, $lessonId: ID!) {
  completeLesson(courseId: $courseId, lessonId: $lessonId) { enrollment { progress status } errors { code } }
}"""
START_ATTEMPT = """mutation Start($assessmentId: ID!) {
  startAttempt(assessmentId: $assessmentId) {
    attempt { id number questions { id type choices { id } } } errors { code message }
  }
}"""
SAVE_ANSWERS = """mutation Save($attemptId: ID!, $answers: [AnswerInput!]!) {
  saveAnswers(attemptId: $attemptId, answers: $answers) {
    attempt { id answers { questionId } } errors { code message }
  }
}"""
SUBMIT = """mutation Submit($attemptId: ID!) {
  submitAssessment(attemptId: $attemptId) {
    attempt { id status result { percent passed } } errors { code message }
  }
}"""
RESULT = """query Result($id: ID!) {
  assessmentResult(id: $id) { attemptId attemptNumber percent passed questions { questionId outcome } }
}"""
INSTRUCTOR_PAGE = """query InstructorPage($id: ID!) {
  course(id: $id) {
    title enrollmentCount modules { title lessons { title content } } assessments { id title questionCount }
  }
  me { coursesTeaching(first: 20) { totalCount edges { node { id title status enrollmentCount } } } }
}"""

# What the setup asks (not measured).
PUBLISHED = """query Published($first: Int!) {
  courses(first: $first) { edges { node { id status modules { lessons { id } } } } }
}"""
TEACHING = """query Teaching { me { coursesTeaching(first: 50) { edges { node { id status } } } } }"""
MY_COURSES = """query MyCourses { me { enrollments(first: 100) { edges { node { course { id } } } } } }"""
ENROLL = """mutation Enroll($courseId: ID!) {
  enroll(courseId: $courseId) { enrollment { id } errors { code } }
}"""
CREATE_ASSESSMENT = """mutation CreateAssessment($courseId: ID!, $input: AssessmentInput!) {
  createAssessment(courseId: $courseId, input: $input) { assessment { id } errors { code field message } }
}"""
ASSESSMENT = {
    "title": "Benchmark quiz",
    "instructions": "Answer every question.",
    "passingScore": 50.0,
    "questions": [
        {
            "type": "SINGLE_CHOICE",
            "prompt": "Which of these is a GraphQL operation type?",
            "options": [
                {"text": "query", "correct": True},
                {"text": "select", "correct": False},
                {"text": "fetch", "correct": False},
            ],
        },
        {"type": "TRUE_FALSE", "prompt": "A subgraph may extend an entity of another.", "correctBool": True},
        {
            "type": "SINGLE_CHOICE",
            "prompt": "Which store keeps the courses?",
            "options": [
                {"text": "MongoDB", "correct": True},
                {"text": "PostgreSQL", "correct": False},
            ],
        },
        {"type": "TRUE_FALSE", "prompt": "Attempts are scored on the client.", "correctBool": False},
    ],
}

OPERATIONS = (
    "rest_catalog",
    "graphql_catalog",
    "rest_course",
    "rest_enroll",
    "graphql_my_enrollments",
    "graphql_complete_lesson",
    "search_backtracking",
    "assessment_start",
    "assessment_save",
    "assessment_submit",
    "assessment_result",
    "instructor_course_page",
)
# --smoke: every operation on a tiny catalog, a few calls each; the stack and the checks are real.
SMOKE = {
    "courses": 30, "instructors": 6, "learners": 30, "calls": 2, "baseline_calls": 2, "warmup": 1,
    "settle": 0.5, "idle": 0.5,
}  # fmt: skip
CURRENT = "this checkout"  # the label of the measured checkout (`--checkout`, this one by default)
ASSESSED_COURSES = 4  # published courses given an assessment, each by its own instructor
READER_ENROLLMENTS = 10  # courses the reading learner is enrolled in (rest_course, my_enrollments)


# --- calls and their measurement ---------------------------------------------------------------------


class CallFailed(Exception):
    """A call answered, but not as it should (status, GraphQL errors, a payload's errors)."""


class SetupFailed(Exception):
    """What an operation needs could not be prepared through the API."""


Check = Callable[[httpx.Response], Any]


def rest_answer(expected: int = 200) -> Check:
    def check(response: httpx.Response) -> Any:
        if response.status_code != expected:
            raise CallFailed(f"{response.status_code} (expected {expected}): {response.text[:400]}")
        body = response.json()
        if body.get("success") is not True:
            raise CallFailed(f"{response.status_code}: {response.text[:400]}")
        return body["data"]

    return check


def graphql_answer(payload: str | None = None, *, required: str | None = None) -> Check:
    """The data of a 2xx answer without `errors`; a mutation `payload` without errors of its own; a
    `required` field that is not null."""

    def check(response: httpx.Response) -> Any:
        if not 200 <= response.status_code < 300:
            raise CallFailed(f"{response.status_code}: {response.text[:400]}")
        body = response.json()
        if body.get("errors") or body.get("data") is None:
            raise CallFailed(f"{response.status_code}: {json.dumps(body)[:400]}")
        data = body["data"]
        if payload is not None and data[payload]["errors"]:
            raise CallFailed(f"{payload}: {json.dumps(data[payload]['errors'])[:400]}")
        if required is not None and data[required] is None:
            raise CallFailed(f"{required} is null")
        return data

    return check


@dataclass
class Tally:
    """One operation's timed calls."""

    name: str
    calls: int = 0
    errors: int = 0
    first_error: str = ""
    warmup_errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, of good calls
    seconds: float = 0.0  # wall time of every timed call
    cpu: dict[str, float] = field(default_factory=dict)  # seconds by process group, over the timed calls

    def failed(self, problem: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or problem


class Api:
    """The stack as its clients see it (REST and the router), through one keep-alive connection each."""

    def __init__(self, stack: RunningStack, timeout: float) -> None:
        self.stack = stack
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Callable[[], httpx.Response]:
        """A prepared request, sent when called."""
        body = {"query": query, "variables": variables or {}}
        return lambda: self.client.post(self.stack.router_url, json=body, headers=_headers(token))

    def rest(
        self, method: str, path: str, token: str | None = None, **params: Any
    ) -> Callable[[], httpx.Response]:
        url = self.stack.rest_url + path
        return lambda: self.client.request(method, url, params=params or None, headers=_headers(token))

    def setup(self, send: Callable[[], httpx.Response], check: Check) -> Any:
        """An unmeasured call whose failure stops the operations that need it."""
        try:
            return check(send())
        except (httpx.HTTPError, CallFailed, ValueError, KeyError, TypeError) as exc:
            raise SetupFailed(f"{type(exc).__name__}: {exc}") from exc

    def sign_in(self, email: str, name: str) -> str:
        body = {"email": email, "name": name}
        data = self.setup(
            lambda: self.client.post(self.stack.rest_url + "/auth/dev", json=body), rest_answer()
        )
        token: str = data["access_token"]
        return token


def _headers(token: str | None) -> dict[str, str]:
    headers = {"x-request-id": f"bench-{uuid.uuid4().hex}"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


class Meter:
    """Sends calls; while `measuring`, times each and reads each process group's CPU time around it."""

    def __init__(self, groups: ProcessGroups, selected: set[str]) -> None:
        self.groups = groups
        self.selected = selected
        self.measuring = False
        self.tallies: dict[str, Tally] = {}

    def tally(self, name: str) -> Tally:
        return self.tallies.setdefault(name, Tally(name))

    def call(self, name: str, send: Callable[[], httpx.Response], check: Check) -> Any:
        """The checked answer, or None when the call failed (counted as an error of `name`)."""
        tally = self.tally(name)
        if not (self.measuring and name in self.selected):
            try:
                return check(send())
            except (httpx.HTTPError, CallFailed, ValueError, KeyError, TypeError) as exc:
                tally.warmup_errors += 1
                tally.first_error = tally.first_error or f"warm-up: {type(exc).__name__}: {exc}"
                return None
        before = self.groups.cpu()  # the load client's CPU time last, after reading /proc
        started = time.perf_counter()
        response: httpx.Response | None = None
        problem = ""
        try:
            response = send()
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        client = time.process_time()  # before reading /proc again
        after = self.groups.cpu() | {"load client": client}
        tally.calls += 1
        tally.seconds += elapsed
        for group, seconds in after.items():
            # A process that exits (a database backend) takes its CPU time with it: never below 0.
            tally.cpu[group] = tally.cpu.get(group, 0.0) + max(0.0, seconds - before.get(group, 0.0))
        if response is not None:
            try:
                value = check(response)
            except (CallFailed, ValueError, KeyError, TypeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                tally.latencies.append(elapsed)
                return value
        tally.failed(problem)
        return None

    def skipped(self, names: list[str], reason: str) -> None:
        """Calls that could not be made (an earlier step of the flow failed): errors too."""
        if self.measuring:
            for name in names:
                if name in self.selected:
                    tally = self.tally(name)
                    tally.calls += 1
                    tally.failed(f"not sent: {reason}")


# --- what the operations need --------------------------------------------------------------------------


@dataclass(frozen=True)
class Course:
    id: str
    lessons: list[str]


@dataclass(frozen=True)
class Assessed:
    course: str
    assessment: str
    instructor_token: str


class Fixtures:
    """Users, enrollments and assessments, each prepared through the API the first time it is needed."""

    def __init__(self, api: Api, args: argparse.Namespace, iterations: int) -> None:
        self.api = api
        self.iterations = iterations  # warm-up and timed calls of one operation
        self.instructors = args.instructors
        self.learners = args.learners
        self.run = uuid.uuid4().hex[:8]
        self.fresh_count = itertools.count(1)

    @staticmethod
    def seeded_email(role: str, number: int, count: int) -> str:
        """As subgraphs/users/seed.py names them: instructor-0001, learner-00001 (wider for more)."""
        width = max(4 if role == "instructor" else 5, len(str(count)))
        return f"{role}-{number:0{width}d}@seed.example.org"

    def fresh_learner(self, tag: str) -> str:
        number = next(self.fresh_count)
        # rest-compat's dev sign-in takes local parts of up to three dot-separated atoms of 20 characters.
        email = f"{tag}-{number}.{self.run}@bench.example.org"
        return self.api.sign_in(email, f"Bench {tag} {number}")

    def enroll(self, token: str, courses: list[str]) -> None:
        check = graphql_answer("enroll")
        for course in courses:
            self.api.setup(self.api.graphql(ENROLL, {"courseId": course}, token), check)

    @cached_property
    def learner(self) -> str:
        """A seeded learner (dev sign-in)."""
        return self.api.sign_in(self.seeded_email("learner", 1, self.learners), "Seeded Learner")

    @cached_property
    def published(self) -> list[Course]:
        """The newest published courses (up to 50), with their lesson ids."""
        data = self.api.setup(self.api.graphql(PUBLISHED, {"first": 50}, self.learner), graphql_answer())
        courses = [
            Course(node["id"], [lesson["id"] for module in node["modules"] for lesson in module["lessons"]])
            for node in (edge["node"] for edge in data["courses"]["edges"])
            if node["status"] == "PUBLISHED"
        ]
        if not courses:
            raise SetupFailed("no published course in the catalog")
        return courses

    @cached_property
    def reader(self) -> tuple[str, list[str]]:
        """The seeded learner, enrolled (by the API, on top of the seed's) in the newest published courses:
        the token and those courses."""
        mine = self.api.setup(self.api.graphql(MY_COURSES, token=self.learner), graphql_answer())
        enrolled = {edge["node"]["course"]["id"] for edge in mine["me"]["enrollments"]["edges"]}
        courses = [course.id for course in self.published[:READER_ENROLLMENTS]]
        self.enroll(self.learner, [course for course in courses if course not in enrolled])
        return self.learner, courses

    @cached_property
    def completer(self) -> tuple[str, list[tuple[str, str]]]:
        """A fresh learner enrolled in enough courses to complete a new lesson in every call: the token
        and the (course, lesson) pairs in order."""
        token = self.fresh_learner("completer")
        lessons: list[tuple[str, str]] = []
        courses: list[str] = []
        for course in self.published:
            if len(lessons) >= self.iterations:
                break
            courses.append(course.id)
            lessons += [(course.id, lesson) for lesson in course.lessons]
        if len(lessons) < self.iterations:
            raise SetupFailed(f"{len(lessons)} lessons in the newest published courses: seed more courses")
        self.enroll(token, courses)
        return token, lessons

    @cached_property
    def assessed(self) -> list[Assessed]:
        """One new assessment in each of a few published courses, each created by the course's instructor
        (seeded instructors, one course each)."""
        found: list[Assessed] = []
        for number in range(1, self.instructors + 1):
            if len(found) >= ASSESSED_COURSES:
                break
            token = self.api.sign_in(self.seeded_email("instructor", number, self.instructors), "Instructor")
            teaching = self.api.setup(self.api.graphql(TEACHING, token=token), graphql_answer())
            edges = teaching["me"]["coursesTeaching"]["edges"]
            published = [edge["node"]["id"] for edge in edges if edge["node"]["status"] == "PUBLISHED"]
            if not published:
                continue
            variables = {"courseId": published[0], "input": ASSESSMENT}
            created = self.api.setup(
                self.api.graphql(CREATE_ASSESSMENT, variables, token), graphql_answer("createAssessment")
            )
            found.append(Assessed(published[0], created["createAssessment"]["assessment"]["id"], token))
        if not found:
            raise SetupFailed("no seeded instructor teaches a published course")
        return found

    @cached_property
    def examinee(self) -> str:
        """A fresh learner enrolled in every assessed course."""
        token = self.fresh_learner("examinee")
        self.enroll(token, [assessed.course for assessed in self.assessed])
        return token


# --- one iteration of each operation ---------------------------------------------------------------------

Iteration = Callable[[int], None]


def prepare(names: tuple[str, ...], fx: Fixtures, meter: Meter) -> Iteration:
    """The function that makes iteration `i` of the operations `names` (one, or the assessment flow)."""
    api = fx.api
    name = names[0]
    if name == "rest_catalog":
        token = fx.learner
        return lambda i: meter.call(name, api.rest("GET", "/courses", token, first=20), rest_answer())
    if name == "graphql_catalog":
        token = fx.learner
        return lambda i: meter.call(name, api.graphql(CATALOG, {"first": 20}, token), graphql_answer())
    if name == "rest_course":
        token, courses = fx.reader
        return lambda i: meter.call(
            name, api.rest("GET", f"/courses/{courses[i % len(courses)]}", token), rest_answer()
        )
    if name == "rest_enroll":
        tokens = [fx.fresh_learner("enroll") for _ in range(fx.iterations)]
        published = fx.published
        return lambda i: meter.call(
            name,
            api.rest("POST", f"/courses/{published[i % len(published)].id}/enroll", tokens[i]),
            rest_answer(201),
        )
    if name == "graphql_my_enrollments":
        token, _ = fx.reader
        return lambda i: meter.call(name, api.graphql(MY_ENROLLMENTS, token=token), graphql_answer())
    if name == "graphql_complete_lesson":
        token, lessons = fx.completer
        return lambda i: meter.call(
            name,
            api.graphql(COMPLETE_LESSON, {"courseId": lessons[i][0], "lessonId": lessons[i][1]}, token),
            graphql_answer("completeLesson"),
        )
    if name == "search_backtracking":
        token = fx.learner
        variables = {"first": 20, "search": SEARCH_TEXT}
        return lambda i: meter.call(name, api.graphql(SEARCH, variables, token), graphql_answer())
    if name == "instructor_course_page":
        assessed = fx.assessed
        return lambda i: meter.call(
            name,
            api.graphql(
                INSTRUCTOR_PAGE,
                {"id": assessed[i % len(assessed)].course},
                assessed[i % len(assessed)].instructor_token,
            ),
            graphql_answer(required="course"),
        )
    if name == "assessment_start":
        return assessment_flow(fx, meter)
    raise ValueError(name)


def _answer(question: dict[str, Any]) -> dict[str, Any]:
    if question["type"] == "TRUE_FALSE":
        return {"questionId": question["id"], "value": True}
    return {"questionId": question["id"], "optionIds": [question["choices"][0]["id"]]}


def assessment_flow(fx: Fixtures, meter: Meter) -> Iteration:
    """Start an attempt, save answers, submit, ask for the result: the examinee, assessments in turn."""
    api, assessed, token = fx.api, fx.assessed, fx.examinee

    def iteration(i: int) -> None:
        assessment = assessed[i % len(assessed)].assessment
        started = meter.call(
            "assessment_start",
            api.graphql(START_ATTEMPT, {"assessmentId": assessment}, token),
            graphql_answer("startAttempt"),
        )
        if started is None:
            meter.skipped(["assessment_save", "assessment_submit"], "startAttempt failed")
        else:
            attempt = started["startAttempt"]["attempt"]
            answers = [_answer(question) for question in attempt["questions"]]
            meter.call(
                "assessment_save",
                api.graphql(SAVE_ANSWERS, {"attemptId": attempt["id"], "answers": answers}, token),
                graphql_answer("saveAnswers"),
            )
            meter.call(
                "assessment_submit",
                api.graphql(SUBMIT, {"attemptId": attempt["id"]}, token),
                graphql_answer("submitAssessment"),
            )
        meter.call(
            "assessment_result",
            api.graphql(RESULT, {"id": assessment}, token),
            graphql_answer(required="assessmentResult"),
        )

    return iteration


ASSESSMENT_FLOW = ("assessment_start", "assessment_save", "assessment_submit", "assessment_result")
SCENARIOS: tuple[tuple[str, ...], ...] = tuple(
    ASSESSMENT_FLOW if name == "assessment_start" else (name,)
    for name in OPERATIONS
    if name not in ASSESSMENT_FLOW[1:]
)


# --- one run: a checkout, its catalog, its stack ---------------------------------------------------------


@dataclass
class Result:
    operation: str
    calls: int
    errors: int
    first_error: str
    warmup_errors: int
    p50_ms: float
    p99_ms: float  # nearest rank: with fewer than 100 calls, the slowest call
    mean_ms: float
    max_ms: float
    seconds: float  # wall time of the timed calls
    cpu_ms_per_call: dict[str, float]  # by process group, over the timed calls
    cpu_ms_per_call_above_idle: dict[str, float]  # less what each group spends while idle


def result_of(tally: Tally, idle: dict[str, float]) -> Result:
    ordered = sorted(tally.latencies)
    calls = max(1, tally.calls)
    raw = {group: seconds * 1000 / calls for group, seconds in tally.cpu.items()}
    net = {
        group: max(0.0, ms - idle.get(group, 0.0) * tally.seconds * 1000 / calls) for group, ms in raw.items()
    }
    return Result(
        operation=tally.name,
        calls=tally.calls,
        errors=tally.errors,
        first_error=tally.first_error,
        warmup_errors=tally.warmup_errors,
        p50_ms=round(percentile(ordered, 0.50) * 1000, 1),
        p99_ms=round(percentile(ordered, 0.99) * 1000, 1),
        mean_ms=round(sum(ordered) / len(ordered) * 1000, 1) if ordered else float("nan"),
        max_ms=round(ordered[-1] * 1000, 1) if ordered else float("nan"),
        seconds=round(tally.seconds, 3),
        cpu_ms_per_call={group: round(ms, 2) for group, ms in raw.items()},
        cpu_ms_per_call_above_idle={group: round(ms, 2) for group, ms in net.items()},
    )


@dataclass
class Run:
    """One checkout's stores, seeded catalog and stack, up for the whole session."""

    label: str
    described: dict[str, Any]
    calls: int
    stack: RunningStack
    fixtures: Fixtures
    meter: Meter
    seed_seconds: float
    idle: dict[str, float] = field(default_factory=dict)


def start_run(
    checkout: Checkout,
    label: str,
    calls: int,
    args: argparse.Namespace,
    say: Callable[[str], None],
    cleanup: ExitStack,
) -> Run:
    """Stores of its own, seeded by the checkout's seed, and the checkout's stack on them, until `cleanup`."""
    described = checkout.describe()  # what is started: others may edit the checkout while it runs
    scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="coursegraph-bench-ops-")))
    logs = Path(args.log_dir) / label.replace(" ", "-") if args.log_dir else scratch
    logs.mkdir(parents=True, exist_ok=True)
    store_env, ferretdb_pid, postgres_pid = cleanup.enter_context(
        stores(args.profile, scratch, say, baseline=label != CURRENT)
    )
    env = {
        "COURSEGRAPH_PROFILE": args.profile,
        "COURSEGRAPH_DATA_DIR": str(scratch / "data"),
        "COURSEGRAPH_DEV_SIGN_IN": "true",
        "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",  # one client sends everything: no per-IP limit
        # Slow code must not see its tokens expire, nor rest-compat give up before the load client.
        "COURSEGRAPH_ACCESS_TOKEN_TTL_SECONDS": "86400",
        "COURSEGRAPH_ROUTER_TIMEOUT_SECONDS": str(args.timeout),
        **store_env,
    }
    options = [
        f"--instructors={args.instructors}", f"--courses={args.courses}",
        f"--learners={args.learners}", f"--seed={args.seed}",
    ]  # fmt: skip
    say(f"{label}: seeding {args.courses} courses, {args.learners} learners ({checkout.path})")
    started = time.perf_counter()
    checkout.seed(env, options, logs / "seed.log")
    seed_seconds = time.perf_counter() - started
    say(f"{label}: starting the stack ({args.profile} profile)")
    stack = cleanup.enter_context(serve(checkout, env, logs / "stack.log", timeout=args.start_timeout))
    api = Api(stack, args.timeout)
    cleanup.callback(api.client.close)
    groups = ProcessGroups(stack.pid, ferretdb_pid, postgres_pid)
    fixtures = Fixtures(api, args, args.warmup + calls)
    return Run(label, described, calls, stack, fixtures, Meter(groups, set(args.operations)), seed_seconds)


def measure_scenario(
    run: Run, names: tuple[str, ...], args: argparse.Namespace, say: Callable[[str], None]
) -> None:
    """The warm-up and timed calls of one scenario (an operation, or the assessment flow) on one run."""
    wanted = [name for name in names if name in run.meter.selected]
    if not wanted:
        return
    say(f"{run.label}: {', '.join(wanted)}: {args.warmup} warm-up, {run.calls} timed calls")
    try:
        iteration = prepare(names, run.fixtures, run.meter)
    except SetupFailed as exc:
        for name in wanted:
            tally = run.meter.tally(name)
            tally.calls, tally.errors = run.calls, run.calls
            tally.first_error = f"setup: {exc}"
        say(f"[red]{run.label}: {', '.join(wanted)}: setup failed: {exc}[/red]")
        return
    run.meter.measuring = False
    for i in range(args.warmup):
        iteration(i)
    run.meter.measuring = True
    for i in range(args.warmup, args.warmup + run.calls):
        iteration(i)
    run.meter.measuring = False


def measure_runs(runs: list[Run], args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """Every scenario on every run, the runs alternating scenario by scenario (and which goes first too),
    so that a baseline and this checkout share the machine's moods."""
    # The relays look for pending events when they start, a scan of each collection: not idle.
    say(f"letting the stacks settle ({args.settle:g}s), then measuring idle CPU ({args.idle:g}s each)")
    time.sleep(args.settle)
    for run in runs:
        run.idle = idle_cpu(run.meter.groups, args.idle) if args.idle > 0 else {}
    for index, names in enumerate(SCENARIOS):
        for run in runs if index % 2 == 0 else runs[::-1]:
            measure_scenario(run, names, args, say)


def report_of(run: Run) -> dict[str, Any]:
    log = run.stack.log_path.read_text(errors="replace")
    errors_in_log = len(re.findall(r'"level": ?"(?:ERROR|CRITICAL|error|fatal)"', log))
    tallies = run.meter.tallies
    results = [result_of(tallies[name], run.idle) for name in OPERATIONS if name in tallies]
    return {
        "label": run.label,
        "checkout": run.described,
        "calls": run.calls,
        "seed_seconds": round(run.seed_seconds, 1),
        "idle_cores": run.idle,
        "stack_log_errors": errors_in_log,
        "results": [asdict(result) for result in results if result.operation in run.meter.selected],
    }


# --- the report -------------------------------------------------------------------------------------------

GROUPS = ("python services", "router (node)", "ferretdb", "postgresql", "load client")


def _ms(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def print_run(run: dict[str, Any], console: Console) -> None:
    checkout = run["checkout"]
    changes = ""
    if checkout["changed_files"]:
        changes = f" + {checkout['changed_files']} changed files ({checkout['changes']})"
    table = Table(
        title=f"{run['label']}: {checkout['commit'][:9]}{changes} ({checkout['subject'][:60]})",
        title_justify="left",
        caption=f"CPU: ms per call above idle, by process; p99 of {run['calls']} calls"
        + (" is the slowest call" if run["calls"] < 100 else ""),
        caption_justify="left",
    )
    for column in ("operation", "calls", "errors", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for group in GROUPS:
        table.add_column(group.split(" (")[0], justify="right")
    for r in run["results"]:
        cpu = r["cpu_ms_per_call_above_idle"]
        table.add_row(
            r["operation"],
            str(r["calls"]),
            str(r["errors"]) if not r["errors"] else f"[red]{r['errors']}[/red]",
            _ms(r["p50_ms"]),
            _ms(r["p99_ms"]),
            _ms(r["mean_ms"]),
            *(_ms(cpu.get(group)) for group in GROUPS),
        )
    console.print(table)
    for r in run["results"]:
        if r["first_error"]:
            console.print(f"  [red]{r['operation']}[/red]: {r['first_error'][:600]}", highlight=False)
    idle = ", ".join(f"{name} {share * 100:.0f}%" for name, share in run["idle_cores"].items())
    console.print(f"  seeded in {run['seed_seconds']:.0f}s; idle (share of one core): {idle}")
    if run["stack_log_errors"]:
        console.print(f"  [yellow]{run['stack_log_errors']} ERROR lines in the stack's log[/yellow]")


def ratios(baseline: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    before = {r["operation"]: r for r in baseline["results"]}
    rows = []
    for after in current["results"]:
        base = before.get(after["operation"])
        if base is None:
            continue
        row: dict[str, Any] = {"operation": after["operation"]}
        for key in COMPARED:
            then, now = _compared(base, key), _compared(after, key)
            row[key] = {"baseline": then, "current": now, "ratio": _ratio(now, then)}
        rows.append(row)
    return rows


# p50, p99, the Python services' CPU per call, and every process's but the load client's (all above idle).
COMPARED = {"p50_ms": "p50 ms", "p99_ms": "p99 ms", "python_cpu_ms": "Python CPU ms", "cpu_ms": "all CPU ms"}


def _compared(result: dict[str, Any], key: str) -> float | None:
    cpu = result["cpu_ms_per_call_above_idle"]
    if key == "python_cpu_ms":
        value: float | None = cpu.get("python services")
        return value
    if key == "cpu_ms":
        return sum(ms for group, ms in cpu.items() if group != "load client" and ms == ms) if cpu else None
    return result[key]  # type: ignore[no-any-return]


def _ratio(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or now != now or then != then or then == 0:
        return None
    return round(now / then, 3)


def print_ratios(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="this checkout ÷ baseline (same run)", title_justify="left")
    table.add_column("operation")
    for title in COMPARED.values():
        for column in (f"{title} base", "this", "ratio"):
            table.add_column(column, justify="right")
    for row in rows:
        cells = []
        for key in COMPARED:
            ratio = row[key]["ratio"]
            cells += [
                _ms(row[key]["baseline"]),
                _ms(row[key]["current"]),
                "—" if ratio is None else f"{ratio:.2f}x",
            ]
        table.add_row(row["operation"], *cells)
    console.print(table)


CONFIG = (
    "profile", "calls", "baseline_calls", "warmup", "timeout", "settle", "idle", "operations",
    "instructors", "courses", "learners", "seed", "baseline_ref",
)  # fmt: skip


# --- the command ------------------------------------------------------------------------------------------


# A courses replica reads the whole catalog again 30 s after it starts (ADR 0025): idle CPU is measured
# after that, or the read counts as idle and is taken off every request's CPU.
SETTLE_SECONDS = 45.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--profile", choices=("dev", "test"), default="dev")
    parser.add_argument("--checkout", default=str(REPO), help="the checkout to measure (default: this one)")
    parser.add_argument("--baseline-ref", help="measure this git ref first (a worktree in the cache)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per operation")
    parser.add_argument("--baseline-calls", type=int, default=10, help="timed calls of the baseline")
    parser.add_argument("--warmup", type=int, default=3, help="calls per operation before the timed ones")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a call is an error")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, help="seconds to wait once up")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measurement then")
    parser.add_argument("--start-timeout", type=float, default=600.0, help="seconds for the stack to start")
    parser.add_argument("--max-errors", type=int, default=0, help="errors allowed per operation")
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="comma-separated subset")
    parser.add_argument("--instructors", type=int, default=50)
    parser.add_argument("--courses", type=int, default=500)
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-dir", help="keep the seed and stack logs here (default: discarded)")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny catalog, two timed calls of each operation, no settling"
    )
    parser.add_argument(
        "--json", nargs="?", const="-", help="write the report as JSON to this file (no file: stdout)"
    )
    args = parser.parse_args()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    args.operations = [name.strip() for name in args.operations.split(",") if name.strip()]
    unknown = set(args.operations) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations {', '.join(sorted(unknown))}; known: {', '.join(OPERATIONS)}")
    if min(args.calls, args.baseline_calls, args.instructors, args.learners) < 1 or args.warmup < 0:
        parser.error("--calls, --baseline-calls, --instructors, --learners >= 1 and --warmup >= 0, please")

    # With the JSON on stdout, the tables go to stderr.
    to_stderr = args.json == "-"
    console = Console(
        stderr=to_stderr, width=None if (sys.stderr if to_stderr else sys.stdout).isatty() else 180
    )
    progress = Console(stderr=True)

    def say(message: str) -> None:
        progress.print(f"[dim]{message}[/dim]")

    load_before = os.getloadavg()
    checkouts: list[tuple[Checkout, str, int]] = []
    if args.baseline_ref:
        baseline = open_checkout(worktree(args.baseline_ref, say), say)
        checkouts.append((baseline, f"baseline {args.baseline_ref}", args.baseline_calls))
    checkouts.append((open_checkout(Path(args.checkout), say), CURRENT, args.calls))
    with ExitStack() as cleanup:
        started = [
            start_run(checkout, label, calls, args, say, cleanup) for checkout, label, calls in checkouts
        ]
        measure_runs(started, args, say)
        runs = [report_of(run) for run in started]

    report: dict[str, Any] = {
        "scenario": "operations",
        "command": "uv run python bench/operations.py " + " ".join(sys.argv[1:]),
        "config": {key: getattr(args, key) for key in CONFIG},
        "search_text": SEARCH_TEXT,
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "machine": machine(),
        "runs": runs,
        "ratios": ratios(runs[0], runs[1]) if len(runs) == 2 else [],
    }
    for run in runs:
        print_run(run, console)
    if report["ratios"]:
        print_ratios(report["ratios"], console)
    config = report["config"]
    console.print(
        f"{args.profile} profile; {config['courses']} courses, {config['instructors']} instructors, "
        f"{config['learners']} learners (--seed {config['seed']}); one call at a time, {args.warmup} warm-up "
        f"calls per operation; load average (1 min) before {load_before[0]:.2f}, after "
        f"{report['load_average']['after']:.2f}"
    )
    if args.json:
        write_report(report, args.json)

    over = [
        f"{run['label']}: {r['operation']} ({r['errors']} of {r['calls']})"
        for run in runs
        for r in run["results"]
        if r["errors"] > args.max_errors
    ]
    if over:
        progress.print(f"[red bold]errors over --max-errors {args.max_errors}: {'; '.join(over)}[/red bold]")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
