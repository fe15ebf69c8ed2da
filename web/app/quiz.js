// A quiz: start (or resume) an attempt, answer with a timer, save, submit, see the result.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import * as ops from './operations.js';
import { ErrorBox, Loading, useAction, useLoad, when } from './ui.js';

/** The answers kept by question id, as AnswerInput (only the field of the question's type). */
function answersOf(attempt) {
  return Object.fromEntries(attempt.answers.map(({ questionId, ...rest }) => [questionId,
    Object.fromEntries(Object.entries(rest).filter(([, value]) => value != null))]));
}

const toInput = (answers) => Object.entries(answers)
  .filter(([, answer]) => Object.keys(answer).length > 0)
  .map(([questionId, answer]) => ({ questionId, ...answer }));

function secondsLeft(deadline) {
  return deadline ? Math.max(0, Math.round((new Date(deadline) - Date.now()) / 1000)) : null;
}

function Timer({ deadline, onExpired }) {
  const [left, setLeft] = useState(secondsLeft(deadline));
  useEffect(() => {
    const tick = setInterval(() => {
      const now = secondsLeft(deadline);
      setLeft(now);
      if (now === 0) {
        clearInterval(tick);
        onExpired();
      }
    }, 1000);
    return () => clearInterval(tick);
  }, [deadline]);
  if (left == null) return null;
  const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  // Announced once a minute and in the last ten seconds, not every second.
  return html`<p class="timer">Time left: <span aria-hidden="true">${text}</span>
    <span class="sr-only" aria-live="polite">${left % 60 === 0 || left <= 10 ? `${text} left` : ''}</span></p>`;
}

function QuestionField({ question, answer, onChange }) {
  const name = `q-${question.id}`;
  const prompt = html`<legend>${question.prompt} <span class="muted">(${question.points} points)</span></legend>`;
  switch (question.type) {
    case 'SINGLE_CHOICE':
    case 'MULTIPLE_CHOICE': {
      const multiple = question.type === 'MULTIPLE_CHOICE';
      const chosen = new Set(answer.optionIds ?? []);
      const toggle = (id, on) => {
        const next = multiple ? new Set(chosen) : new Set();
        if (on) next.add(id); else next.delete(id);
        onChange({ optionIds: [...next] });
      };
      return html`<fieldset>${prompt}${question.choices.map((choice) => html`<div key=${choice.id}>
        <input type=${multiple ? 'checkbox' : 'radio'} name=${name} id=${`${name}-${choice.id}`} checked=${chosen.has(choice.id)}
          onChange=${(e) => toggle(choice.id, e.target.checked)} />
        <label for=${`${name}-${choice.id}`}>${choice.text}</label></div>`)}</fieldset>`;
    }
    case 'TRUE_FALSE':
      return html`<fieldset>${prompt}${[true, false].map((value) => html`<div key=${String(value)}>
        <input type="radio" name=${name} id=${`${name}-${value}`} checked=${answer.value === value} onChange=${() => onChange({ value })} />
        <label for=${`${name}-${value}`}>${value ? 'True' : 'False'}</label></div>`)}</fieldset>`;
    case 'SHORT_TEXT':
      return html`<fieldset>${prompt}<label for=${name}>Your answer</label>
        <input id=${name} value=${answer.text ?? ''} onInput=${(e) => onChange({ text: e.target.value })} /></fieldset>`;
    case 'NUMERIC':
      return html`<fieldset>${prompt}<label for=${name}>Your answer (a number)</label>
        <input id=${name} type="number" step="any" value=${answer.number ?? ''}
          onInput=${(e) => onChange(e.target.value === '' ? {} : { number: Number(e.target.value) })} /></fieldset>`;
    case 'ORDERING': {
      const order = answer.orderedIds ?? question.choices.map((c) => c.id);
      const text = Object.fromEntries(question.choices.map((c) => [c.id, c.text]));
      const move = (index, by) => {
        const next = [...order];
        [next[index], next[index + by]] = [next[index + by], next[index]];
        onChange({ orderedIds: next });
      };
      return html`<fieldset>${prompt}<ol>${order.map((id, index) => html`<li key=${id}>${text[id]}
        <button type="button" disabled=${index === 0} onClick=${() => move(index, -1)}>Move <span class="sr-only">“${text[id]}” </span>up</button>
        <button type="button" disabled=${index === order.length - 1} onClick=${() => move(index, 1)}>Move <span class="sr-only">“${text[id]}” </span>down</button>
      </li>`)}</ol></fieldset>`;
    }
    case 'MATCHING': {
      const pairs = Object.fromEntries((answer.pairs ?? []).map((p) => [p.leftId, p.rightId]));
      const choose = (leftId, rightId) => {
        const next = { ...pairs, [leftId]: rightId };
        onChange({ pairs: Object.entries(next).filter(([, r]) => r).map(([l, r]) => ({ leftId: l, rightId: r })) });
      };
      return html`<fieldset>${prompt}${question.matchPrompts.map((left) => html`<div key=${left.id}>
        <label for=${`${name}-${left.id}`}>${left.text}</label>
        <select id=${`${name}-${left.id}`} value=${pairs[left.id] ?? ''} onChange=${(e) => choose(left.id, e.target.value)}>
          <option value="">Choose…</option>
          ${question.choices.map((right) => html`<option value=${right.id} key=${right.id}>${right.text}</option>`)}
        </select></div>`)}</fieldset>`;
    }
    default:
      return html`<p>This kind of question (${question.type}) cannot be answered here.</p>`;
  }
}

