// One request: loads it with its events and the requests it was promoted
// from or to, and draws its page (head with stepper and actions, fields,
// model card, lineage, conditions, timeline, preflight report). Live events redraw it
// in place, keeping the sections the user opened.

import { $, h, replace, when } from './dom.js';
import { query, ApiProblem } from './api.js';
import { api, currentRoute, viewSeq, isCurrent, onSignOut } from './state.js';
import { listHash } from './routes.js';
import { statusBadge, field } from './parts.js';
import { handle } from './session.js';
import { actionButtons } from './actions.js';
import { stepper, lineageSection, conditionsSection, timelineSection } from './sections.js';
import { preflightSection } from './preflight.js';
import { cardSection } from './card.js';

// The request shown: { imp, events, related (ids), lineage (id → request) }.
let shown = null;
onSignOut(() => { shown = null; });

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

// Loads and draws request `id`; `quiet` keeps the page as it is meanwhile.
export async function show(id, opts = {}) {
  const seq = viewSeq();
  if (!opts.quiet) replace($('main'), h('p', { class: 'muted', text: 'Loading…' }));
  try {
    const [imp, events] = await Promise.all([
      api('GET', `/v1/imports/${encodeURIComponent(id)}`),
      fetchEvents(id),
    ]);
    if (!isCurrent(seq)) return;
    const related = new Set([imp.promoted_from, imp.reused_from, ...(imp.promotions || [])].filter(Boolean));
    const lineage = shown && shown.imp.id === id ? shown.lineage : new Map();
    shown = { imp, events, related, lineage };
    render();
    loadLineage(seq, related);
  } catch (err) {
    if (!isCurrent(seq)) return;
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

// Reloads the request the page shows, if it shows one.
export function refresh() {
  const r = currentRoute();
  return r.kind === 'detail' ? show(r.id, { quiet: true }) : Promise.resolve();
}

// Events arrived for requests `ids`: reload if they touch the one shown or
// its lineage.
export async function changed(ids) {
  const r = currentRoute();
  if (ids.includes(r.id) || (shown && ids.some((i) => shown.related.has(i)))) {
    await show(r.id, { quiet: true });
  }
}

async function loadLineage(seq, ids) {
  for (const rid of ids) {
    try {
      const other = await api('GET', `/v1/imports/${encodeURIComponent(rid)}`);
      if (!isCurrent(seq) || !shown) return;
      shown.lineage.set(rid, other);
    } catch {
      // Not visible to this caller: the link still works, without details.
    }
  }
  if (isCurrent(seq) && ids.size > 0) render();
}

function tags(obj) {
  const entries = Object.entries(obj || {});
  if (entries.length === 0) return null;
  return h('span', { class: 'kv-tags' }, entries.map(([k, v]) => h('span', { class: 'tag', text: `${k}=${v}` })));
}

// Which <details> the user opened, so that a live re-render keeps them open.
function openDetails() {
  return new Set([...document.querySelectorAll('#main details[data-key]')].filter((d) => d.open).map((d) => d.dataset.key));
}

function restoreDetails(keys) {
  for (const d of document.querySelectorAll('#main details[data-key]')) if (keys.has(d.dataset.key)) d.open = true;
}

// Lineage of a request submitted with a SageMaker model package ARN.
function packageText(p) {
  const version = p.version != null ? `, version ${p.version}` : '';
  const approval = p.approval ? ` (${p.approval} at submit)` : '';
  return `${p.arn}${version}${approval}`;
}

function fieldsSection(imp) {
  return h('section', { class: 'panel' },
    h('h2', { text: 'Request' }),
    h('dl', { class: 'fields' },
      field('Id', imp.id, { mono: true, key: 'id' }),
      field('Source', imp.source, { mono: true, key: 'source' }),
      field('Model package', imp.model_package ? packageText(imp.model_package) : null, { mono: true, key: 'model_package' }),
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
      field('Artifact digest', imp.artifact_digest, { mono: true, key: 'artifact_digest' }),
      field('Model tags', tags(imp.model_tags)),
      field('Job tags', tags(imp.job_tags))),
    imp.imported_model ? h('details', { dataset: { key: 'imported-model' } }, h('summary', { text: 'Imported model details' }), h('pre', { class: 'json', text: JSON.stringify(imp.imported_model, null, 2) })) : null);
}

// What the action buttons need from this page.
const buttonView = (imp) => ({
  latest: () => (shown && shown.imp.id === imp.id ? shown.imp : imp),
  reload: refresh,
});

function render() {
  if (currentRoute().kind !== 'detail' || !shown) return;
  const wasOpen = openDetails();
  const { imp, events, lineage } = shown;
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
    actionButtons(imp, buttonView(imp)));
  replace($('main'),
    head,
    failure,
    h('div', { class: 'columns' },
      h('div', { class: 'col' }, fieldsSection(imp), cardSection(imp.model_card), lineageSection(imp, lineage), conditionsSection(imp.conditions || [])),
      h('div', { class: 'col' }, timelineSection(events), preflightSection(imp.preflight))));
  restoreDetails(wasOpen);
}
