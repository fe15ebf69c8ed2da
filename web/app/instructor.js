// Instructor pages: my courses, the course editor, roster with CSV import, gradebook with CSV export,
// announcements and the live activity of a course.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import * as ops from './operations.js';
import { ErrorBox, Loading, useAction, useLoad, when } from './ui.js';

function Tabs({ id, title }) {
  const here = location.hash;
  const tab = (path, label) => html`<a href=${`#/teach/${id}${path}`} aria-current=${here === `#/teach/${id}${path}` ? 'page' : undefined}>${label}</a>`;
  return html`<nav class="tabs" aria-label=${`Manage ${title ?? 'the course'}`}>
    ${tab('', 'Editor')}${tab('/roster', 'Roster')}${tab('/gradebook', 'Gradebook')}
    ${tab('/announcements', 'Announcements')}${tab('/activity', 'Live activity')}
    <a href=${`#/courses/${id}`}>Course page</a></nav>`;
}

export function Teaching() {
  const mine = useLoad(() => api.query(ops.TEACHING).then((d) => d.me.coursesTeaching.edges.map((e) => e.node)), []);
  const action = useAction();
  const [title, setTitle] = useState('');
  const create = (event) => {
    event.preventDefault();
    action.run(async () => {
      const payload = api.checkPayload((await api.mutate(ops.CREATE_COURSE, { input: { title, description: '', modules: [] } })).createCourse);
      location.hash = `#/teach/${payload.course.id}`;
    });
  };
  return html`<h1 tabindex="-1">Teaching</h1>
    <form class="row" onSubmit=${create}><label for="new-title">New course title</label>
      <input id="new-title" required value=${title} onInput=${(e) => setTitle(e.target.value)} />
      <button class="primary" disabled=${action.busy}>Create course</button></form>
    <${ErrorBox} error=${action.error || mine.error} />
    ${!mine.loaded && html`<${Loading} what="your courses" />`}
    ${mine.data && html`<ul>${mine.data.map((c) => html`<li key=${c.id}><a href=${`#/teach/${c.id}`}>${c.title}</a>
      <span class="muted"> · ${c.status.toLowerCase()} · ${c.enrollmentCount} enrolled</span></li>`)}</ul>`}`;
}

/** The outline as ModuleInput: ids kept, so learners' completions stay with their lessons. */
const outlineInput = (modules) => modules.map((m) => ({ id: m.id, title: m.title,
  lessons: m.lessons.map((l) => ({ id: l.id, title: l.title, content: l.content ?? '', mediaUrl: l.mediaUrl })) }));

export function CourseEditor({ id }) {
  const course = useLoad(() => api.query(ops.COURSE_OUTLINE, { id }).then((d) => d.course), [id]);
  const action = useAction();
  const [draft, setDraft] = useState(null);
  const [saved, setSaved] = useState('');
  useEffect(() => course.data && setDraft({ title: course.data.title, description: course.data.description, modules: outlineInput(course.data.modules) }), [course.data]);
  if (course.error) return html`<h1 tabindex="-1">Course editor</h1><${ErrorBox} error=${course.error} />`;
  if (!course.data || !draft) return html`<h1 tabindex="-1">Course editor</h1><${Loading} what="the course" />`;
  const edit = (change) => setDraft((old) => change(structuredClone(old)));
  const save = (event) => {
    event.preventDefault();
    setSaved('');
    action.run(async () => {
      const payload = api.checkPayload((await api.mutate(ops.UPDATE_COURSE, { id, input: draft })).updateCourse);
      course.setData(payload.course);
      setSaved('Saved.');
    });
  };
  const publish = () => action.run(async () => {
    course.setData(api.checkPayload((await api.mutate(ops.PUBLISH_COURSE, { id })).publishCourse).course);
    setSaved('Published.');
  });
  return html`<h1 tabindex="-1">Edit “${course.data.title}”</h1>
    <${Tabs} id=${id} title=${course.data.title} />
    <p>Status: <strong>${course.data.status.toLowerCase()}</strong>
      ${course.data.status === 'DRAFT' && html` <button type="button" class="primary" disabled=${action.busy} onClick=${publish}>Publish</button>`}</p>
    <${ErrorBox} error=${action.error} />
    <form class="stack" onSubmit=${save}>
      <label for="course-title">Title</label>
      <input id="course-title" required value=${draft.title} onInput=${(e) => edit((d) => { d.title = e.target.value; return d; })} />
      <label for="course-description">Description</label>
      <textarea id="course-description" rows="3" value=${draft.description} onInput=${(e) => edit((d) => { d.description = e.target.value; return d; })}></textarea>
      ${draft.modules.map((m, mi) => html`<fieldset key=${m.id ?? `new-${mi}`}><legend>Module ${mi + 1}</legend>
        <label for=${`module-${mi}`}>Module title</label>
        <input id=${`module-${mi}`} required value=${m.title} onInput=${(e) => edit((d) => { d.modules[mi].title = e.target.value; return d; })} />
        ${m.lessons.map((l, li) => html`<div class="lesson-edit" key=${l.id ?? `new-${li}`}>
          <label for=${`lesson-${mi}-${li}`}>Lesson ${li + 1} title</label>
          <input id=${`lesson-${mi}-${li}`} required value=${l.title} onInput=${(e) => edit((d) => { d.modules[mi].lessons[li].title = e.target.value; return d; })} />
          <label for=${`lesson-${mi}-${li}-content`}>Lesson ${li + 1} content</label>
          <textarea id=${`lesson-${mi}-${li}-content`} rows="2" value=${l.content} onInput=${(e) => edit((d) => { d.modules[mi].lessons[li].content = e.target.value; return d; })}></textarea>
        </div>`)}
        <button type="button" onClick=${() => edit((d) => { d.modules[mi].lessons.push({ title: `Lesson ${m.lessons.length + 1}`, content: '', mediaUrl: null }); return d; })}>Add a lesson</button>
      </fieldset>`)}
      <div class="row">
        <button type="button" onClick=${() => edit((d) => { d.modules.push({ title: `Module ${d.modules.length + 1}`, lessons: [] }); return d; })}>Add a module</button>
        <button class="primary" disabled=${action.busy}>Save course</button>
        <span aria-live="polite">${saved}</span>
      </div>
    </form>`;
}

export function Roster({ id }) {
  const [after, setAfter] = useState(null);
  const roster = useLoad(() => api.query(ops.ROSTER, { id, first: 50, after }).then((d) => d.course), [id, after]);
  const action = useAction();
  const [report, setReport] = useState(null);
  const upload = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const file = form.get('csv');
    const text = String(form.get('pasted') ?? '');
    action.run(async () => {
      const body = file && file.size ? file : text;
      setReport(await api.rest('POST', `/courses/${encodeURIComponent(id)}/roster/import`, { body, contentType: 'text/csv' }));
      roster.reload();
    });
  };
  const page = roster.data?.roster;
  return html`<h1 tabindex="-1">Roster${roster.data ? ` of “${roster.data.title}”` : ''}</h1>
    <${Tabs} id=${id} title=${roster.data?.title} />
    <section aria-labelledby="import-title"><h2 id="import-title">Import learners (CSV)</h2>
      <form class="stack" onSubmit=${upload}>
        <label for="roster-file">A CSV file: one email or user id per row</label>
        <input id="roster-file" name="csv" type="file" accept=".csv,text/csv" />
        <label for="roster-pasted">Or paste the rows</label>
        <textarea id="roster-pasted" name="pasted" rows="4"></textarea>
        <button class="primary" disabled=${action.busy}>Import</button>
      </form>
      <${ErrorBox} error=${action.error} />
      ${report && html`<div role="status" class="card"><p>${`${report.rows} rows: ${report.enrolled} enrolled, ${report.already_enrolled} already enrolled, ${report.unknown_users} unknown, ${report.invalid} invalid.`}</p>
        ${report.problems.length > 0 && html`<ul>${report.problems.map((p) => html`<li key=${p.line}>Line ${p.line} (${p.entry}): ${p.reason}</li>`)}</ul>`}</div>`}
    </section>
    <section aria-labelledby="learners-title"><h2 id="learners-title">Learners</h2>
      <${ErrorBox} error=${roster.error} />
      ${!roster.loaded && html`<${Loading} what="the roster" />`}
      ${page && html`<p class="muted">${page.totalCount} on the roster</p>
        <table><thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Progress</th><th scope="col">Status</th></tr></thead>
        <tbody>${page.edges.map(({ node }) => html`<tr key=${node.user.id}><th scope="row">${node.user.name}</th><td>${node.user.email ?? ''}</td>
          <td>${node.role.toLowerCase().replace('_', ' ')}</td><td>${Math.round(node.enrollment.progress)}%</td><td>${node.enrollment.status.toLowerCase()}</td></tr>`)}</tbody></table>
        <div class="row"><button type="button" disabled=${!after} onClick=${() => setAfter(null)}>First page</button>
          <button type="button" disabled=${!page.pageInfo.hasNextPage} onClick=${() => setAfter(page.pageInfo.endCursor)}>Next page</button></div>`}
    </section>`;
}

export function Gradebook({ id }) {
  const [after, setAfter] = useState(null);
  const book = useLoad(() => api.query(ops.GRADEBOOK, { id, first: 50, after }).then((d) => d.course), [id, after]);
  const action = useAction();
  const exportCsv = () => action.run(async () => {
    const response = await api.rest('GET', `/courses/${encodeURIComponent(id)}/gradebook.csv`);
    const link = document.createElement('a');
    link.href = URL.createObjectURL(await response.blob());
    link.download = `gradebook-${id}.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
  const page = book.data?.gradebook;
  return html`<h1 tabindex="-1">Gradebook${book.data ? ` of “${book.data.title}”` : ''}</h1>
    <${Tabs} id=${id} title=${book.data?.title} />
    <button type="button" disabled=${action.busy} onClick=${exportCsv}>Export CSV</button>
    <${ErrorBox} error=${action.error || book.error} />
    ${book.data && !page && html`<p role="alert">The gradebook is for the course's instructors and teaching assistants.</p>`}
    ${!book.loaded && html`<${Loading} what="the gradebook" />`}
    ${page && html`<table><caption>${page.totalCount} learners</caption>
      <thead><tr><th scope="col">Learner</th>${page.assessments.map((a) => html`<th scope="col" key=${a.id}>${a.title} <span class="muted">(weight ${a.weight})</span></th>`)}<th scope="col">Course grade</th></tr></thead>
      <tbody>${page.edges.map(({ node }) => {
        const cells = Object.fromEntries(node.cells.map((c) => [c.assessment.id, c]));
        return html`<tr key=${node.learner.id}><th scope="row">${node.learner.name}</th>
          ${page.assessments.map((a) => html`<td key=${a.id}>${cells[a.id]?.score == null ? '–' : `${cells[a.id].score}%`} <span class="muted">${cells[a.id]?.status.toLowerCase() ?? ''}</span></td>`)}
          <td>${node.courseGrade == null ? '–' : `${node.courseGrade.toFixed(1)}%`}</td></tr>`;
      })}</tbody></table>
      <div class="row"><button type="button" disabled=${!after} onClick=${() => setAfter(null)}>First page</button>
        <button type="button" disabled=${!page.pageInfo.hasNextPage} onClick=${() => setAfter(page.pageInfo.endCursor)}>Next page</button></div>`}`;
}

export function Announcements({ id }) {
  const list = useLoad(() => api.query(ops.ANNOUNCEMENTS, { id }).then((d) => d.course), [id]);
  const action = useAction();
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const post = (event) => {
    event.preventDefault();
    action.run(async () => {
      api.checkPayload((await api.mutate(ops.POST_ANNOUNCEMENT, { courseId: id, input: { title, body } })).postAnnouncement);
      setTitle('');
      setBody('');
      list.reload();
    });
  };
  return html`<h1 tabindex="-1">Announcements</h1>
    <${Tabs} id=${id} />
    <form class="stack" onSubmit=${post}>
      <label for="ann-title">Title</label><input id="ann-title" required value=${title} onInput=${(e) => setTitle(e.target.value)} />
      <label for="ann-body">Message (Markdown)</label><textarea id="ann-body" required rows="4" value=${body} onInput=${(e) => setBody(e.target.value)}></textarea>
      <button class="primary" disabled=${action.busy}>Post to learners</button>
    </form>
    <${ErrorBox} error=${action.error || list.error} />
    ${list.data && list.data.announcements.edges.map(({ node }) => html`<article class="card" key=${node.id}><h2>${node.title}</h2>
      <p class="muted">${node.author.name}, ${when(node.postedAt)}</p>
      <div dangerouslySetInnerHTML=${{ __html: node.bodyHtml /* sanitised by the API */ }}></div></article>`)}`;
}

const KIND_TEXT = {
  ENROLLED: 'enrolled', UNENROLLED: 'left the course', LESSON_COMPLETED: 'completed a lesson',
  PROGRESS_UPDATED: 'progressed', COURSE_COMPLETED: 'completed the course',
  ASSESSMENT_SUBMITTED: 'submitted a quiz', ASSESSMENT_COMPLETED: 'finished a quiz',
};

function describe(event) {
  const parts = [`${event.learner.name} ${KIND_TEXT[event.kind] ?? event.kind.toLowerCase()}`];
  if (event.progress != null) parts.push(`progress ${Math.round(event.progress)}%`);
  if (event.score != null) parts.push(`score ${Math.round(event.score)}%`);
  if (event.passed != null) parts.push(event.passed ? 'passed' : 'not passed');
  return parts.join(' · ');
}

const FEED_MAX = 200; // the view keeps the newest events only

export function Activity({ id }) {
  const [events, setEvents] = useState([]);
  const [missed, setMissed] = useState(0);
  const [error, setError] = useState(null);
  useEffect(() => api.subscribe(ops.COURSE_ACTIVITY, { courseId: id }, (data) => {
    const event = data.courseActivity;
    setMissed((old) => old + event.missed); // dropped for this view since its previous event
    setEvents((old) => [event, ...old].slice(0, FEED_MAX));
  }, setError), [id]);
  return html`<h1 tabindex="-1">Live activity</h1>
    <${Tabs} id=${id} />
    <${ErrorBox} error=${error} />
    ${!error && html`<p class="muted">Live: learners' progress, completions and quiz results as they happen.</p>`}
    ${missed > 0 && html`<p role="status">${missed} updates were skipped while this view was behind.</p>`}
    <div role="log" aria-live="polite" aria-label="Course activity"><ol class="feed">
      ${events.map((e) => html`<li key=${e.id} data-kind=${e.kind}><time datetime=${e.occurredAt}>${new Date(e.occurredAt).toLocaleTimeString()}</time> ${describe(e)}</li>`)}
    </ol></div>`;
}
