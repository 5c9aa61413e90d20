// Parts of one request's page: its progress along the happy path, its
// lineage, its conditions and its event timeline.

import { h, when, humanize, shortId, fmtTime } from './dom.js';
import { statusBadge } from './parts.js';
import { detailHash } from './routes.js';

const HAPPY_PATH = ['queued', 'validating', 'submitting', 'importing', 'verifying', 'completed'];

// Where the request is on its way to `completed`; `reached` holds every
// status its events moved it to (a failed or cancelled request shows how far
// it got).
export function stepper(imp, reached) {
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

// `lineage` maps the related requests' ids to those the caller may see.
export function lineageSection(imp, lineage) {
  if (!imp.promoted_from && !imp.reused_from && !(imp.promotions || []).length) return null;
  const link = (rid) => {
    const other = lineage.get(rid);
    return h('a', { href: detailHash(rid), class: 'lineage-link', dataset: { id: rid } },
      other ? [h('span', { class: 'strong', text: other.environment }), ' ', statusBadge(other.status), ' ', other.model_name] : h('span', { class: 'mono', text: shortId(rid) }));
  };
  return h('section', { class: 'panel', id: 'lineage' },
    h('h2', { text: 'Lineage' }),
    h('ul', { class: 'lineage' },
      imp.promoted_from ? h('li', {}, 'Promoted from ', link(imp.promoted_from)) : null,
      imp.reused_from ? h('li', { dataset: { key: 'reused_from' } }, 'Same artifact: uses the model imported by ', link(imp.reused_from)) : null,
      (imp.promotions || []).map((p) => h('li', {}, 'Promoted to ', link(p)))));
}

export function conditionsSection(conditions) {
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

export function timelineSection(events) {
  return h('section', { class: 'panel', id: 'timeline-panel' },
    h('h2', { text: 'Timeline' }),
    h('ol', { class: 'timeline', id: 'timeline' }, events.map((e) => h('li', { dataset: { kind: e.kind, to: e.to_status || '' } },
      h('div', { class: 'event-head' },
        h('span', { class: 'strong', text: humanize(e.kind) }),
        e.from_status || e.to_status ? h('span', { class: 'transition' },
          e.from_status ? statusBadge(e.from_status) : null,
          e.from_status && e.to_status ? ' → ' : null,
          e.to_status ? statusBadge(e.to_status) : null) : null,
        h('span', { class: 'muted' }, 'by ', h('span', { class: 'actor', text: e.actor }),
          // The credential, since display names are chosen freely.
          e.actor_id ? h('span', { class: 'actor-id mono', title: 'credential', text: ` (${e.actor_id})` }) : null),
        h('span', { class: 'muted', title: fmtTime(e.at) }, when(e.at))),
      detailPairs(e.detail)))));
}
