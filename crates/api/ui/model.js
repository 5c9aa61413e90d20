// One imported model (GET /v1/models/{id}), `#/models/<id>`: where it is,
// who imported it (Ferry's request, or outside Ferry), its age, the model
// card when Ferry imported it, and the requests that hold it.

import { $, h, replace, when } from './dom.js';
import { api, currentRoute, viewSeq, isCurrent } from './state.js';
import { detailHash } from './routes.js';
import { statusBadge, field } from './parts.js';
import { cardSection } from './card.js';
import { handle } from './session.js';

let model = null;

export async function show(id, opts = {}) {
  const seq = viewSeq();
  if (!opts.quiet) render({ loading: true });
  try {
    const m = await api('GET', `/v1/models/${encodeURIComponent(id)}`);
    if (!isCurrent(seq)) return;
    model = m;
    render();
  } catch (err) {
    handle(err);
  }
}

export function refresh() {
  return show(currentRoute().id, { quiet: true });
}

function ageText(m) {
  if (m.age_days === null || m.age_days === undefined) return null;
  return m.age_days === 1 ? '1 day' : `${m.age_days} days`;
}

function holders(m) {
  if (!m.holding_requests.length) return null;
  return h('section', { class: 'panel', id: 'holding-requests' },
    h('h2', { text: 'Requests holding it' }),
    h('table', { class: 'requests' },
      h('thead', {}, h('tr', {}, ['Request', 'Status', 'Environment', 'Team', 'Reuses', 'Finished']
        .map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, m.holding_requests.map((r) => h('tr', { dataset: { id: r.id } },
        h('td', {}, h('a', { href: detailHash(r.id), class: 'strong', text: r.model_name })),
        h('td', {}, statusBadge(r.status)),
        h('td', { text: r.environment }),
        h('td', { text: r.team }),
        h('td', {}, r.reused_from ? h('a', { href: detailHash(r.reused_from), class: 'mono small', text: r.reused_from }) : null),
        h('td', {}, r.finished_at ? when(r.finished_at) : null))))));
}

function render(opts = {}) {
  if (currentRoute().kind !== 'model') return;
  if (opts.loading || !model) {
    replace($('main'), h('p', { class: 'muted', text: 'Loading…' }));
    return;
  }
  const m = model;
  const by = m.managed
    ? h('span', { class: 'tag', text: 'Ferry' })
    : h('span', { class: 'tag warn', text: 'outside Ferry' });
  replace($('main'),
    h('div', { class: 'page-head' },
      h('a', { href: '#/models', class: 'btn ghost small', id: 'back-to-models', text: '← Models' }),
      h('h1', { id: 'model-name', text: m.model_name }), by),
    h('section', { class: 'panel', id: 'model-fields' },
      h('dl', { class: 'fields' },
        field('Model ARN', m.imported_model_arn, { mono: true, key: 'arn' }),
        field('Imported by', m.managed ? 'Ferry' : 'outside Ferry (found by the account inventory)', { key: 'managed' }),
        field('Request', m.import_id ? h('a', { href: detailHash(m.import_id), text: m.import_id }) : null, { key: 'import' }),
        field('Status', m.status ? statusBadge(m.status) : null),
        field('Environment', m.environment, { key: 'environment' }),
        field('Team', m.team),
        field('Account', `${m.account} · ${m.region}`),
        field('Architecture', m.architecture),
        field('Imported', m.imported_at ? when(m.imported_at) : null),
        field('Age', ageText(m), { key: 'age' }),
        field('Last listed', m.last_seen_at ? when(m.last_seen_at) : 'not yet'),
        field('Last invoked', m.last_invoked_at ? when(m.last_invoked_at) : 'no invocation seen', { key: 'last-invoked' }),
        field('Idle', m.idle_days == null ? null : `${m.idle_days} days${m.deletion_candidate ? ': a deletion candidate (Ferry never deletes it by itself)' : ''}`, { key: 'idle' }))),
    m.managed
      ? null
      : h('p', { class: 'callout', id: 'outside-ferry-model', text: 'Imported outside Ferry: it counts against the account\'s imported-model quota, and Ferry has no model card for it.' }),
    cardSection(m.model_card),
    holders(m));
}
