// The overview above the list: a card per environment (along the promotion
// path) with its requests counted by status, each count a link to the
// filtered list, and the requests waiting for the caller's review.

import { h } from './dom.js';
import { environments } from './state.js';
import { listHash } from './routes.js';
import { STATUSES } from './parts.js';
import { offers } from './actions.js';

// The overview counts the newest requests, up to this many.
export const OVERVIEW_MAX = 600;

// `all` holds the newest requests, unfiltered; `truncated` says there are more.
export function renderOverview(all, truncated, filters) {
  const envs = environments();
  const byEnv = new Map(envs.map((e) => [e.name, new Map()]));
  for (const imp of all) {
    if (!byEnv.has(imp.environment)) byEnv.set(imp.environment, new Map());
    const counts = byEnv.get(imp.environment);
    counts.set(imp.status, (counts.get(imp.status) || 0) + 1);
  }
  const envInfo = new Map(envs.map((e) => [e.name, e]));
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
  const waiting = all.filter((i) => i.status === 'pending_approval' && offers(i, 'reject')).length;
  return h('div', { class: 'overview', id: 'overview' },
    waiting > 0
      ? h('a', { class: 'callout', id: 'waiting', href: listHash({ status: 'pending_approval' }) },
        `${waiting} request${waiting === 1 ? ' waits' : 's wait'} for approval`)
      : null,
    h('div', { class: 'env-cards' }, cards),
    truncated ? h('p', { class: 'muted small', text: `Counts cover the newest ${OVERVIEW_MAX} requests.` }) : null);
}
