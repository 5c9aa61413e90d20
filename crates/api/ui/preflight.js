// The preflight report of a request: each check (failures and warnings
// first, in full; passed checks folded away), the broken step of the access
// chain and its fix, and what the artifacts say.

import { h, when, humanize, bytes } from './dom.js';
import { field } from './parts.js';

function check(c) {
  return h('li', { class: `check out-${c.outcome}`, dataset: { check: c.name, outcome: c.outcome } },
    h('div', { class: 'check-head' },
      h('span', { class: `badge out-${c.outcome}`, text: c.outcome }),
      h('span', { class: 'strong', text: humanize(c.name) }),
      c.chain_step ? h('span', { class: 'tag warn', text: `broken step: ${c.chain_step.replace(/_/g, ' ')}` }) : null,
      c.transient ? h('span', { class: 'tag', text: 'transient' }) : null),
    h('div', { class: 'check-detail', text: c.detail }),
    c.evidence ? h('pre', { class: 'evidence', text: c.evidence }) : null,
    c.fix ? h('div', { class: 'fix' }, h('span', { class: 'strong', text: 'Fix: ' }), c.fix) : null);
}

function modelFacts(m) {
  return h('dl', { class: 'facts' },
    field('Family', m.family),
    field('Architectures', (m.architectures || []).join(', ')),
    field('Model type', m.model_type),
    field('Context length', m.context_length != null ? m.context_length.toLocaleString() : null),
    field('Declared dtype', m.torch_dtype),
    field('Tensor dtypes', (m.dtypes || []).join(', ')),
    field('Parameters', m.parameter_count != null ? m.parameter_count.toLocaleString() : null),
    field('Weights', bytes(m.total_weight_bytes)),
    field('All files', `${bytes(m.total_bytes)} in ${(m.files || []).length} files`),
    field('Source key', m.source_kms_key, { mono: true }));
}

export function preflightSection(report) {
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
  const notable = checks.filter((c) => c.outcome !== 'passed');
  const passed = checks.filter((c) => c.outcome === 'passed');
  const list = [
    notable.length ? h('ol', { class: 'checks' }, notable.map(check)) : null,
    passed.length ? h('details', { class: 'passed-checks', dataset: { key: 'passed-checks' }, open: notable.length === 0 && passed.length <= 3 },
      h('summary', { text: `${passed.length} passed check${passed.length === 1 ? '' : 's'}: ${passed.map((c) => humanize(c.name).toLowerCase()).join(', ')}` }),
      h('ol', { class: 'checks' }, passed.map(check))) : null,
  ];
  const m = report.model;
  const facts = m ? modelFacts(m) : null;
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
