// The shell: sign-in, navigation and the hash routes of CourseGraph's web app (ADR 0035).
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { AUTH_PROVIDERS } from './operations.js';
import { ErrorBox, Loading, useAction, useLoad } from './ui.js';
import { Catalog, CoursePage, MyPage, Certificate } from './learner.js';
import { Quiz } from './quiz.js';
import { Teaching, CourseEditor, Roster, Gradebook, Announcements, Activity } from './instructor.js';

const ROUTES = [
  [/^$/, () => html`<${Catalog} />`],
  [/^courses\/([^/]+)$/, (id) => html`<${CoursePage} id=${id} />`],
  [/^quiz\/([^/]+)$/, (id) => html`<${Quiz} id=${id} />`],
  [/^me$/, () => html`<${MyPage} />`],
  [/^certificates\/([^/]+)$/, (code) => html`<${Certificate} code=${decodeURIComponent(code)} />`],
  [/^teach$/, () => html`<${Teaching} />`],
  [/^teach\/([^/]+)$/, (id) => html`<${CourseEditor} id=${id} />`],
  [/^teach\/([^/]+)\/roster$/, (id) => html`<${Roster} id=${id} />`],
  [/^teach\/([^/]+)\/gradebook$/, (id) => html`<${Gradebook} id=${id} />`],
  [/^teach\/([^/]+)\/announcements$/, (id) => html`<${Announcements} id=${id} />`],
  [/^teach\/([^/]+)\/activity$/, (id) => html`<${Activity} id=${id} />`],
];

const currentPath = () => location.hash.replace(/^#\/?/, '');

function useHashPath() {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const changed = () => setPath(currentPath());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return path;
}

let loaded = false; // the first page of a load keeps the browser's own focus (the skip link comes first)

function Page({ path }) {
  // A new page: focus its heading, so keyboard and screen-reader users start there.
  useEffect(() => {
    if (!loaded) {
      loaded = true;
      return undefined;
    }
    const timer = setTimeout(() => document.querySelector('main h1')?.focus(), 0);
    return () => clearTimeout(timer);
  }, [path]);
  for (const [pattern, view] of ROUTES) {
    const match = path.match(pattern);
    if (match) return view(...match.slice(1));
  }
  return html`<h1 tabindex="-1">Not found</h1><p>No page at <code>#/${path}</code>. <a href="#/">To the catalog</a>.</p>`;
}

function SignIn() {
  useEffect(() => { loaded = true; }, []); // the page after signing in is a navigation: focus its heading
  const providers = useLoad(() => api.query(AUTH_PROVIDERS).then((d) => d.authProviders), []);
  const action = useAction();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const p = providers.data;
  const submit = (event) => {
    event.preventDefault();
    action.run(() => api.devSignIn(email, name));
  };
  return html`<section class="card signin" aria-labelledby="signin-title">
    <h1 id="signin-title" tabindex="-1">Sign in to CourseGraph</h1>
    <${ErrorBox} error=${providers.error || action.error} />
    ${!p && !providers.error && html`<${Loading} what="sign-in methods" />`}
    ${p?.googleClientId && html`<button type="button" class="primary" onClick=${() => api.startOAuth('google', p.googleClientId)}>Sign in with Google</button>`}
    ${p?.githubClientId && html`<button type="button" onClick=${() => api.startOAuth('github', p.githubClientId)}>Sign in with GitHub</button>`}
    ${p?.devSignIn && html`<form onSubmit=${submit} class="stack">
      <h2>Dev sign-in</h2>
      <p class="muted">Development only: any email, created as a learner on first use.</p>
      <label for="dev-email">Email</label>
      <input id="dev-email" type="email" required autocomplete="email" value=${email} onInput=${(e) => setEmail(e.target.value)} />
      <label for="dev-name">Name</label>
      <input id="dev-name" required autocomplete="name" value=${name} onInput=${(e) => setName(e.target.value)} />
      <button class="primary" disabled=${action.busy}>Sign in</button>
    </form>`}
    ${p && !p.devSignIn && !p.googleClientId && !p.githubClientId && html`<p>No sign-in method is configured on this API.</p>`}
  </section>`;
}

function Header({ user }) {
  const teaches = user && user.role !== 'LEARNER';
  return html`<header class="top">
    <a class="brand" href="#/">CourseGraph</a>
    <nav aria-label="Main">
      <a href="#/">Catalog</a>
      ${user && html`<a href="#/me">My learning</a>`}
      ${teaches && html`<a href="#/teach">Teaching</a>`}
      <a href=${api.config.explorerUrl} rel="noopener">GraphQL explorer</a>
    </nav>
    ${user && html`<div class="who"><span>${user.name} <span class="muted">(${user.role.toLowerCase()})</span></span>
      <button type="button" onClick=${() => api.signOut()}>Sign out</button></div>`}
  </header>`;
}

function App({ startError }) {
  const [user, setUser] = useState(api.user);
  const path = useHashPath();
  useEffect(() => api.onSession(setUser), []);
  return html`<a class="skip" href="#content" onClick=${(e) => { e.preventDefault(); document.getElementById('content').focus(); }}>Skip to content</a>
    <${Header} user=${user} />
    <main id="content" tabindex="-1">
      <${ErrorBox} error=${startError} />
      ${user ? html`<${Page} path=${path} key=${path} />` : html`<${SignIn} />`}
    </main>
    <footer><p>CourseGraph · <a href=${api.config.explorerUrl} rel="noopener">GraphQL explorer for developers</a></p></footer>`;
}

async function start() {
  const root = document.getElementById('root');
  try {
    await api.loadConfig();
  } catch (error) {
    root.textContent = `CourseGraph could not load its settings (/app/config.json): ${error.message}`;
    return;
  }
  let startError = null;
  try {
    // Back from a provider's sign-in page, or a reload of a tab that was signed in.
    if (!(await api.finishOAuth())) await api.resume();
  } catch (error) {
    startError = error;
  }
  root.textContent = '';
  render(html`<${App} startError=${startError} />`, root);
}

start();
