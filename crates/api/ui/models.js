// The imported models in the hosting accounts (GET /v1/models): Ferry's,
// linked to their requests, and those imported outside Ferry that the
// account inventory found (they hold quota and bill storage too), with
// their age. `#/models?environment=…&managed=true|false` filters.

import { $, h, replace, when } from './dom.js';
import { query } from './api.js';
import { api, environments, currentRoute, viewSeq, isCurrent } from './state.js';
import { detailHash, modelHash } from './routes.js';
import { statusBadge } from './parts.js';
import { handle } from './session.js';

export const MODEL_FILTERS = ['environment', 'managed', 'deletion_candidate'];

export function modelsHash(filters) {
  return `#/models${query(filters)}`;
}

let items = [];

export async function show(opts = {}) {
  const seq = viewSeq();
  const f = currentRoute().filters || {};
  if (!opts.quiet) render({ loading: true });
  try {
    const list = await api('GET', `/v1/models${query(f)}`);
    if (!isCurrent(seq)) return;
    items = list.items;
    render();
  } catch (err) {
    handle(err);
  }
}

export function refresh() {
  return show({ quiet: true });
}

function ageText(m) {
  if (m.age_days === null || m.age_days === undefined) return '';
  return m.age_days === 1 ? '1 day' : `${m.age_days} days`;
}

function row(m) {
  const name = h('a', { href: modelHash(m.id), class: 'strong model-link', text: m.model_name });
  const by = m.managed ? h('span', { class: 'tag', text: 'Ferry' }) : h('span', { class: 'tag warn', text: 'outside Ferry' });
  return h('tr', { dataset: { id: m.id, arn: m.imported_model_arn, managed: String(m.managed) } },
    h('td', {}, name),
    h('td', {}, m.import_id ? h('a', { href: detailHash(m.import_id), title: 'the request that imported it' }, by) : by),
    h('td', {}, m.status ? statusBadge(m.status) : null),
    h('td', { text: m.environment || '' }),
    h('td', { text: m.team || '' }),
    h('td', { class: 'muted', text: `${m.account} · ${m.region}` }),
    h('td', { text: ageText(m) }),
    h('td', {}, m.last_seen_at ? when(m.last_seen_at) : h('span', { class: 'muted', text: 'not yet' })),
    h('td', { dataset: { field: 'last-invoked' } },
      m.last_invoked_at ? when(m.last_invoked_at) : h('span', { class: 'muted', text: 'no invocation seen' }),
      m.deletion_candidate ? h('span', { class: 'tag warn deletion-candidate', text: ` idle ${m.idle_days} days: deletion candidate` }) : null),
    h('td', { class: 'mono muted small', text: m.imported_model_arn }));
}

function filterLinks(f) {
  const link = (label, next, id) => {
    const active = MODEL_FILTERS.every((k) => (f[k] || undefined) === (next[k] || undefined));
    return h('a', { class: `chip${active ? ' active' : ''}`, id, href: modelsHash(next), text: label });
  };
  const envs = environments().map((e) => e.name);
  return h('div', { class: 'chips', id: 'model-filters' },
    link('All', { environment: f.environment }, 'models-all'),
    link('Ferry\'s', { environment: f.environment, managed: 'true' }, 'models-managed'),
    link('Outside Ferry', { environment: f.environment, managed: 'false' }, 'models-unmanaged'),
    link('Deletion candidates', { environment: f.environment, deletion_candidate: 'true' }, 'models-candidates'),
    h('span', { class: 'muted', text: ' · ' }),
    link('every environment', { managed: f.managed }, 'models-env-all'),
    envs.map((e) => link(e, { environment: e, managed: f.managed }, `models-env-${e}`)));
}

function render(opts = {}) {
  if (currentRoute().kind !== 'models') return;
  const f = currentRoute().filters || {};
  let body;
  if (opts.loading) body = h('p', { class: 'muted', text: 'Loading…' });
  else if (items.length === 0) body = h('p', { class: 'empty', id: 'no-models', text: 'No imported model here.' });
  else {
    body = h('table', { class: 'requests', id: 'models' },
      h('thead', {}, h('tr', {},
        ['Model', 'Imported by', 'Status', 'Environment', 'Team', 'Account', 'Age', 'Last listed', 'Last invoked', 'ARN']
          .map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, items.map(row)));
  }
  const outside = items.filter((m) => !m.managed).length;
  replace($('main'),
    h('div', { class: 'page-head' }, h('h1', { text: 'Imported models' })),
    h('section', { class: 'panel' },
      filterLinks(f),
      outside > 0
        ? h('p', { class: 'callout', id: 'outside-ferry', text: `${outside} model${outside === 1 ? ' was' : 's were'} imported outside Ferry: they count against the account's imported-model quota.` })
        : null,
      body));
}
