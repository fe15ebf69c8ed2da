// Learner pages: the catalog, a course (enroll, lessons, live progress, quizzes, deadlines, grades,
// announcements, certificate), my learning (enrollments, deadlines, email preferences), a certificate.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import * as ops from './operations.js';
import { ErrorBox, Loading, ProgressBar, useAction, useLoad, when } from './ui.js';

const PAGE = 12;

export function Catalog() {
  const [search, setSearch] = useState('');
  const [applied, setApplied] = useState('');
  const [cursors, setCursors] = useState([null]); // the `after` of each page seen: Previous pops one
  const after = cursors[cursors.length - 1];
  const page = useLoad(
    () => api.query(ops.CATALOG, { first: PAGE, after, filter: applied ? { search: applied } : null }).then((d) => d.courses),
    [after, applied],
  );
  const submit = (event) => {
    event.preventDefault();
    setCursors([null]);
    setApplied(search.trim());
  };
  const courses = page.data;
  return html`<h1 tabindex="-1">Course catalog</h1>
    <form role="search" class="row" onSubmit=${submit}>
      <label for="catalog-search">Search courses</label>
      <input id="catalog-search" type="search" value=${search} onInput=${(e) => setSearch(e.target.value)} />
      <button>Search</button>
    </form>
    <${ErrorBox} error=${page.error} />
    ${!courses && !page.error && html`<${Loading} what="courses" />`}
    ${courses && html`<p class="muted" aria-live="polite">${courses.totalCount} courses${applied ? ` matching “${applied}”` : ''}, page ${cursors.length}</p>
      <ul class="cards">${courses.edges.map(({ node }) => html`<li class="card" key=${node.id}>
        <h2><a href=${`#/courses/${node.id}`}>${node.title}</a></h2>
        <p>${node.description}</p>
        <p class="muted">${node.instructor.name} · ${node.lessonCount} lessons · ${node.enrollmentCount} enrolled${node.status !== 'PUBLISHED' ? ` · ${node.status.toLowerCase()}` : ''}</p>
      </li>`)}</ul>
      <nav class="row" aria-label="Catalog pages">
        <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
        <button type="button" disabled=${!courses.pageInfo.hasNextPage} onClick=${() => setCursors([...cursors, courses.pageInfo.endCursor])}>Next page</button>
      </nav>`}`;
}

/** The learner's progress as `enrollmentProgress` tells it: it moves without a reload. */
function LiveProgress({ courseId, initial, onUpdate }) {
  const [enrollment, setEnrollment] = useState(initial);
  const [error, setError] = useState(null);
  useEffect(() => api.subscribe(ops.ENROLLMENT_PROGRESS, { courseId }, (data) => {
    setEnrollment(data.enrollmentProgress);
    onUpdate(data.enrollmentProgress);
  }, setError), [courseId]);
  return html`<section aria-labelledby="progress-title">
    <h2 id="progress-title">Your progress</h2>
    <${ProgressBar} value=${enrollment.progress} label="Course progress" />
    ${enrollment.status === 'COMPLETED' && html`<p class="success">Course completed ${when(enrollment.completedAt)}.</p>`}
    <${ErrorBox} error=${error} />
  </section>`;
}

export function CoursePage({ id }) {
  const course = useLoad(() => api.query(ops.COURSE, { id }).then((d) => d.course), [id]);
  const action = useAction();
  const [enrollment, setEnrollment] = useState(null);
  useEffect(() => setEnrollment(course.data?.viewerEnrollment ?? null), [course.data]);
  if (course.error) return html`<h1 tabindex="-1">Course</h1><${ErrorBox} error=${course.error} />`;
  if (!course.data) return html`<h1 tabindex="-1">Course</h1><${Loading} what="the course" />`;
  const c = course.data;
  const done = new Set(enrollment?.completedLessonIds ?? []);
  const enroll = () => action.run(async () => {
    const payload = api.checkPayload((await api.mutate(ops.ENROLL, { courseId: id })).enroll);
    setEnrollment(payload.enrollment);
    course.reload();
  });
  const complete = (lessonId) => action.run(async () => {
    const payload = api.checkPayload((await api.mutate(ops.COMPLETE_LESSON, { courseId: id, lessonId })).completeLesson);
    // The lesson's mark from the answer; the bar moves with the subscription.
    setEnrollment((old) => ({ ...old, completedLessonIds: payload.enrollment.completedLessonIds, certificate: payload.enrollment.certificate }));
  });
  const merge = (update) => setEnrollment((old) => ({ ...old, ...update }));
  const manages = c.viewerRole === 'TEACHING_ASSISTANT' || (api.user && (api.user.role === 'ADMIN' || c.instructor.id === api.user.id));
  return html`<h1 tabindex="-1">${c.title}</h1>
    <p class="muted">By ${c.instructor.name} · ${c.lessonCount} lessons · ${c.status.toLowerCase()}</p>
    <p>${c.description}</p>
    ${manages && html`<p><a href=${`#/teach/${c.id}`}>Manage this course</a></p>`}
    <${ErrorBox} error=${action.error} />
    ${!enrollment && c.status === 'PUBLISHED' && html`<button type="button" class="primary" disabled=${action.busy} onClick=${enroll}>Enroll</button>`}
    ${enrollment && html`<${LiveProgress} key=${enrollment.id} courseId=${id} initial=${enrollment} onUpdate=${merge} />`}
    ${enrollment?.certificate && html`<section class="card success" aria-labelledby="cert-title">
      <h2 id="cert-title">Certificate</h2>
      <p>Certificate code <code>${enrollment.certificate.code}</code>, issued ${when(enrollment.certificate.issuedAt)}.${' '}
        <a href=${`#/certificates/${encodeURIComponent(enrollment.certificate.code)}`}>View certificate</a></p>
    </section>`}
    <section aria-labelledby="lessons-title">
      <h2 id="lessons-title">Lessons</h2>
      ${c.modules.map((module) => html`<section class="module" key=${module.id} aria-label=${module.title}>
        <h3>${module.title}</h3>
        <ol>${module.lessons.map((lesson) => html`<li key=${lesson.id} class="lesson">
          <details><summary>${lesson.title}${done.has(lesson.id) ? ' (completed)' : ''}</summary>
            <div class="lesson-content">${lesson.content ?? html`<span class="muted">Enroll to read this lesson.</span>`}</div>
          </details>
          ${enrollment && (done.has(lesson.id)
            ? html`<span class="done">Completed</span>`
            : html`<button type="button" disabled=${action.busy} onClick=${() => complete(lesson.id)}>Mark <span class="sr-only">“${lesson.title}” </span>complete</button>`)}
        </li>`)}</ol>
      </section>`)}
    </section>
    ${c.assessments.length > 0 && html`<section aria-labelledby="quizzes-title"><h2 id="quizzes-title">Quizzes</h2>
      <ul>${c.assessments.map((a) => html`<li key=${a.id}><a href=${`#/quiz/${a.id}`}>${a.title}</a>
        <span class="muted"> · ${a.questionCount} questions · pass at ${a.passingScore}%${a.timeLimitSeconds ? ` · ${Math.round(a.timeLimitSeconds / 60)} min` : ''}${a.requiredForCompletion ? ' · required' : ''}</span></li>`)}</ul>
    </section>`}
    ${c.deadlines.length > 0 && html`<section aria-labelledby="deadlines-title"><h2 id="deadlines-title">Deadlines</h2>
      <ul>${c.deadlines.map((d) => html`<li key=${d.id}>${d.title}: due ${when(d.dueAt)}${d.extended ? ' (extended)' : ''}</li>`)}</ul>
    </section>`}
    ${c.viewerGrades && html`<section aria-labelledby="grades-title"><h2 id="grades-title">Grades</h2>
      <p>Course grade: ${c.viewerGrades.courseGrade == null ? 'none yet' : `${c.viewerGrades.courseGrade.toFixed(1)}%`}</p>
      <table><caption class="sr-only">Your grades</caption>
        <thead><tr><th scope="col">Quiz</th><th scope="col">Score</th><th scope="col">Status</th><th scope="col">Attempts</th></tr></thead>
        <tbody>${c.viewerGrades.cells.map((cell) => html`<tr key=${cell.assessment.id}><th scope="row">${cell.assessment.title}</th>
          <td>${cell.score == null ? '–' : `${cell.score}%`}</td><td>${cell.status.toLowerCase()}</td><td>${cell.attempts}</td></tr>`)}</tbody>
      </table></section>`}
    <section aria-labelledby="news-title"><h2 id="news-title">Announcements</h2>
      ${c.announcements.edges.length === 0 ? html`<p class="muted">No announcements.</p>` : c.announcements.edges.map(({ node }) => html`<article class="card" key=${node.id}>
        <h3>${node.title}</h3><p class="muted">${node.author.name}, ${when(node.postedAt)}</p>
        <div dangerouslySetInnerHTML=${{ __html: node.bodyHtml /* sanitised by the API (allow-list) */ }}></div></article>`)}
    </section>`;
}

export function MyPage() {
  const me = useLoad(() => api.query(ops.ME).then((d) => d.me), []);
  const save = useAction();
  const [saved, setSaved] = useState(false);
  if (me.error) return html`<h1 tabindex="-1">My learning</h1><${ErrorBox} error=${me.error} />`;
  if (!me.data) return html`<h1 tabindex="-1">My learning</h1><${Loading} what="your learning" />`;
  const m = me.data;
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const preferences = m.notificationPreferences.filter((p) => !p.essential)
      .map((p) => ({ category: p.category, subscribed: form.has(p.category) }));
    setSaved(false);
    save.run(async () => {
      const payload = api.checkPayload((await api.mutate(ops.UPDATE_NOTIFICATION_PREFERENCES, { userId: m.id, preferences })).updateNotificationPreferences);
      me.setData({ ...m, notificationPreferences: payload.preferences });
      setSaved(true);
    });
  };
  return html`<h1 tabindex="-1">My learning</h1>
    <section aria-labelledby="enrolled-title"><h2 id="enrolled-title">My courses</h2>
      ${m.enrollments.edges.length === 0 ? html`<p>Not enrolled yet: <a href="#/">find a course</a>.</p>` : html`<ul>
        ${m.enrollments.edges.map(({ node }) => html`<li key=${node.id}><a href=${`#/courses/${node.course?.id}`}>${node.course?.title ?? 'A course'}</a>${' '}
          · ${Math.round(node.progress)}% · ${node.status.toLowerCase()}${node.certificate ? html` · <a href=${`#/certificates/${encodeURIComponent(node.certificate.code)}`}>certificate</a>` : ''}</li>`)}
      </ul>`}
    </section>
    <section aria-labelledby="due-title"><h2 id="due-title">Upcoming deadlines</h2>
      ${m.upcomingDeadlines.length === 0 ? html`<p class="muted">Nothing due.</p>` : html`<ul>${m.upcomingDeadlines.map((u) => html`<li key=${u.deadline.id}>
        <a href=${`#/courses/${u.course.id}`}>${u.course.title}</a>: ${u.deadline.title}, due ${when(u.deadline.dueAt)}${u.deadline.extended ? ' (extended)' : ''}</li>`)}</ul>`}
      ${m.calendarFeedUrl && html`<p>Calendar feed (iCalendar): <input aria-label="Calendar feed URL" readonly value=${m.calendarFeedUrl} size="50" /></p>`}
    </section>
    <section aria-labelledby="email-title"><h2 id="email-title">Email notifications</h2>
      <form onSubmit=${submit}><fieldset><legend>Send me emails about</legend>
        ${m.notificationPreferences.map((p) => html`<div key=${p.category}>
          <input type="checkbox" id=${`pref-${p.category}`} name=${p.category} checked=${p.subscribed} disabled=${p.essential} />
          <label for=${`pref-${p.category}`}>${p.category.toLowerCase()}${p.essential ? ' (always sent)' : ''}</label></div>`)}
      </fieldset>
      <button class="primary" disabled=${save.busy}>Save preferences</button>
      <span aria-live="polite">${saved ? ' Saved.' : ''}</span></form>
      <${ErrorBox} error=${save.error} />
    </section>`;
}

export function Certificate({ code }) {
  const cert = useLoad(() => api.query(ops.VERIFY_CERTIFICATE, { code }).then((d) => d.verifyCertificate), [code]);
  return html`<h1 tabindex="-1">Certificate</h1>
    <${ErrorBox} error=${cert.error} />
    ${!cert.loaded && html`<${Loading} what="the certificate" />`}
    ${cert.loaded && !cert.error && !cert.data && html`<p role="alert">No certificate has the code <code>${code}</code>.</p>`}
    ${cert.data && html`<article class="card certificate">
      <p>This certifies that</p><p class="big">${cert.data.holder.name}</p>
      <p>completed <strong>${cert.data.course?.title ?? 'a course'}</strong> on ${when(cert.data.issuedAt)}.</p>
      <p class="muted">Verification code <code>${cert.data.code}</code></p>
      <button type="button" onClick=${() => print()}>Print or save as PDF</button></article>`}`;
}
