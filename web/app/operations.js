// Every GraphQL operation of the web app, and nothing else: tests/unit/test_web_operations.py validates
// each against the public schema (router/supergraph.graphql less its @inaccessible fields).

const USER_ERRORS = 'errors { code field message }';
const ENROLLMENT = 'id progress status completedAt completedLessonIds certificate { code issuedAt }';
const COURSE_CARD = 'id title description status lessonCount enrollmentCount instructor { id name }';

export const AUTH_PROVIDERS = `query AuthProviders { authProviders { googleClientId githubClientId devSignIn } }`;

const TOKENS = 'accessToken refreshToken expiresIn user { id name email role }';
export const DEV_SIGN_IN = `mutation DevSignIn($email: String!, $name: String!) {
  devSignIn(email: $email, name: $name) { ${TOKENS} } }`;
export const SIGN_IN_WITH_GOOGLE = `mutation SignInWithGoogle($input: OAuthSignInInput!) {
  signInWithGoogle(input: $input) { ${TOKENS} } }`;
export const SIGN_IN_WITH_GITHUB = `mutation SignInWithGithub($input: OAuthSignInInput!) {
  signInWithGithub(input: $input) { ${TOKENS} } }`;
export const REFRESH_TOKEN = `mutation RefreshToken($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { ${TOKENS} } }`;
export const SIGN_OUT = `mutation SignOut($refreshToken: String!) { signOut(refreshToken: $refreshToken) }`;

export const CATALOG = `query Catalog($first: Int!, $after: String, $filter: CourseFilter) {
  courses(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { ${COURSE_CARD} } }
  } }`;

export const COURSE = `query Course($id: ID!) {
  course(id: $id) {
    ${COURSE_CARD} viewerRole
    modules { id title order lessons { id title order content mediaUrl } }
    assessments { id title moduleId passingScore timeLimitSeconds maxAttempts questionCount requiredForCompletion }
    viewerEnrollment { ${ENROLLMENT} }
    deadlines { id target targetId title dueAt extended }
    viewerGrades { courseGrade cells { assessment { id title maxScore } score status attempts } }
    announcements(first: 10) { totalCount edges { node { id title bodyHtml postedAt author { name } } } }
  } }`;

export const ENROLL = `mutation Enroll($courseId: ID!) {
  enroll(courseId: $courseId) { enrollment { ${ENROLLMENT} } ${USER_ERRORS} } }`;
export const COMPLETE_LESSON = `mutation CompleteLesson($courseId: ID!, $lessonId: ID!) {
  completeLesson(courseId: $courseId, lessonId: $lessonId) { enrollment { ${ENROLLMENT} } ${USER_ERRORS} } }`;
export const ENROLLMENT_PROGRESS = `subscription EnrollmentProgress($courseId: ID!) {
  enrollmentProgress(courseId: $courseId) { ${ENROLLMENT} } }`;

const QUESTION = 'id type prompt points choices { id text } matchPrompts { id text }';
const RESULT = 'attemptId attemptNumber score maxScore percent passed submittedAt revealed';
const ATTEMPT = `id number status startedAt deadline submittedAt questions { ${QUESTION} }
  answers { questionId optionIds value text number orderedIds pairs { leftId rightId } } result { ${RESULT} }`;
export const ASSESSMENT = `query Assessment($id: ID!) {
  assessment(id: $id) {
    id title instructions passingScore timeLimitSeconds maxAttempts questionCount maxScore
    course { id title }
    viewerAttempts { id number status submittedAt result { ${RESULT} } }
  } }`;
export const START_ATTEMPT = `mutation StartAttempt($assessmentId: ID!) {
  startAttempt(assessmentId: $assessmentId) { attempt { ${ATTEMPT} } ${USER_ERRORS} } }`;
export const SAVE_ANSWERS = `mutation SaveAnswers($attemptId: ID!, $answers: [AnswerInput!]!) {
  saveAnswers(attemptId: $attemptId, answers: $answers) { attempt { id answers { questionId } } ${USER_ERRORS} } }`;
export const SUBMIT_ASSESSMENT = `mutation SubmitAssessment($attemptId: ID!, $answers: [AnswerInput!]) {
  submitAssessment(attemptId: $attemptId, answers: $answers) { attempt { id status result { ${RESULT} } } ${USER_ERRORS} } }`;

export const ME = `query Me {
  me {
    id name email role calendarFeedUrl
    enrollments(first: 50) { edges { node { ${ENROLLMENT} course { id title } } } }
    upcomingDeadlines(first: 20) { deadline { id title dueAt extended } course { id title } }
    notificationPreferences { category subscribed essential }
  } }`;
export const UPDATE_NOTIFICATION_PREFERENCES = `mutation UpdateNotificationPreferences(
  $userId: ID!, $preferences: [NotificationPreferenceInput!]!) {
  updateNotificationPreferences(userId: $userId, preferences: $preferences) {
    preferences { category subscribed essential } ${USER_ERRORS} } }`;
export const VERIFY_CERTIFICATE = `query VerifyCertificate($code: String!) {
  verifyCertificate(code: $code) { code issuedAt holder { name } course { id title } } }`;

// Instructors
export const TEACHING = `query Teaching {
  me { id coursesTeaching(first: 50) { edges { node { id title status enrollmentCount } } } } }`;
const OUTLINE = 'id title description status modules { id title lessons { id title content mediaUrl } }';
export const CREATE_COURSE = `mutation CreateCourse($input: CreateCourseInput!) {
  createCourse(input: $input) { course { ${OUTLINE} } ${USER_ERRORS} } }`;
export const UPDATE_COURSE = `mutation UpdateCourse($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { ${OUTLINE} } ${USER_ERRORS} } }`;
export const PUBLISH_COURSE = `mutation PublishCourse($id: ID!) {
  publishCourse(id: $id) { course { ${OUTLINE} } ${USER_ERRORS} } }`;
export const COURSE_OUTLINE = `query CourseOutline($id: ID!) { course(id: $id) { ${OUTLINE} viewerRole } }`;
export const ROSTER = `query Roster($id: ID!, $first: Int!, $after: String) {
  course(id: $id) { id title roster(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { role user { id name email } enrollment { progress status } } } } } }`;
export const GRADEBOOK = `query Gradebook($id: ID!, $first: Int!, $after: String) {
  course(id: $id) { id title gradebook(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } assessments { id title maxScore weight }
    edges { node { courseGrade learner { id name } cells { assessment { id } score status } } } } } }`;
export const POST_ANNOUNCEMENT = `mutation PostAnnouncement($courseId: ID!, $input: AnnouncementInput!) {
  postAnnouncement(courseId: $courseId, input: $input) { announcement { id title postedAt } ${USER_ERRORS} } }`;
export const ANNOUNCEMENTS = `query Announcements($id: ID!) {
  course(id: $id) { id announcements(first: 20) { edges { node { id title bodyHtml postedAt author { name } } } } } }`;
export const COURSE_ACTIVITY = `subscription CourseActivity($courseId: ID!) {
  courseActivity(courseId: $courseId) {
    id kind occurredAt courseId learner { id name } lessonId progress assessmentId score passed missed } }`;
