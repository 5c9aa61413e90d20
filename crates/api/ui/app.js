// Ferry's dashboard: sign in with a token, follow import requests by
// environment and status, open one for its timeline, conditions and
// preflight report, and act on it where the role allows. Updates arrive
// from GET /v1/events without reloading the page.
//
// The buttons shown mirror crates/domain/src/auth.rs and the status machine;
// the server still checks every action, and its refusals are shown as they
// come (problem+json `detail`).

import { h, replace, clear, when, refreshTimes, humanize, bytes, shortId, fmtTime } from './dom.js';
import { makeApi, describe, query, ApiProblem } from './api.js';
import { connectLive } from './live.js';

const TOKEN_KEY = 'ferry.token';
const STATUSES = [
  'pending_approval', 'queued', 'validating', 'submitting', 'importing',
  'completed', 'failed', 'rejected', 'cancelled', 'deleting', 'deleted',
];
const HAPPY_PATH = ['queued', 'validating', 'submitting', 'importing', 'completed'];
const FILTERS = ['environment', 'status', 'team', 'model_name'];
const PAGE = 100;
// The overview counts the newest requests, up to this many.
const OVERVIEW_MAX = 600;

const state = {
  token: null,
  me: null,
  environments: [],
  teams: [],
  live: null,
  route: { kind: 'none' },
  // The table: requests matching the filters, loaded page by page.
  items: new Map(),
  cursor: null,
  // The overview: the newest requests, unfiltered.
  all: new Map(),
  allTruncated: false,
  detail: null,
  pending: new Set(),
  flushTimer: null,
  viewSeq: 0,
};

const api = makeApi(() => state.token);
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------- permissions

// What the server says the caller may do with a request now
// (`allowed_actions`, decided by the same check that authorizes each action);
// the page keeps no copy of the roles or the status machine.
function offers(imp, action) {
  return Array.isArray(imp.allowed_actions) && imp.allowed_actions.includes(action);
}

// The caller reviews this request but submitted it: approving is refused
// (separation of duties). The button stays so the server's answer explains
// why.
function ownReview(imp) {
  return offers(imp, 'reject') && !offers(imp, 'approve')
    && Boolean(state.me) && imp.requested_by === state.me.name;
}

// Which buttons to show on a request.
function allowed(action, imp) {
  switch (action) {
    case 'approve':
      return offers(imp, 'approve') || ownReview(imp);
    case 'promote':
      return offers(imp, 'promote') && state.environments.some((e) => e.name !== imp.environment);
    case 'delete':
      return offers(imp, 'delete_model') && Boolean(imp.imported_model_arn);
    default:
      return offers(imp, action);
  }
}

// ------------------------------------------------------------- messages

let bannerTimer = null;
function showError(err) {
  const text = typeof err === 'string' ? err : describe(err);
  $('banner-text').textContent = text;
  $('banner').hidden = false;
  clearTimeout(bannerTimer);
}

function hideError() {
  $('banner').hidden = true;
}

let toastTimer = null;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ------------------------------------------------------------- sign in and out

