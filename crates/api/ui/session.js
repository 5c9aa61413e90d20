// Signing in and out: the login form, checking a token with GET /v1/me,
// the environments and teams the caller may see, the name in the top bar,
// and ending the session when the API stops accepting the token. The token
// is kept in this tab only (sessionStorage).

import { $, h, replace } from './dom.js';
import { describe, ApiProblem } from './api.js';
import { api, token, setToken, startSession, endSession, enterLogin } from './state.js';
import { showError, hideError } from './notice.js';

const TOKEN_KEY = 'ferry.token';

// The API lists environments by name; people think of them along the
// promotion path (dev → staging → prod). Common names go in that order,
// others after them by name.
const PATH_ORDER = ['dev', 'development', 'test', 'qa', 'uat', 'stage', 'staging', 'preprod', 'pre-prod', 'prod', 'production'];
function sortEnvironments(items) {
  const rank = (n) => { const i = PATH_ORDER.indexOf(n); return i < 0 ? PATH_ORDER.length : i; };
  return [...items].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

// `message` explains why the login shows (an error, unless `info`).
export function showLogin(message, info = false) {
  enterLogin();
  for (const id of ['live', 'who', 'logout']) $(id).hidden = true;
  hideError();
  const input = h('input', {
    id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'ferry_… or an OIDC ID token',
  });
  const error = h('p', { id: 'login-error', class: info ? 'info' : 'error', role: 'alert', hidden: !message, text: message || '' });
  const button = h('button', { id: 'login-button', type: 'submit', class: 'btn primary', text: 'Sign in' });
  const form = h('form', { class: 'login panel', id: 'login-form' },
    h('h1', { text: 'Sign in to Ferry' }),
    h('p', { class: 'muted', text: 'Paste a Ferry API token (ferry_…) or an ID token from your organisation\'s sign-in. It is kept in this browser tab only and sent to this Ferry as a bearer token.' }),
    h('label', { for: 'token', text: 'Token' }),
    input,
    error,
    h('div', { class: 'row end' }, button));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const raw = input.value.trim().replace(/^bearer\s+/i, '');
    if (!raw) {
      error.textContent = 'Paste a token first.';
      error.hidden = false;
      return;
    }
    button.disabled = true;
    button.textContent = 'Signing in…';
    const failed = await signIn(raw);
    if (failed) {
      error.className = 'error';
      error.textContent = failed;
      error.hidden = false;
      button.disabled = false;
      button.textContent = 'Sign in';
      input.select();
    }
  });
  replace($('main'), form);
  input.focus();
}

// Returns an error message, or null once signed in.
async function signIn(value) {
  setToken(value);
  let who;
  try {
    who = await api('GET', '/v1/me');
  } catch (err) {
    setToken(null);
    sessionStorage.removeItem(TOKEN_KEY);
    if (err instanceof ApiProblem && err.status === 401) {
      return `That token was not accepted: ${err.detail}.`;
    }
    return describe(err);
  }
  sessionStorage.setItem(TOKEN_KEY, value);
  let envs = [];
  let visibleTeams = [];
  try {
    const answer = await api('GET', '/v1/environments');
    envs = sortEnvironments(answer.items || []);
    const names = new Set((answer.allowed_sources || []).map((s) => s.team));
    if (who.team) names.add(who.team);
    visibleTeams = [...names].sort();
  } catch (err) {
    showError(err);
  }
  const el = $('who');
  replace(el,
    h('span', { class: 'who-name', text: who.name }),
    h('span', { class: `role role-${who.role}`, text: who.role }),
    who.team ? h('span', { class: 'who-team', text: `team ${who.team}` }) : null);
  el.hidden = false;
  $('logout').hidden = false;
  $('live').hidden = false;
  startSession(who, envs, visibleTeams);
  return null;
}

export function signOut(message, info = false) {
  endSession();
  sessionStorage.removeItem(TOKEN_KEY);
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
  showLogin(message, info);
}

// Shows a failed call. A 401 while signed in means the token expired or
// was revoked: the session ends with the API's reason.
export function handle(err) {
  if (err instanceof ApiProblem && err.status === 401 && token()) {
    signOut(`Your session ended: ${err.detail}.`);
    return;
  }
  showError(err);
}

// On load: the tab's token, if it still works, else the login form.
export function resume() {
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved).then((failed) => { if (failed) showLogin(failed); });
  } else {
    showLogin();
  }
}
