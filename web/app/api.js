// The app's doors to the API: GraphQL over HTTP (urql) and graphql-ws, REST for CSV, and the session.
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import * as ops from './operations.js';

export let config = null; // /app/config.json: where the API is (coursegraph_cli/web.py)

export async function loadConfig() {
  const response = await fetch('/app/config.json', { cache: 'no-store' });
  const raw = await response.json();
  // Relative URLs (production: `/graphql` on this origin) resolve against the app's own address.
  const graphqlUrl = new URL(raw.graphqlUrl, location.href).href;
  config = {
    ...raw,
    graphqlUrl,
    wsUrl: graphqlUrl.replace(/^http/, 'ws'),
    restUrl: new URL(raw.restUrl, location.href).href.replace(/\/$/, ''),
  };
  return config;
}

/** An error as the API states it: GraphQL errors' message and extensions.code, the REST envelope's
 * error, or a payload's user errors (code, field, message). */
export class ApiError extends Error {
  constructor(problems) {
    super(problems.map((p) => p.message).join('; '));
    this.problems = problems; // [{ message, code, field? }]
  }
}

function fromCombined(error) {
  if (error.graphQLErrors?.length) {
    return new ApiError(error.graphQLErrors.map((e) => ({ message: e.message, code: e.extensions?.code })));
  }
  return new ApiError([{ message: `The API could not be reached (${error.networkError?.message ?? error.message}).`, code: 'NETWORK' }]);
}

/** A mutation payload's `errors` (typed user errors) become an ApiError too. */
export function checkPayload(payload) {
  if (payload?.errors?.length) throw new ApiError(payload.errors);
  return payload;
}

// --- the session: the access token in memory, the refresh token in sessionStorage (ADR 0035) ---------
const REFRESH_KEY = 'coursegraph.refreshToken';
let accessToken = null;
let refreshTimer = null;
let urql = null;
let ws = null;
const listeners = new Set();
export let user = null;

export function onSession(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function clients() {
  if (!urql) {
    ws = createWsClient({
      url: config.wsUrl,
      lazy: true,
      // Credentials reach the subgraph's socket only here (DESIGN §9).
      connectionParams: () => (accessToken ? { Authorization: `Bearer ${accessToken}` } : {}),
    });
    urql = new Client({
      url: config.graphqlUrl,
      requestPolicy: 'network-only',
      preferGetMethod: false,
      fetchOptions: () => ({ headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {} }),
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query }, sink) }),
          }),
        }),
      ],
    });
  }
  return urql;
}

function resetClients() {
  ws?.dispose();
  urql = null;
  ws = null;
}

function startSession(tokens) {
  accessToken = tokens.accessToken;
  sessionStorage.setItem(REFRESH_KEY, tokens.refreshToken);
  user = tokens.user;
  openSubscriptions.forEach((subscription) => subscription.stop());
  resetClients(); // a new socket carries the new token…
  openSubscriptions.forEach((subscription) => subscription.start()); // …for every open subscription
  clearTimeout(refreshTimer);
  // Refresh a minute before the access token expires (each refresh token works once: keep the new one).
  refreshTimer = setTimeout(() => resume().catch(() => endSession()), Math.max(30, tokens.expiresIn - 60) * 1000);
  listeners.forEach((listener) => listener(user));
}

function endSession() {
  accessToken = null;
  user = null;
  sessionStorage.removeItem(REFRESH_KEY);
  clearTimeout(refreshTimer);
  resetClients();
  listeners.forEach((listener) => listener(null));
}

/** Resume the tab's session from its refresh token (after a reload); false when there is none. */
export async function resume() {
  const refreshToken = sessionStorage.getItem(REFRESH_KEY);
  if (!refreshToken) return false;
  try {
    const data = await query(ops.REFRESH_TOKEN, { refreshToken });
    startSession(data.refreshToken);
    return true;
  } catch (error) {
    endSession();
    throw error;
  }
}

export async function devSignIn(email, name) {
  startSession((await mutate(ops.DEV_SIGN_IN, { email, name })).devSignIn);
}

