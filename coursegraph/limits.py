"""Limits stated in more than one place: the services enforce them, and rest-compat states them in its
OpenAPI document and refuses what is over them before the graph is asked (ADR 0028). Declared once here;
`tests/unit/test_codes.py` checks that the services enforce these numbers."""

# Every connection: `first` is 1 to this.
PAGE_MAX = 100

# Courses: a course's, a module's and a lesson's title, a course's description, a lesson's content and
# media URL, modules per course, lessons per module, and the catalog's search text.
TITLE_MAX = 200
DESCRIPTION_MAX = 5_000
CONTENT_MAX = 100_000
URL_MAX = 2_048
MODULES_MAX = 50
LESSONS_MAX = 100
SEARCH_MAX = 100

# Assessments: questions per assessment (so answers per attempt), options, ordering items or matching
# pairs per question (so per answer), and a text answer's length.
QUESTIONS_MAX = 200
ITEMS_MAX = 20
ANSWER_TEXT_MAX = 1_000

# Deadlines (issue 17): how far ahead a due time may be set, and at most how many upcoming deadlines one
# question answers.
DEADLINE_YEARS_AHEAD = 5
UPCOMING_DEADLINES_MAX = 100
# Gradebook: a grading policy's weight of one assessment (relative: 0 leaves it out of the average).
GRADE_WEIGHT_MAX = 1_000
# Announcements (issue 17): an announcement's title, and its Markdown body.
ANNOUNCEMENT_TITLE_MAX = 200
ANNOUNCEMENT_BODY_MAX = 20_000
# Rosters (issue 17): entries per `enrollUsers` call (and per users lookup it makes), characters in one
# row of a roster CSV, and teaching assistants per course.
ROSTER_BATCH_MAX = 500
ROSTER_ROW_MAX = 512
TEACHING_ASSISTANTS_MAX = 50
