// Small shared pieces: loading data with its error, showing an error as the API states it.
import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';

/** Run `load` when `deps` change; { data, error, loaded, reload, setData }. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loaded: false });
  const reload = useCallback(() => {
    load().then(
      (data) => setState({ data, error: null, loaded: true }),
      (error) => setState({ data: null, error, loaded: true }),
    );
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload, setData: (data) => setState({ data, error: null, loaded: true }) };
}

/** Run an action (a button, a form); { busy, error, run }. */
export function useAction() {
  const [state, setState] = useState({ busy: false, error: null });
  const run = async (action) => {
    setState({ busy: true, error: null });
    try {
      const result = await action();
      setState({ busy: false, error: null });
      return result;
    } catch (error) {
      setState({ busy: false, error });
      return undefined;
    }
  };
  return { ...state, run };
}

/** An error as the API stated it: each problem's message and its code (and field). */
export function ErrorBox({ error }) {
  if (!error) return null;
  const problems = error.problems ?? [{ message: String(error.message ?? error), code: 'CLIENT' }];
  return html`<div class="error" role="alert">
    ${problems.map((p) => html`<p><strong>${p.message}</strong>${' '}
      <code>${p.code}</code>${p.field ? html` <span class="muted">(${p.field})</span>` : ''}</p>`)}
  </div>`;
}

export function Loading({ what }) {
  return html`<p aria-busy="true">Loading ${what}…</p>`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

/** The progress bar; `live` marks the region screen readers announce when it changes. */
export function ProgressBar({ value, label }) {
  const percent = Math.round(value ?? 0);
  return html`<div class="progress" aria-live="polite">
    <progress id="progress" max="100" value=${percent} aria-label=${label}></progress>
    <span class="progress-text" data-testid="progress-text">${percent}% complete</span>
  </div>`;
}