export async function signOut() {
  const refreshToken = sessionStorage.getItem(REFRESH_KEY);
  try {
    if (refreshToken) await mutate(ops.SIGN_OUT, { refreshToken });
  } finally {
    endSession();
  }
}

// --- OAuth (authorization code + PKCE), then the code goes to the auth API like the other clients ---
const PENDING_KEY = 'coursegraph.oauth';
const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const redirectUri = () => `${location.origin}/app/`;

export async function startOAuth(provider, clientId) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(48)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ provider, verifier, state, back: location.hash }));
  const url = new URL(provider === 'google' ? config.googleAuthorizeUrl : config.githubAuthorizeUrl);
  const params = { client_id: clientId, redirect_uri: redirectUri(), response_type: 'code', state,
    code_challenge: challenge, code_challenge_method: 'S256',
    scope: provider === 'google' ? 'openid email profile' : 'read:user user:email' };
  Object.entries(params).forEach(([key, value]) => url.searchParams.set(key, value));
  location.assign(url.href);
}

/** On the provider's redirect back (`?code=…&state=…`): exchange the code; false when this is no callback. */
export async function finishOAuth() {
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  if (!params.has('code') && !params.has('error')) return false;
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, '', `/app/${pending?.back ?? ''}`);
  if (params.has('error')) throw new ApiError([{ message: `Sign-in was refused: ${params.get('error')}`, code: 'OAUTH' }]);
  if (!pending || pending.state !== params.get('state')) {
    throw new ApiError([{ message: 'This sign-in did not start here (state mismatch); try again.', code: 'OAUTH' }]);
  }
  const input = { code: params.get('code'), codeVerifier: pending.verifier, redirectUri: redirectUri() };
  const [operation, field] = pending.provider === 'google'
    ? [ops.SIGN_IN_WITH_GOOGLE, 'signInWithGoogle'] : [ops.SIGN_IN_WITH_GITHUB, 'signInWithGithub'];
  startSession((await mutate(operation, { input }))[field]);
  return true;
}

// --- GraphQL ----------------------------------------------------------------------------------------
export async function query(document, variables = {}) {
  const result = await clients().query(document, variables).toPromise();
  if (result.error) throw fromCombined(result.error);
  return result.data;
}

export async function mutate(document, variables = {}) {
  const result = await clients().mutation(document, variables).toPromise();
  if (result.error) throw fromCombined(result.error);
  return result.data;
}

// Open subscriptions: a new token opens a new socket, and each of them subscribes again on it (the server
// ends a stream whose token expires; enrollmentProgress starts with the current state, so nothing is lost).
const openSubscriptions = new Set();

/** Subscribe; `onData(data)` per event, `onError(ApiError)` once. Returns the unsubscribe function. */
export function subscribe(document, variables, onData, onError) {
  const subscription = {
    stop: null,
    start() {
      subscription.stop = clients().subscription(document, variables).subscribe((result) => {
        if (result.error) onError(fromCombined(result.error));
        else if (result.data) onData(result.data);
      }).unsubscribe;
    },
  };
  subscription.start();
  openSubscriptions.add(subscription);
  return () => {
    openSubscriptions.delete(subscription);
    subscription.stop();
  };
}

// --- REST (the CSV endpoints have no GraphQL twin) ---------------------------------------------------
export async function rest(method, path, { body, contentType } = {}) {
  const headers = { authorization: `Bearer ${accessToken}` };
  if (contentType) headers['content-type'] = contentType;
  let response;
  try {
    response = await fetch(`${config.restUrl}${path}`, { method, headers, body });
  } catch (error) {
    throw new ApiError([{ message: `The REST API could not be reached (${error.message}).`, code: 'NETWORK' }]);
  }
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
    const envelope = await response.json();
    if (!envelope.success) throw new ApiError([{ message: envelope.error.message, code: envelope.error.code }]);
    return envelope.data;
  }
  if (!response.ok) throw new ApiError([{ message: `HTTP ${response.status}`, code: String(response.status) }]);
  return response;
}
