// Signing in and out: the login form (the organisation's sign-in, sso.js,
// when configured, and a pasted token), checking a token with GET /v1/me,
// the environments and teams the caller may see, the name in the top bar,
// and ending the session when the API stops accepting the token. A session
// from the identity provider signs in again when its ID token expires. The
// token is kept in this tab only (sessionStorage).

import { $, h, replace } from './dom.js';
import { describe, ApiProblem } from './api.js';
import { api, token, setToken, startSession, endSession, enterLogin } from './state.js';
import { showError, hideError } from './notice.js';
import * as sso from './sso.js';

const TOKEN_KEY = 'ferry.token';
// Signs in again shortly before an identity provider's token expires.
let renewTimer = null;
const RENEW_BEFORE_MS = 30 * 1000;

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
  for (const id of ['live', 'who', 'logout', 'new-request']) $(id).hidden = true;
  hideError();
  const input = h('input', {
    id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'ferry_… or an OIDC ID token',
  });
  const error = h('p', { id: 'login-error', class: info ? 'info' : 'error', role: 'alert', hidden: !message, text: message || '' });
  const button = h('button', { id: 'login-button', type: 'submit', class: 'btn primary', text: 'Sign in' });
  let ssoPart = null;
  if (sso.enabled()) {
    const ssoButton = h('button', { id: 'sso-button', type: 'button', class: 'btn primary', text: 'Sign in with your organisation' });
    ssoButton.addEventListener('click', () => {
      ssoButton.disabled = true;
      sso.begin(location.hash).catch((err) => {
        ssoButton.disabled = false;
        error.className = 'error';
        error.textContent = String(err.message || err);
        error.hidden = false;
      });
    });
    ssoPart = h('div', { class: 'sso' },
      ssoButton,
      h('p', { class: 'muted', text: `Through ${sso.issuer()}.` }),
      h('p', { class: 'muted or', text: 'or paste a token' }));
  } else if (sso.unavailable()) {
    ssoPart = h('p', { class: 'error', id: 'sso-unavailable', text: sso.unavailable() });
  }
  const form = h('form', { class: 'login panel', id: 'login-form' },
    h('h1', { text: 'Sign in to Ferry' }),
    ssoPart,
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
  if (!sso.enabled()) input.focus();
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
  $('new-request').hidden = !['researcher', 'admin'].includes(who.role);
  scheduleRenewal();
  startSession(who, envs, visibleTeams);
  return null;
}

// A session from the identity provider signs in again before its token
// expires: the provider's own session usually answers without asking.
function scheduleRenewal() {
  clearTimeout(renewTimer);
  const s = sso.session();
  if (!s || !sso.enabled() || !s.expires_at) return;
  const wait = Math.max(s.expires_at * 1000 - Date.now() - RENEW_BEFORE_MS, 1000);
  renewTimer = setTimeout(() => sso.begin(location.hash), wait);
}

export function signOut(message, info = false) {
  clearTimeout(renewTimer);
  endSession();
  sessionStorage.removeItem(TOKEN_KEY);
  sso.forget();
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
  showLogin(message, info);
}

// The Log out button: a session from the identity provider ends there too.
export function logOut() {
  const fromIssuer = sso.session() && sso.enabled();
  const url = fromIssuer ? sso.logoutUrl(token()) : null;
  signOut('Signed out.', true);
  if (url) location.assign(url);
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

// On load: the identity provider's answer, if the page comes back from
// it; else the tab's token, if it still works; else the login form.
export async function resume() {
  await sso.load();
  const back = sso.answer();
  if (back) {
    showLogin('Signing in…', true);
    try {
      const got = await sso.complete(back);
      sso.remember(got.expires_at);
      const failed = await signIn(got.id_token);
      if (failed) {
        sso.forget();
        showLogin(failed);
      }
    } catch (err) {
      showLogin(String(err.message || err));
    }
    return;
  }
  if (sso.cameBackFromLogout()) {
    showLogin('Signed out.', true);
    return;
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved).then((failed) => { if (failed) showLogin(failed); });
  } else {
    showLogin();
  }
}
