// A new import request (`#/new`): the team's allowed sources and
// environments from GET /v1/environments, Bedrock's field rules shown and
// checked before sending (rules.js), the server's 422 field errors beside
// their fields, and one Idempotency-Key per form fill: a retry after a lost
// answer sends the same key, so it cannot create a second request. On
// success the new request opens.

import { $, h, replace } from './dom.js';
import { ApiProblem, describe } from './api.js';
import { api, me, teams, viewSeq, isCurrent } from './state.js';
import { detailHash } from './routes.js';
import { handle } from './session.js';
import { toast } from './notice.js';
import * as rules from './rules.js';

// The form's fields, each with its input and its error line.
let fields = {};
let key = null;
// The last answer was a definite refusal (4xx): the next edit makes a new submission.
let refused = false;

function newKey() {
  return crypto.randomUUID();
}

function fieldRow(name, label, input, hint) {
  const error = h('p', { id: `new-${name}-error`, class: 'error field-error', role: 'alert', hidden: true });
  fields[name] = { input, error };
  input.addEventListener('input', () => {
    if (refused) {
      key = newKey();
      refused = false;
    }
    setError(name, null);
  });
  return h('div', { class: 'form-field' },
    h('label', { for: input.id, text: label }),
    input,
    hint ? h('p', { class: 'muted hint', text: hint }) : null,
    error);
}

function setError(name, message) {
  const f = fields[name];
  if (!f) return;
  f.error.textContent = message || '';
  f.error.hidden = !message;
  f.input.setAttribute('aria-invalid', message ? 'true' : 'false');
}

export async function show() {
  const seq = viewSeq();
  replace($('main'), h('p', { class: 'muted', text: 'Loading…' }));
  let answer;
  try {
    answer = await api('GET', '/v1/environments');
  } catch (err) {
    handle(err);
    return;
  }
  if (!isCurrent(seq)) return;
  render(answer);
}

function render(answer) {
  const who = me();
  fields = {};
  key = newKey();
  refused = false;
  const admin = who.role === 'admin';
  const team = who.team;
  const sources = (answer.allowed_sources || []).filter((s) => admin || s.team === team);
  const envs = answer.items || [];
  const sourceList = h('datalist', { id: 'new-source-options' },
    sources.map((s) => h('option', { value: s.uri })));
  const source = h('input', {
    id: 'new-source', type: 'text', list: 'new-source-options', spellcheck: 'false', autocomplete: 'off',
    maxlength: 1024, value: sources.length ? sources[0].uri : '', placeholder: 's3://bucket/folder/',
  });
  const env = h('select', { id: 'new-environment' },
    envs.map((e) => h('option', {
      value: e.name,
      text: `${e.name}${e.requires_approval ? ' (needs approval)' : ''} · ${e.account_id} ${e.region}`,
    })));
  const model = h('input', { id: 'new-model-name', type: 'text', maxlength: 63, spellcheck: 'false', autocomplete: 'off', placeholder: 'llama3-8b-support' });
  const job = h('input', { id: 'new-job-name', type: 'text', maxlength: 63, spellcheck: 'false', autocomplete: 'off' });
  const description = h('textarea', { id: 'new-description', rows: 3, maxlength: rules.MAX_DESCRIPTION });
  const modelTags = h('textarea', { id: 'new-model-tags', rows: 2, spellcheck: 'false', placeholder: 'project=support-bot' });
  const jobTags = h('textarea', { id: 'new-job-tags', rows: 2, spellcheck: 'false' });
  const teamSelect = admin
    ? h('select', { id: 'new-team' }, teams().map((t) => h('option', { value: t, text: t })))
    : null;
  const formError = h('p', { id: 'new-error', class: 'error', role: 'alert', hidden: true });
  const button = h('button', { id: 'new-submit', type: 'submit', class: 'btn primary', text: 'Submit request' });
  const allowedText = sources.length
    ? `${rules.SOURCE_HINT}: ${sources.map((s) => s.uri).join(', ')}`
    : 'Your team has no source locations configured; ask the hosting team.';
  const form = h('form', { id: 'new-form', class: 'panel new-request', novalidate: true },
    h('h1', { text: 'New import request' }),
    h('p', { class: 'muted', text: team ? `For team ${team}. Bedrock's rules are checked as you submit; the hosting team reviews where the environment needs approval.` : 'Bedrock\'s rules are checked as you submit.' }),
    teamSelect ? fieldRow('team', 'Team', teamSelect, null) : null,
    fieldRow('source', 'Model folder (S3) or model package ARN', source, allowedText),
    sourceList,
    fieldRow('environment', 'Environment', env, envs.length ? null : 'No environment admits your team.'),
    fieldRow('model_name', 'Imported model name', model, rules.MODEL_NAME_HINT),
    fieldRow('job_name', 'Import job name', job, rules.JOB_NAME_HINT),
    fieldRow('description', 'Description for reviewers', description, `Optional; up to ${rules.MAX_DESCRIPTION} characters.`),
    fieldRow('model_tags', 'Model tags', modelTags, rules.TAGS_HINT),
    fieldRow('job_tags', 'Job tags', jobTags, null),
    formError,
    h('div', { class: 'row end' },
      h('a', { class: 'btn ghost', href: '#/', text: 'Cancel' }),
      button));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit({ sources, button, formError, team: teamSelect });
  });
  replace($('main'), form);
  model.focus();
}

