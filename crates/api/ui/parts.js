// Pieces several views draw: a request's status and a labelled field.

import { h } from './dom.js';

export const STATUSES = [
  'pending_approval', 'queued', 'validating', 'submitting', 'importing', 'verifying',
  'completed', 'failed', 'rejected', 'cancelled', 'deleting', 'deleted',
];

export function statusBadge(status) {
  return h('span', { class: `badge st-${status}`, dataset: { status }, text: status.replace(/_/g, ' ') });
}

// A <dt>/<dd> pair, or nothing when there is no value.
export function field(label, value, opts = {}) {
  if (value === undefined || value === null || value === '') return null;
  const dd = value instanceof Node ? h('dd', {}, value) : h('dd', { class: opts.mono ? 'mono' : '', text: value });
  if (opts.key) dd.dataset.field = opts.key;
  return [h('dt', { text: label }), dd];
}
