// Requests by environment and status: the overview (overview.js), the
// API's filters, and the table, loaded page by page and kept current by
// live events. List pages carry summaries (status, names, team, who, when,
// allowed_actions): all the table and the overview show; a request changed
// by an event is read whole.

import { $, h, replace, when, humanize, shortId } from './dom.js';
import { query, ApiProblem } from './api.js';
import { api, me, environments, teams, currentRoute, viewSeq, isCurrent, onSignOut } from './state.js';
import { FILTERS, listHash, detailHash } from './routes.js';
import { STATUSES, statusBadge } from './parts.js';
import { handle } from './session.js';
import { renderOverview, OVERVIEW_MAX } from './overview.js';

const PAGE = 100;

// The table: requests matching the filters, loaded page by page.
let items = new Map();
let cursor = null;
// The overview: the newest requests, unfiltered.
let all = new Map();
let allTruncated = false;

onSignOut(() => {
  items.clear();
  all.clear();
});

const filters = () => currentRoute().filters || {};

async function fetchPages(params, max) {
  const out = [];
  let next = null;
  do {
    const page = await api('GET', `/v1/imports${query({ ...params, limit: 200, cursor: next })}`);
    out.push(...page.items);
    next = page.next_cursor || null;
  } while (next && out.length < max);
  return { items: out, truncated: Boolean(next) };
}

// Loads and draws the list for the route's filters; `quiet` keeps the page
// as it is meanwhile.
export async function show(opts = {}) {
  const seq = viewSeq();
  const f = currentRoute().filters;
  if (!opts.quiet) {
    items.clear();
    cursor = null;
    render({ loading: true });
  }
  try {
    const [page, newest] = await Promise.all([
      api('GET', `/v1/imports${query({ ...f, limit: PAGE })}`),
      fetchPages({}, OVERVIEW_MAX),
    ]);
    if (!isCurrent(seq)) return;
    items = new Map(page.items.map((i) => [i.id, i]));
    cursor = page.next_cursor || null;
    all = new Map(newest.items.map((i) => [i.id, i]));
    allTruncated = newest.truncated;
    render();
  } catch (err) {
    handle(err);
  }
}

export function refresh() {
  return show({ quiet: true });
}

function matches(imp, f) {
  return FILTERS.every((k) => !f[k] || imp[k] === f[k]);
}

// Events arrived for requests `ids`: fetch each again (a 404 means it is
// gone) and redraw.
export async function changed(ids) {
  for (const id of ids) {
    try {
      const imp = await api('GET', `/v1/imports/${encodeURIComponent(id)}`);
      all.set(imp.id, imp);
      if (matches(imp, filters())) items.set(imp.id, imp);
      else items.delete(imp.id);
    } catch (err) {
      if (err instanceof ApiProblem && err.status === 404) {
        items.delete(id);
        all.delete(id);
      } else {
        handle(err);
        return;
      }
    }
  }
  render();
}

async function loadMore(button) {
  if (!cursor) return;
  button.disabled = true;
  try {
    const page = await api('GET', `/v1/imports${query({ ...currentRoute().filters, limit: PAGE, cursor })}`);
    for (const i of page.items) items.set(i.id, i);
    cursor = page.next_cursor || null;
    render();
  } catch (err) {
    handle(err);
    button.disabled = false;
  }
}

function newestFirst(a, b) {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
}

function select(name, label, options, value, onChange) {
  const el = h('select', { id: `filter-${name}`, name },
    h('option', { value: '', text: `All ${label}` }),
    options.map((o) => h('option', { value: o, selected: o === value, text: o.replace(/_/g, ' ') })));
  el.addEventListener('change', () => onChange(el.value));
  return h('label', { class: 'filter' }, h('span', { text: humanize(name) }), el);
}

function renderFilters(f) {
  const set = (k) => (v) => {
    location.hash = listHash({ ...f, [k]: v || undefined });
  };
  const envs = environments().map((e) => e.name);
  if (f.environment && !envs.includes(f.environment)) envs.push(f.environment);
  const model = h('input', { id: 'filter-model_name', type: 'search', value: f.model_name || '', placeholder: 'exact model name' });
  model.addEventListener('change', () => set('model_name')(model.value.trim()));
  const parts = [
    select('environment', 'environments', envs, f.environment, set('environment')),
    select('status', 'statuses', STATUSES, f.status, set('status')),
  ];
  if (me().role !== 'researcher') parts.push(select('team', 'teams', teams(), f.team, set('team')));
  parts.push(h('label', { class: 'filter' }, h('span', { text: 'Model' }), model));
  const any = FILTERS.some((k) => f[k]);
  return h('form', { class: 'filters', id: 'filters', onsubmit: (e) => e.preventDefault() },
    parts,
    any ? h('a', { class: 'btn ghost small', href: '#/', id: 'clear-filters', text: 'Clear filters' }) : null);
}

function row(imp) {
  const tr = h('tr', { dataset: { id: imp.id, status: imp.status, environment: imp.environment, team: imp.team } },
    h('td', {}, statusBadge(imp.status)),
    h('td', {}, h('a', { href: detailHash(imp.id), class: 'strong', text: imp.model_name })),
    h('td', { text: imp.environment }),
    h('td', { text: imp.team }),
    h('td', { text: imp.requested_by }),
    h('td', {}, when(imp.updated_at)),
    h('td', { class: 'mono muted', title: imp.id, text: shortId(imp.id) }));
  tr.addEventListener('click', (e) => {
    if (e.target.closest('a')) return;
    location.hash = detailHash(imp.id);
  });
  return tr;
}

function render(opts = {}) {
  if (currentRoute().kind !== 'list') return;
  const f = filters();
  const rows = [...items.values()].sort(newestFirst).map(row);
  const table = h('table', { class: 'requests', id: 'requests' },
    h('thead', {}, h('tr', {},
      ['Status', 'Model', 'Environment', 'Team', 'Requested by', 'Updated', 'Id'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, rows));
  let body;
  if (opts.loading) body = h('p', { class: 'muted', text: 'Loading…' });
  else if (rows.length === 0) {
    body = h('p', { class: 'empty', id: 'no-requests', text: FILTERS.some((k) => f[k]) ? 'No request matches these filters.' : 'No import requests yet.' });
  } else body = table;
  const more = cursor ? h('button', { type: 'button', class: 'btn', id: 'more', text: 'Load more' }) : null;
  if (more) more.addEventListener('click', () => loadMore(more));
  const who = me();
  const title = who.role === 'researcher' ? `Import requests of team ${who.team}` : 'Import requests';
  replace($('main'),
    h('div', { class: 'page-head' }, h('h1', { text: title })),
    renderOverview([...all.values()], allTruncated, f),
    h('section', { class: 'panel' }, renderFilters(f), body, more ? h('div', { class: 'row center' }, more) : null));
}
