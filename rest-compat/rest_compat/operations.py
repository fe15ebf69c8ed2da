"""The GraphQL operations behind the REST endpoints: one operation per endpoint."""

USER_FIELDS = "id email name provider role createdAt updatedAt"
TOKEN_FIELDS = f"accessToken refreshToken tokenType expiresIn user {{ {USER_FIELDS} }}"

SIGN_IN_WITH_GOOGLE = f"""
mutation SignInWithGoogle($input: OAuthSignInInput!) {{
  signInWithGoogle(input: $input) {{ {TOKEN_FIELDS} }}
}}"""

SIGN_IN_WITH_GITHUB = f"""
mutation SignInWithGithub($input: OAuthSignInInput!) {{
  signInWithGithub(input: $input) {{ {TOKEN_FIELDS} }}
}}"""

REFRESH = f"""
mutation Refresh($refreshToken: String!) {{
  refreshToken(refreshToken: $refreshToken) {{ {TOKEN_FIELDS} }}
}}"""

SIGN_OUT = """
mutation SignOut($refreshToken: String!) { signOut(refreshToken: $refreshToken) }"""

DEV_SIGN_IN = f"""
mutation DevSignIn($email: String!, $name: String!) {{
  devSignIn(email: $email, name: $name) {{ {TOKEN_FIELDS} }}
}}"""

USER = f"""
query User($id: ID!) {{ user(id: $id) {{ {USER_FIELDS} }} }}"""

UPDATE_USER = f"""
mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {{
  updateUser(id: $id, input: $input) {{
    user {{ {USER_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

USER_ROLES = """
query UserRoles($id: ID!) { user(id: $id) { id roles { role permissions } } }"""

# --- courses ------------------------------------------------------------------------------------------

COURSE_FIELDS = """
  id title description status lessonCount enrollmentCount createdAt updatedAt publishedAt
  instructor { id name }
  modules { id title order lessons { id title order content mediaUrl } }"""
ENROLLMENT_FIELDS = "id enrolledAt progress completedLessonIds status completedAt user { id } course { id }"

COURSES = f"""
query Courses($first: Int!, $after: String, $filter: CourseFilter) {{
  courses(first: $first, after: $after, filter: $filter) {{
    edges {{ node {{ {COURSE_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
    totalCount
  }}
}}"""

COURSE = f"""
query Course($id: ID!) {{ course(id: $id) {{ {COURSE_FIELDS} }} }}"""

CREATE_COURSE = f"""
mutation CreateCourse($input: CreateCourseInput!) {{
  createCourse(input: $input) {{
    course {{ {COURSE_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

ENROLL = f"""
mutation Enroll($courseId: ID!) {{
  enroll(courseId: $courseId) {{
    enrollment {{ {ENROLLMENT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""