// `message` explains why the login shows (an error, unless `info`).
function showLogin(message, info = false) {
  state.route = { kind: 'login' };
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

// The API lists environments by name; people think of them along the
// promotion path (dev → staging → prod). Common names go in that order,
// others after them by name.
const PATH_ORDER = ['dev', 'development', 'test', 'qa', 'uat', 'stage', 'staging', 'preprod', 'pre-prod', 'prod', 'production'];
function sortEnvironments(items) {
  const rank = (n) => { const i = PATH_ORDER.indexOf(n); return i < 0 ? PATH_ORDER.length : i; };
  return [...items].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

// Returns an error message, or null once signed in.
async function signIn(token) {
  state.token = token;
  let me;
  try {
    me = await api('GET', '/v1/me');
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (err instanceof ApiProblem && err.status === 401) {
      return `That token was not accepted: ${err.detail}.`;
    }
    return describe(err);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.me = me;
  try {
    const envs = await api('GET', '/v1/environments');
    state.environments = sortEnvironments(envs.items || []);
    const teams = new Set((envs.allowed_sources || []).map((s) => s.team));
    if (me.team) teams.add(me.team);
    state.teams = [...teams].sort();
  } catch (err) {
    state.environments = [];
    showError(err);
  }
  const who = $('who');
  replace(who,
    h('span', { class: 'who-name', text: me.name }),
    h('span', { class: `role role-${me.role}`, text: me.role }),
    me.team ? h('span', { class: 'who-team', text: `team ${me.team}` }) : null);
  who.hidden = false;
  $('logout').hidden = false;
  $('live').hidden = false;
  startLive();
  route();
  return null;
}

function signOut(message, info = false) {
  if (state.live) state.live.close();
  state.live = null;
  state.token = null;
  state.me = null;
  state.items.clear();
  state.all.clear();
  state.detail = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
  showLogin(message, info);
}

// A call failed with 401 while signed in: the token expired or was revoked.
function handle(err) {
  if (err instanceof ApiProblem && err.status === 401 && state.token) {
    signOut(`Your session ended: ${err.detail}.`);
    return;
  }
  showError(err);
}

// ------------------------------------------------------------- live updates

function setLive(s) {
  const el = $('live');
  el.dataset.state = s;
  $('live-text').textContent = { live: 'live', connecting: 'connecting…', offline: 'offline' }[s] || s;
  el.title = s === 'live'
    ? 'Receiving updates as they happen'
    : 'Not receiving live updates; retrying. Data shown may be out of date.';
}

function startLive() {
  if (state.live) state.live.close();
  state.live = connectLive({
    url: '/v1/events',
    token: state.token,
    onState: setLive,
    onEvent: (msg) => {
      const importId = msg.data && msg.data.data && msg.data.data.import_id;
      if (importId) touch(importId);
    },
    // A fresh stream starts with events from now on: reload what is shown so
    // nothing between the page's load and the stream's start is missed.
    onOpen: (resumed) => {
      if (!resumed && state.viewSeq > 0) refresh();
    },
    onUnauthorized: (detail) => signOut(`Your session ended: ${detail}.`),
  });
}

// Coalesces bursts of events (a request moves several times a second).
function touch(id) {
  state.pending.add(id);
  if (state.flushTimer) return;
  state.flushTimer = setTimeout(flush, 150);
}

async function flush() {
  state.flushTimer = null;
  const ids = [...state.pending];
  state.pending.clear();
  const r = state.route;
  if (r.kind === 'detail') {
    if (ids.includes(r.id) || (state.detail && ids.some((i) => state.detail.related.has(i)))) {
      await loadDetail(r.id, { quiet: true });
    }
    return;
  }
  if (r.kind !== 'list') return;
  for (const id of ids) {
    try {
      const imp = await api('GET', `/v1/imports/${encodeURIComponent(id)}`);
      upsert(imp);
    } catch (err) {
      if (err instanceof ApiProblem && err.status === 404) {
        state.items.delete(id);
        state.all.delete(id);
      } else {
        handle(err);
        return;
      }
    }
  }
  renderList();
}

function matches(imp, filters) {
  return FILTERS.every((k) => !filters[k] || imp[k] === filters[k]);
}

function upsert(imp) {
  state.all.set(imp.id, imp);
  if (matches(imp, state.route.filters || {})) state.items.set(imp.id, imp);
  else state.items.delete(imp.id);
}

// ------------------------------------------------------------- routing

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const m = /^\/imports\/([0-9a-fA-F-]{36})$/.exec(path);
  if (m) return { kind: 'detail', id: m[1].toLowerCase() };
  const params = new URLSearchParams(qs || '');
  const filters = {};
  for (const k of FILTERS) if (params.get(k)) filters[k] = params.get(k);
  return { kind: 'list', filters };
}

function listHash(filters) {
  const q = query(filters);
  return `#/${q}`;
}

function route() {
  if (!state.me) return;
  hideError();
  state.route = parseHash();
  state.viewSeq += 1;
  if (state.route.kind === 'detail') loadDetail(state.route.id, {});
  else loadList();
}

function refresh() {
  if (state.route.kind === 'detail') loadDetail(state.route.id, { quiet: true });
  else if (state.route.kind === 'list') loadList({ quiet: true });
}

// ------------------------------------------------------------- the list

async function fetchPages(filters, max) {
  const out = [];
  let cursor = null;
  do {
    const page = await api('GET', `/v1/imports${query({ ...filters, limit: 200, cursor })}`);
    out.push(...page.items);
    cursor = page.next_cursor || null;
  } while (cursor && out.length < max);
  return { items: out, truncated: Boolean(cursor) };
}

async function loadList(opts = {}) {
  const seq = state.viewSeq;
  const filters = state.route.filters;
  if (!opts.quiet) {
    state.items.clear();
    state.cursor = null;
    renderList({ loading: true });
  }
  try {
    const [page, all] = await Promise.all([
      api('GET', `/v1/imports${query({ ...filters, limit: PAGE })}`),
      fetchPages({}, OVERVIEW_MAX),
    ]);
    if (seq !== state.viewSeq) return;
    state.items = new Map(page.items.map((i) => [i.id, i]));
    state.cursor = page.next_cursor || null;
    state.all = new Map(all.items.map((i) => [i.id, i]));
    state.allTruncated = all.truncated;
    renderList();
  } catch (err) {
    handle(err);
  }
}

async function loadMore(button) {
  if (!state.cursor) return;
  button.disabled = true;
  try {
    const page = await api('GET', `/v1/imports${query({ ...state.route.filters, limit: PAGE, cursor: state.cursor })}`);
    for (const i of page.items) state.items.set(i.id, i);
    state.cursor = page.next_cursor || null;
    renderList();
  } catch (err) {
    handle(err);
    button.disabled = false;
  }
}

function newestFirst(a, b) {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
}

function statusBadge(status) {
  return h('span', { class: `badge st-${status}`, dataset: { status }, text: status.replace(/_/g, ' ') });
}

function renderOverview(filters) {
  const byEnv = new Map(state.environments.map((e) => [e.name, new Map()]));
  for (const imp of state.all.values()) {
    if (!byEnv.has(imp.environment)) byEnv.set(imp.environment, new Map());
    const counts = byEnv.get(imp.environment);
    counts.set(imp.status, (counts.get(imp.status) || 0) + 1);
  }
  const envInfo = new Map(state.environments.map((e) => [e.name, e]));
  const cards = [];
  for (const [env, counts] of byEnv) {
    const info = envInfo.get(env);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const chips = STATUSES.filter((s) => counts.get(s)).map((s) => {
      const active = filters.environment === env && filters.status === s;
      return h('a', {
        class: `chip st-${s}${active ? ' active' : ''}`,
        href: listHash({ ...filters, environment: env, status: s }),
        dataset: { env, status: s },
      }, h('span', { class: 'chip-n', text: counts.get(s) }), ' ', s.replace(/_/g, ' '));
    });
    const active = filters.environment === env && !filters.status;
    cards.push(h('section', { class: `env-card${active ? ' active' : ''}`, dataset: { env } },
      h('div', { class: 'env-head' },
        h('a', { class: 'env-name', href: listHash({ ...filters, environment: env, status: undefined }), text: env }),
        info && info.requires_approval ? h('span', { class: 'tag', text: 'approval required' }) : null,
        h('span', { class: 'env-total muted', text: `${total} request${total === 1 ? '' : 's'}` })),
      info ? h('div', { class: 'env-meta muted', text: `${info.account_id} · ${info.region}${info.description ? ` · ${info.description}` : ''}` }) : null,
      h('div', { class: 'chips' }, chips.length ? chips : h('span', { class: 'muted', text: 'no requests' }))));
  }
  const waiting = [...state.all.values()].filter((i) => i.status === 'pending_approval' && offers(i, 'reject')).length;
  return h('div', { class: 'overview', id: 'overview' },
    waiting > 0
      ? h('a', { class: 'callout', id: 'waiting', href: listHash({ status: 'pending_approval' }) },
        `${waiting} request${waiting === 1 ? ' waits' : 's wait'} for approval`)
      : null,
    h('div', { class: 'env-cards' }, cards),
    state.allTruncated ? h('p', { class: 'muted small', text: `Counts cover the newest ${OVERVIEW_MAX} requests.` }) : null);
}

function select(name, label, options, value, onChange) {
  const el = h('select', { id: `filter-${name}`, name },
    h('option', { value: '', text: `All ${label}` }),
    options.map((o) => h('option', { value: o, selected: o === value, text: o.replace(/_/g, ' ') })));
  el.addEventListener('change', () => onChange(el.value));
  return h('label', { class: 'filter' }, h('span', { text: humanize(name) }), el);
}

function renderFilters(filters) {
  const set = (k) => (v) => {
    const next = { ...filters, [k]: v || undefined };
    location.hash = listHash(next);
  };
  const envs = state.environments.map((e) => e.name);
  if (filters.environment && !envs.includes(filters.environment)) envs.push(filters.environment);
  const model = h('input', { id: 'filter-model_name', type: 'search', value: filters.model_name || '', placeholder: 'exact model name' });
  model.addEventListener('change', () => set('model_name')(model.value.trim()));
  const parts = [
    select('environment', 'environments', envs, filters.environment, set('environment')),
    select('status', 'statuses', STATUSES, filters.status, set('status')),
  ];
  if (state.me.role !== 'researcher') parts.push(select('team', 'teams', state.teams, filters.team, set('team')));
  parts.push(h('label', { class: 'filter' }, h('span', { text: 'Model' }), model));
  const any = FILTERS.some((k) => filters[k]);
  return h('form', { class: 'filters', id: 'filters', onsubmit: (e) => e.preventDefault() },
    parts,
    any ? h('a', { class: 'btn ghost small', href: '#/', id: 'clear-filters', text: 'Clear filters' }) : null);
}

function renderList(opts = {}) {
  if (state.route.kind !== 'list') return;
  const filters = state.route.filters;
  const rows = [...state.items.values()].sort(newestFirst).map((imp) => {
    const tr = h('tr', { dataset: { id: imp.id, status: imp.status, environment: imp.environment, team: imp.team } },
      h('td', {}, statusBadge(imp.status)),
      h('td', {}, h('a', { href: `#/imports/${imp.id}`, class: 'strong', text: imp.model_name })),
      h('td', { text: imp.environment }),
      h('td', { text: imp.team }),
      h('td', { text: imp.requested_by }),
      h('td', {}, when(imp.updated_at)),
      h('td', { class: 'mono muted', title: imp.id, text: shortId(imp.id) }));
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      location.hash = `#/imports/${imp.id}`;
    });
    return tr;
  });
  const table = h('table', { class: 'requests', id: 'requests' },
    h('thead', {}, h('tr', {},
      ['Status', 'Model', 'Environment', 'Team', 'Requested by', 'Updated', 'Id'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, rows));
  let body;
  if (opts.loading) body = h('p', { class: 'muted', text: 'Loading…' });
  else if (rows.length === 0) {
    body = h('p', { class: 'empty', id: 'no-requests', text: FILTERS.some((k) => filters[k]) ? 'No request matches these filters.' : 'No import requests yet.' });
  } else body = table;
  const more = state.cursor ? h('button', { type: 'button', class: 'btn', id: 'more', text: 'Load more' }) : null;
  if (more) more.addEventListener('click', () => loadMore(more));
  const title = state.me.role === 'researcher' ? `Import requests of team ${state.me.team}` : 'Import requests';
  replace($('main'),
    h('div', { class: 'page-head' }, h('h1', { text: title })),
    renderOverview(filters),
    h('section', { class: 'panel' }, renderFilters(filters), body, more ? h('div', { class: 'row center' }, more) : null));
}

// ------------------------------------------------------------- one request

async function fetchEvents(id) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 20; i += 1) {
    const page = await api('GET', `/v1/imports/${encodeURIComponent(id)}/events${query({ limit: 500, cursor })}`);
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

async function loadDetail(id, opts) {
  const seq = state.viewSeq;
  if (!opts.quiet) replace($('main'), h('p', { class: 'muted', text: 'Loading…' }));
  try {
    const [imp, events] = await Promise.all([
      api('GET', `/v1/imports/${encodeURIComponent(id)}`),
      fetchEvents(id),
    ]);
    if (seq !== state.viewSeq) return;
    const related = new Set([imp.promoted_from, ...(imp.promotions || [])].filter(Boolean));
    const previous = state.detail && state.detail.imp.id === id ? state.detail.lineage : new Map();
    state.detail = { imp, events, related, lineage: previous };
    renderDetail();
    loadLineage(seq, related);
  } catch (err) {
    if (seq !== state.viewSeq) return;
    if (err instanceof ApiProblem && err.status === 404) {
      replace($('main'), h('div', { class: 'panel' },
        h('h1', { text: 'Request not found' }),
        h('p', { text: 'There is no such request, or it belongs to another team.' }),
        h('a', { href: '#/', class: 'btn', text: 'All requests' })));
      return;
    }
    handle(err);
  }
}

async function loadLineage(seq, ids) {
  for (const rid of ids) {
    try {
      const other = await api('GET', `/v1/imports/${encodeURIComponent(rid)}`);
      if (seq !== state.viewSeq || !state.detail) return;
      state.detail.lineage.set(rid, other);
    } catch {
      // Not visible to this caller: the link still works, without details.
    }
  }
  if (seq === state.viewSeq && ids.size > 0) renderDetail();
}

function field(label, value, opts = {}) {
  if (value === undefined || value === null || value === '') return null;
  const dd = value instanceof Node ? h('dd', {}, value) : h('dd', { class: opts.mono ? 'mono' : '', text: value });
  if (opts.key) dd.dataset.field = opts.key;
  return [h('dt', { text: label }), dd];
}

function tags(obj) {
  const entries = Object.entries(obj || {});
  if (entries.length === 0) return null;
  return h('span', { class: 'kv-tags' }, entries.map(([k, v]) => h('span', { class: 'tag', text: `${k}=${v}` })));
}

// Where the request is on its way to `completed`; `reached` holds every
// status its events moved it to (a failed or cancelled request shows how far
// it got).
function stepper(imp, reached) {
  const steps = reached.has('pending_approval') || imp.status === 'pending_approval'
    ? ['pending_approval', ...HAPPY_PATH] : [...HAPPY_PATH];
  const at = steps.indexOf(imp.status);
  const off = at < 0;
  const items = steps.map((s, i) => {
    let cls = 'todo';
    if (!off && i < at) cls = 'done';
    else if (!off && i === at) cls = s === 'completed' ? 'done current' : 'current';
    else if (off && reached.has(s)) cls = 'done';
    return h('li', { class: `step ${cls}`, dataset: { step: s } }, h('span', { class: 'step-dot' }), h('span', { text: s.replace(/_/g, ' ') }));
  });
  if (off) items.push(h('li', { class: `step current end st-${imp.status}`, dataset: { step: imp.status } }, h('span', { class: 'step-dot' }), h('span', { text: imp.status.replace(/_/g, ' ') })));
  return h('ol', { class: 'stepper', id: 'stepper' }, items);
}

function actionButtons(imp) {
  const buttons = [];
  const add = (action, label, cls, fn) => {
    if (!allowed(action, imp)) return;
    const b = h('button', { type: 'button', class: `btn ${cls}`, dataset: { action }, text: label });
    b.addEventListener('click', () => fn(imp, b));
    buttons.push(b);
  };
  add('approve', 'Approve', 'primary', approve);
  add('reject', 'Reject…', 'danger', reject);
  add('promote', 'Promote…', 'primary', promote);
  add('retry', 'Retry', '', retry);
  add('cancel', 'Cancel request…', 'ghost', cancel);
  add('delete', 'Delete model…', 'danger', deleteModel);
  const notes = [];
  if (ownReview(imp)) {
    notes.push(h('p', { class: 'muted small', text: 'You requested this one: someone else must approve it.' }));
  }
  if (imp.status === 'pending_approval' && !offers(imp, 'reject')) {
    notes.push(h('p', { class: 'muted small', text: 'Waiting for the hosting team to approve.' }));
  }
  if (buttons.length === 0 && notes.length === 0) return null;
  return h('div', { class: 'actions', id: 'actions' }, buttons, notes);
}

function preflightSection(report) {
  if (!report) {
    return h('section', { class: 'panel', id: 'preflight', dataset: { state: 'none' } },
      h('h2', { text: 'Preflight report' }),
      h('p', { class: 'muted', text: 'Not run yet. A worker checks the artifacts and the access chain with the rights Bedrock will use as soon as it picks the request up (requests waiting for approval are checked too).' }));
  }
  const checks = report.checks || [];
  const failed = checks.filter((c) => c.outcome === 'failed').length;
  const warnings = checks.filter((c) => c.outcome === 'warning').length;
  const summary = failed
    ? `${failed} check${failed === 1 ? '' : 's'} failed`
    : `All ${checks.length} checks passed${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`;
  const item = (c) => h('li', { class: `check out-${c.outcome}`, dataset: { check: c.name, outcome: c.outcome } },
    h('div', { class: 'check-head' },
      h('span', { class: `badge out-${c.outcome}`, text: c.outcome }),
      h('span', { class: 'strong', text: humanize(c.name) }),
      c.chain_step ? h('span', { class: 'tag warn', text: `broken step: ${c.chain_step.replace(/_/g, ' ')}` }) : null,
      c.transient ? h('span', { class: 'tag', text: 'transient' }) : null),
    h('div', { class: 'check-detail', text: c.detail }),
    c.evidence ? h('pre', { class: 'evidence', text: c.evidence }) : null,
    c.fix ? h('div', { class: 'fix' }, h('span', { class: 'strong', text: 'Fix: ' }), c.fix) : null);
  // Failures and warnings first, in full; passed checks folded away.
  const notable = checks.filter((c) => c.outcome !== 'passed');
  const passed = checks.filter((c) => c.outcome === 'passed');
  const list = [
    notable.length ? h('ol', { class: 'checks' }, notable.map(item)) : null,
    passed.length ? h('details', { class: 'passed-checks', dataset: { key: 'passed-checks' }, open: notable.length === 0 && passed.length <= 3 },
      h('summary', { text: `${passed.length} passed check${passed.length === 1 ? '' : 's'}: ${passed.map((c) => humanize(c.name).toLowerCase()).join(', ')}` }),
      h('ol', { class: 'checks' }, passed.map(item))) : null,
  ];
  const m = report.model;
  const facts = m ? h('dl', { class: 'facts' },
    field('Family', m.family),
    field('Architectures', (m.architectures || []).join(', ')),
    field('Model type', m.model_type),
    field('Context length', m.context_length != null ? m.context_length.toLocaleString() : null),
    field('Declared dtype', m.torch_dtype),
    field('Tensor dtypes', (m.dtypes || []).join(', ')),
    field('Parameters', m.parameter_count != null ? m.parameter_count.toLocaleString() : null),
    field('Weights', bytes(m.total_weight_bytes)),
    field('All files', `${bytes(m.total_bytes)} in ${(m.files || []).length} files`),
    field('Source key', m.source_kms_key, { mono: true })) : null;
  const files = m && m.files && m.files.length
    ? h('details', { dataset: { key: 'files' } }, h('summary', { text: 'Files' }), h('ul', { class: 'files mono' }, m.files.map((f) => h('li', { text: f }))))
    : null;
  return h('section', { class: 'panel', id: 'preflight', dataset: { state: failed ? 'failed' : 'passed' } },
    h('h2', {}, 'Preflight report ', h('span', { class: `badge ${failed ? 'out-failed' : 'out-passed'}`, id: 'preflight-summary', text: summary })),
    h('p', { class: 'muted' },
      `Checked as ${report.checked_as || 'unknown'}${report.assumed_execution_role ? ' (the execution role Bedrock uses)' : ' (the control role: the execution role could not be assumed)'}, `,
      when(report.checked_at), '.'),
    list,
    facts ? h('h3', { text: 'What the artifacts say' }) : null,
    facts,
    files);
}

function conditionsSection(conditions) {
  return h('section', { class: 'panel', id: 'conditions' },
    h('h2', { text: 'Conditions' }),
    conditions.length === 0 ? h('p', { class: 'muted', text: 'None yet.' }) : h('ul', { class: 'conditions' },
      conditions.map((c) => h('li', { dataset: { type: c.type, status: c.status } },
        h('div', { class: 'cond-head' },
          h('span', { class: 'strong', text: c.type }),
          h('span', { class: `badge cond-${String(c.status).toLowerCase()}`, text: c.status }),
          h('span', { class: 'muted', text: c.reason }),
          h('span', { class: 'muted right' }, when(c.last_transition_time))),
        h('div', { class: 'cond-message', text: c.message })))));
}

function detailPairs(detail) {
  const entries = Object.entries(detail || {}).filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (entries.length === 0) return null;
  return h('dl', { class: 'event-detail' }, entries.map(([k, v]) => [
    h('dt', { text: humanize(k) }),
    h('dd', { class: typeof v === 'string' && /^(arn:|s3:\/\/|[0-9a-f-]{36}$)/.test(v) ? 'mono' : '', text: typeof v === 'object' ? JSON.stringify(v) : String(v) }),
  ]));
}

function timelineSection(events) {
  return h('section', { class: 'panel', id: 'timeline-panel' },
    h('h2', { text: 'Timeline' }),
    h('ol', { class: 'timeline', id: 'timeline' }, events.map((e) => h('li', { dataset: { kind: e.kind, to: e.to_status || '' } },
      h('div', { class: 'event-head' },
        h('span', { class: 'strong', text: humanize(e.kind) }),
        e.from_status || e.to_status ? h('span', { class: 'transition' },
          e.from_status ? statusBadge(e.from_status) : null,
          e.from_status && e.to_status ? ' → ' : null,
          e.to_status ? statusBadge(e.to_status) : null) : null,
        h('span', { class: 'muted' }, 'by ', h('span', { class: 'actor', text: e.actor })),
        h('span', { class: 'muted', title: fmtTime(e.at) }, when(e.at))),
      detailPairs(e.detail)))));
}

function lineageSection(imp, lineage) {
  if (!imp.promoted_from && !(imp.promotions || []).length) return null;
  const link = (rid) => {
    const other = lineage.get(rid);
    return h('a', { href: `#/imports/${rid}`, class: 'lineage-link', dataset: { id: rid } },
      other ? [h('span', { class: 'strong', text: other.environment }), ' ', statusBadge(other.status), ' ', other.model_name] : h('span', { class: 'mono', text: shortId(rid) }));
  };
  return h('section', { class: 'panel', id: 'lineage' },
    h('h2', { text: 'Lineage' }),
    h('ul', { class: 'lineage' },
      imp.promoted_from ? h('li', {}, 'Promoted from ', link(imp.promoted_from)) : null,
      (imp.promotions || []).map((p) => h('li', {}, 'Promoted to ', link(p)))));
}

// Which <details> the user opened, so that a live re-render keeps them open.
function openDetails() {
  return new Set([...document.querySelectorAll('#main details[data-key]')].filter((d) => d.open).map((d) => d.dataset.key));
}

function restoreDetails(keys) {
  for (const d of document.querySelectorAll('#main details[data-key]')) if (keys.has(d.dataset.key)) d.open = true;
}

function renderDetail() {
  if (state.route.kind !== 'detail' || !state.detail) return;
  const wasOpen = openDetails();
  const { imp, events, lineage } = state.detail;
  const reached = new Set(events.flatMap((e) => [e.from_status, e.to_status]).filter(Boolean));
  const failure = imp.failure_message
    ? h('div', { class: 'failure', id: 'failure' }, h('span', { class: 'strong', text: 'Why it failed: ' }), imp.failure_message)
    : null;
  const head = h('div', { class: 'detail-head', id: 'detail', dataset: { id: imp.id, status: imp.status } },
    h('a', { href: listHash({}), class: 'back', text: '← All requests' }),
    h('div', { class: 'title-row' },
      h('h1', { text: imp.model_name }),
      h('span', { id: 'detail-status' }, statusBadge(imp.status)),
      h('span', { class: 'tag env', text: imp.environment }),
      h('span', { class: 'tag', text: `team ${imp.team}` })),
    stepper(imp, reached),
    actionButtons(imp));
  const fields = h('section', { class: 'panel' },
    h('h2', { text: 'Request' }),
    h('dl', { class: 'fields' },
      field('Id', imp.id, { mono: true, key: 'id' }),
      field('Source', imp.source, { mono: true, key: 'source' }),
      field('Requested by', imp.requested_by, { key: 'requested_by' }),
      field('Created', when(imp.created_at)),
      field('Updated', when(imp.updated_at)),
      field('Description', imp.description),
      field('Attempt', imp.attempt > 1 ? String(imp.attempt) : null),
      field('Place in line', imp.queue_position != null ? String(imp.queue_position) : null, { key: 'queue_position' }),
      field('Job name', imp.job_name, { mono: true }),
      field('Bedrock job', imp.bedrock_job_arn, { mono: true, key: 'bedrock_job_arn' }),
      field('Submitted', imp.submitted_at ? when(imp.submitted_at) : null),
      field('Finished', imp.finished_at ? when(imp.finished_at) : null),
      field('Imported model', imp.imported_model_arn, { mono: true, key: 'imported_model_arn' }),
      field('Model tags', tags(imp.model_tags)),
      field('Job tags', tags(imp.job_tags))),
    imp.imported_model ? h('details', { dataset: { key: 'imported-model' } }, h('summary', { text: 'Imported model details' }), h('pre', { class: 'json', text: JSON.stringify(imp.imported_model, null, 2) })) : null);
  replace($('main'),
    head,
    failure,
    h('div', { class: 'columns' },
      h('div', { class: 'col' }, fields, lineageSection(imp, lineage), conditionsSection(imp.conditions || [])),
      h('div', { class: 'col' }, timelineSection(events), preflightSection(imp.preflight))));
  restoreDetails(wasOpen);
}

// ------------------------------------------------------------- actions

// A modal asking for confirmation and, optionally, one value. Resolves with
// the value (or true), or null when dismissed; `submit` runs the call and may
// throw to keep the dialog open with the error.
function ask({ title, text, input, okLabel, danger, submit }) {
  const dlg = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-text').textContent = text || '';
  const err = $('dialog-error');
  err.hidden = true;
  const slot = clear($('dialog-field'));
  let control = null;
  if (input) {
    if (input.kind === 'select') {
      control = h('select', { id: 'dialog-input' }, input.options.map((o) => h('option', { value: o.value, selected: o.value === input.value, text: o.label })));
    } else {
      control = h('textarea', { id: 'dialog-input', rows: 3, maxlength: 1024, placeholder: input.placeholder || '' });
    }
    slot.appendChild(h('label', { for: 'dialog-input', text: input.label }));
    slot.appendChild(control);
  }
  const ok = $('dialog-ok');
  ok.textContent = okLabel;
  ok.className = `btn ${danger ? 'danger' : 'primary'}`;
  ok.disabled = false;
  return new Promise((resolve) => {
    const form = $('dialog-form');
    const done = (v) => {
      form.removeEventListener('submit', onSubmit);
      $('dialog-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    const onSubmit = async (e) => {
      e.preventDefault();
      const value = control ? control.value.trim() : true;
      if (input && input.required && !value) {
        err.textContent = `${input.label} is required.`;
        err.hidden = false;
        return;
      }
      ok.disabled = true;
      try {
        const result = await submit(value);
        done(result);
      } catch (e2) {
        ok.disabled = false;
        if (e2 instanceof ApiProblem && e2.status === 401) { done(null); handle(e2); return; }
        err.textContent = describe(e2);
        err.hidden = false;
      }
    };
    form.addEventListener('submit', onSubmit);
    $('dialog-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    if (control) control.focus();
  });
}

async function run(button, call, message) {
  button.disabled = true;
  hideError();
  try {
    const updated = await call();
    toast(message);
    if (state.route.kind === 'detail') await loadDetail(state.route.id, { quiet: true });
    return updated;
  } catch (err) {
    handle(err);
    button.disabled = false;
    return null;
  }
}

const path = (imp, tail) => `/v1/imports/${encodeURIComponent(imp.id)}${tail}`;

function preflightNote(report) {
  if (!report) return 'The preflight has not run yet; it runs before any Bedrock job is created.';
  const failed = (report.checks || []).some((c) => c.outcome === 'failed');
  return failed
    ? 'The preflight found problems (see the report): unless they are fixed first, the request will fail its preflight again.'
    : 'The preflight passed; the import starts as soon as a job slot is free.';
}

function approve(shown) {
  // The request as now known (the report may have arrived since the button was drawn).
  const imp = state.detail && state.detail.imp.id === shown.id ? state.detail.imp : shown;
  ask({
    title: `Approve ${imp.model_name} for ${imp.environment}?`,
    text: preflightNote(imp.preflight),
    input: { kind: 'text', label: 'Comment (optional)', placeholder: 'For the audit trail' },
    okLabel: 'Approve',
    submit: (comment) => api('POST', path(imp, '/approve'), comment ? { comment } : {}),
  }).then((r) => { if (r) { toast('Approved: the request is queued.'); loadDetail(imp.id, { quiet: true }); } });
}

function reject(imp) {
  ask({
    title: `Reject ${imp.model_name}?`,
    text: 'The requester sees the reason.',
    input: { kind: 'text', label: 'Reason', required: true, placeholder: 'Why it may not go to this environment' },
    okLabel: 'Reject',
    danger: true,
    submit: (reason) => api('POST', path(imp, '/reject'), { reason }),
  }).then((r) => { if (r) { toast('Rejected.'); loadDetail(imp.id, { quiet: true }); } });
}

function promote(imp) {
  const names = state.environments.map((e) => e.name);
  const targets = state.environments.filter((e) => e.name !== imp.environment);
  const next = names[names.indexOf(imp.environment) + 1];
  const value = targets.some((t) => t.name === next) ? next : targets[0] && targets[0].name;
  ask({
    title: `Promote ${imp.model_name}`,
    text: 'A new request for the same artifact in the target environment, with the same checks and that environment\'s approval rule.',
    input: {
      kind: 'select', label: 'Target environment', value,
      options: targets.map((t) => ({ value: t.name, label: `${t.name}${t.requires_approval ? ' (approval required)' : ''}` })),
    },
    okLabel: 'Promote',
    submit: (environment) => api('POST', path(imp, '/promote'), { environment }),
  }).then((created) => {
    if (created && created.id) {
      toast(`Promoted to ${created.environment}.`);
      location.hash = `#/imports/${created.id}`;
    }
  });
}

function cancel(imp) {
  const inFlight = imp.status === 'submitting' || imp.status === 'importing';
  ask({
    title: `Cancel ${imp.model_name}?`,
    text: inFlight
      ? 'Bedrock import jobs cannot be stopped: the job may still finish in Bedrock, but Ferry stops tracking it.'
      : 'No Bedrock job has been started for it yet.',
    input: { kind: 'text', label: 'Reason (optional)' },
    okLabel: 'Cancel request',
    danger: true,
    submit: (reason) => api('POST', path(imp, '/cancel'), reason ? { reason } : {}),
  }).then((r) => { if (r) { toast('Cancelled.'); loadDetail(imp.id, { quiet: true }); } });
}

function deleteModel(imp) {
  ask({
    title: `Delete the imported model ${imp.model_name}?`,
    text: `Bedrock deletes ${imp.imported_model_arn}; it stops billing storage. This cannot be undone.`,
    okLabel: 'Delete model',
    danger: true,
    submit: () => api('DELETE', path(imp, '/model')),
  }).then((r) => { if (r) { toast('Deletion started.'); loadDetail(imp.id, { quiet: true }); } });
}

function retry(imp, button) {
  run(button, () => api('POST', path(imp, '/retry')), 'Queued again as a new attempt.');
}

// ------------------------------------------------------------- start

function start() {
  $('logout').addEventListener('click', () => signOut('Signed out.', true));
  $('banner-close').addEventListener('click', hideError);
  window.addEventListener('hashchange', route);
  setInterval(() => refreshTimes(), 15000);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    signIn(token).then((failed) => { if (failed) showLogin(failed); });
  } else {
    showLogin();
  }
}

start();
