// What the caller may do with a request, and doing it: the buttons follow
// the server's `allowed_actions` (decided by the same check that authorizes
// each action; the page keeps no copy of the roles or the status machine),
// each with its dialog. The server still checks every call, and its
// refusals are shown as they come (problem+json `detail`).

import { h } from './dom.js';
import { api, environments, currentRoute } from './state.js';
import { detailHash } from './routes.js';
import { hideError, toast } from './notice.js';
import { handle } from './session.js';
import { ask } from './dialog.js';

// Whether the server lists `action` (an ImportAction) for the caller now.
export function offers(imp, action) {
  return Array.isArray(imp.allowed_actions) && imp.allowed_actions.includes(action);
}

// Which buttons to show: what the server offers, where the page has what
// the action needs (another environment to promote to, a model to delete).
function shows(action, imp) {
  switch (action) {
    case 'promote':
      return offers(imp, 'promote') && environments().some((e) => e.name !== imp.environment);
    case 'delete':
      return offers(imp, 'delete_model') && Boolean(imp.imported_model_arn);
    default:
      return offers(imp, action);
  }
}

// The buttons and notes for `imp`, or null. `view.latest()` is the request
// as now known (an event may have updated it since the buttons were drawn);
// `view.reload()` redraws the request after an action.
export function actionButtons(imp, view) {
  const buttons = [];
  const add = (action, label, cls, fn) => {
    if (!shows(action, imp)) return;
    const b = h('button', { type: 'button', class: `btn ${cls}`, dataset: { action }, text: label });
    b.addEventListener('click', () => fn(imp, view, b));
    buttons.push(b);
  };
  add('approve', 'Approve', 'primary', approve);
  add('reject', 'Reject…', 'danger', reject);
  add('promote', 'Promote…', 'primary', promote);
  add('retry', 'Retry', '', retry);
  add('cancel', 'Cancel request…', 'ghost', cancel);
  add('delete', 'Delete model…', 'danger', deleteModel);
  const notes = [];
  // Notes say only what `allowed_actions` implies: a request waiting for
  // an approval the caller may not give waits for someone else's.
  if (imp.status === 'pending_approval' && !offers(imp, 'reject')) {
    notes.push(h('p', { class: 'muted small', text: 'Waiting for the hosting team to approve.' }));
  } else if (imp.status === 'pending_approval' && !offers(imp, 'approve')) {
    notes.push(h('p', { class: 'muted small', text: 'Waiting for someone else to approve it.' }));
  }
  if (buttons.length === 0 && notes.length === 0) return null;
  return h('div', { class: 'actions', id: 'actions' }, buttons, notes);
}

const path = (imp, tail) => `/v1/imports/${encodeURIComponent(imp.id)}${tail}`;

// After a dialog: say what happened and show the request as it is now.
const afterwards = (view, message) => (r) => { if (r) { toast(message); view.reload(); } };

function preflightNote(report) {
  if (!report) return 'The preflight has not run yet; it runs before any Bedrock job is created.';
  const failed = (report.checks || []).some((c) => c.outcome === 'failed');
  return failed
    ? 'The preflight found problems (see the report): unless they are fixed first, the request will fail its preflight again.'
    : 'The preflight passed; the import starts as soon as a job slot is free.';
}

function approve(_drawn, view) {
  // The request as now known: the report may have arrived since the button
  // was drawn.
  const imp = view.latest();
  ask({
    title: `Approve ${imp.model_name} for ${imp.environment}?`,
    text: preflightNote(imp.preflight),
    input: { kind: 'text', label: 'Comment (optional)', placeholder: 'For the audit trail' },
    okLabel: 'Approve',
    submit: (comment) => api('POST', path(imp, '/approve'), comment ? { comment } : {}),
  }).then(afterwards(view, 'Approved: the request is queued.'));
}

function reject(imp, view) {
  ask({
    title: `Reject ${imp.model_name}?`,
    text: 'The requester sees the reason.',
    input: { kind: 'text', label: 'Reason', required: true, placeholder: 'Why it may not go to this environment' },
    okLabel: 'Reject',
    danger: true,
    submit: (reason) => api('POST', path(imp, '/reject'), { reason }),
  }).then(afterwards(view, 'Rejected.'));
}

function promote(imp) {
  const envs = environments();
  const names = envs.map((e) => e.name);
  const targets = envs.filter((e) => e.name !== imp.environment);
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
      location.hash = detailHash(created.id);
    }
  });
}

function cancel(imp, view) {
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
  }).then(afterwards(view, 'Cancelled.'));
}

function deleteModel(imp, view) {
  ask({
    title: `Delete the imported model ${imp.model_name}?`,
    text: `Bedrock deletes ${imp.imported_model_arn}; it stops billing storage. This cannot be undone.`,
    okLabel: 'Delete model',
    danger: true,
    submit: () => api('DELETE', path(imp, '/model')),
  }).then(afterwards(view, 'Deletion started.'));
}

// Retry needs no dialog: the button itself waits for the answer.
async function retry(imp, view, button) {
  button.disabled = true;
  hideError();
  try {
    await api('POST', path(imp, '/retry'));
    toast('Queued again as a new attempt.');
    if (currentRoute().kind === 'detail') await view.reload();
  } catch (err) {
    handle(err);
    button.disabled = false;
  }
}