// The body, or null with each broken field marked.
function collect(sources) {
  const v = (name) => fields[name].input.value.trim();
  const problems = {
    source: rules.checkSource(v('source'), sources.map((s) => s.uri)),
    environment: v('environment') ? null : 'choose an environment',
    model_name: rules.checkModelName(v('model_name')),
    job_name: rules.checkJobName(v('job_name')),
    description: rules.checkDescription(fields.description.input.value),
  };
  const modelTags = rules.parseTags(fields.model_tags.input.value);
  const jobTags = rules.parseTags(fields.job_tags.input.value);
  problems.model_tags = modelTags.error;
  problems.job_tags = jobTags.error;
  let ok = true;
  for (const [name, message] of Object.entries(problems)) {
    setError(name, message);
    if (message) ok = false;
  }
  if (!ok) return null;
  const body = {
    source: v('source'),
    environment: v('environment'),
    model_name: v('model_name'),
  };
  if (fields.team) body.team = v('team');
  if (v('job_name')) body.job_name = v('job_name');
  if (fields.description.input.value.trim()) body.description = fields.description.input.value.trim();
  if (Object.keys(modelTags.tags).length) body.model_tags = modelTags.tags;
  if (Object.keys(jobTags.tags).length) body.job_tags = jobTags.tags;
  return body;
}

async function submit({ sources, button, formError }) {
  formError.hidden = true;
  const body = collect(sources);
  if (!body) {
    const first = Object.values(fields).find((f) => !f.error.hidden);
    if (first) first.input.focus();
    return;
  }
  button.disabled = true;
  button.textContent = 'Submitting…';
  try {
    const created = await api('POST', '/v1/imports', body, { 'Idempotency-Key': key });
    toast(`Request for ${created.model_name} submitted.`);
    location.hash = detailHash(created.id);
  } catch (err) {
    button.disabled = false;
    button.textContent = 'Submit request';
    if (!(err instanceof ApiProblem) || err.status === 0 || err.status >= 500 || err.status === 429 || err.status === 408) {
      // No definite answer: the same key goes with the retry.
      formError.textContent = `${describe(err)}. Submitting again is safe: it cannot create a second request.`;
      formError.hidden = false;
      return;
    }
    if (err.status === 401) {
      handle(err);
      return;
    }
    refused = true;
    let placed = false;
    for (const e of err.errors) {
      const name = String(e.pointer || '').replace(/^\//, '').split('/')[0];
      if (fields[name]) {
        const tag = String(e.pointer).split('/').slice(2).join('/');
        setError(name, tag ? `${tag}: ${e.detail}` : e.detail);
        placed = true;
      }
    }
    if (!placed || err.status !== 422) {
      formError.textContent = describe(err);
      formError.hidden = false;
    }
  }
}