function Result({ result }) {
  return html`<section class=${`card ${result.passed ? 'success' : 'failure'}`} aria-labelledby="result-title" role="status">
    <h2 id="result-title">${result.passed ? 'Passed' : 'Not passed'}</h2>
    <p>Score ${result.score} of ${result.maxScore} (${result.percent.toFixed(1)}%), attempt ${result.attemptNumber}, submitted ${when(result.submittedAt)}.</p>
  </section>`;
}

export function Quiz({ id }) {
  const assessment = useLoad(() => api.query(ops.ASSESSMENT, { id }).then((d) => d.assessment), [id]);
  const action = useAction();
  const [attempt, setAttempt] = useState(null);
  const [answers, setAnswers] = useState({});
  const [saved, setSaved] = useState('');
  const [result, setResult] = useState(null);
  if (assessment.error) return html`<h1 tabindex="-1">Quiz</h1><${ErrorBox} error=${assessment.error} />`;
  if (!assessment.data) return html`<h1 tabindex="-1">Quiz</h1><${Loading} what="the quiz" />`;
  const a = assessment.data;
  const start = () => action.run(async () => {
    const payload = api.checkPayload((await api.mutate(ops.START_ATTEMPT, { assessmentId: id })).startAttempt);
    setAttempt(payload.attempt);
    setAnswers(answersOf(payload.attempt));
    setResult(null);
  });
  const save = () => action.run(async () => {
    api.checkPayload((await api.mutate(ops.SAVE_ANSWERS, { attemptId: attempt.id, answers: toInput(answers) })).saveAnswers);
    setSaved(`Answers saved at ${new Date().toLocaleTimeString()}.`);
  });
  const submit = () => action.run(async () => {
    const payload = api.checkPayload((await api.mutate(ops.SUBMIT_ASSESSMENT, { attemptId: attempt.id, answers: toInput(answers) })).submitAssessment);
    setAttempt(null);
    setResult(payload.attempt.result);
    assessment.reload();
  });
  const past = a.viewerAttempts.filter((t) => t.result);
  return html`<h1 tabindex="-1">${a.title}</h1>
    <p><a href=${`#/courses/${a.course.id}`}>Back to ${a.course.title}</a></p>
    <p>${a.instructions}</p>
    <p class="muted">${a.questionCount} questions · pass at ${a.passingScore}%${a.timeLimitSeconds ? ` · ${Math.round(a.timeLimitSeconds / 60)} minutes` : ''}${a.maxAttempts ? ` · at most ${a.maxAttempts} attempts` : ''}</p>
    <${ErrorBox} error=${action.error} />
    ${result && html`<${Result} result=${result} />`}
    ${!attempt && html`<button type="button" class="primary" disabled=${action.busy} onClick=${start}>${a.viewerAttempts.some((t) => t.status === 'IN_PROGRESS') ? 'Resume quiz' : 'Start quiz'}</button>`}
    ${attempt && html`<form class="quiz" onSubmit=${(e) => { e.preventDefault(); submit(); }} aria-label="Quiz answers">
      <${Timer} deadline=${attempt.deadline} onExpired=${submit} />
      ${attempt.questions.map((q) => html`<${QuestionField} key=${q.id} question=${q} answer=${answers[q.id] ?? {}}
        onChange=${(answer) => setAnswers((old) => ({ ...old, [q.id]: answer }))} />`)}
      <div class="row">
        <button type="button" disabled=${action.busy} onClick=${save}>Save answers</button>
        <button class="primary" disabled=${action.busy}>Submit quiz</button>
        <span aria-live="polite">${saved}</span>
      </div>
    </form>`}
    ${past.length > 0 && html`<section aria-labelledby="attempts-title"><h2 id="attempts-title">Your attempts</h2>
      <ul>${past.map((t) => html`<li key=${t.id}>Attempt ${t.number}: ${t.result.percent.toFixed(1)}% · ${t.result.passed ? 'passed' : 'not passed'}</li>`)}</ul></section>`}`;
}
