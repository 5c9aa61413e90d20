// The model card of an imported model: how to call it (the APIs and
// request formats its readiness check verified, with examples to paste),
// how it did on its first call, and what it costs.

import { h } from './dom.js';
import { field } from './parts.js';

const API_NAMES = {
  invoke_model_native: 'InvokeModel (native body)',
  invoke_model_openai_chat: 'InvokeModel (OpenAI ChatCompletion body)',
  converse: 'Converse',
};

function seconds(ms) {
  return ms == null ? null : `${(ms / 1000).toFixed(1)} s`;
}

function cost(c) {
  if (!c) return null;
  const p = c.price;
  return h('span', {},
    `${c.currency} ${c.per_copy_minute} per copy per minute (${c.per_copy_hour} per hour), storage ${c.storage_per_month} per month `,
    h('span', { class: 'muted', text: `(price ${p.cmu_version} in ${p.region}, as of ${p.as_of})` }));
}

function example(label, key, text) {
  if (!text) return null;
  return h('details', { dataset: { key: `card-${key}` } },
    h('summary', { text: label }),
    h('pre', { class: 'json', dataset: { example: key }, text }));
}

export function cardSection(card) {
  if (!card) return null;
  const serving = card.serving == null ? null : h('span', {
    class: `badge cond-${card.serving ? 'true' : 'false'}`,
    text: card.serving ? 'answers' : 'did not answer',
  });
  const units = card.custom_model_units;
  return h('section', { class: 'panel', id: 'model-card' },
    h('h2', { text: 'Model card' }),
    h('dl', { class: 'fields' },
      field('Model ARN', card.model_arn, { mono: true, key: 'card-arn' }),
      field('Region', card.region),
      field('Architecture', card.architecture ? `${card.architecture}${card.family ? ` (${card.family})` : ''}` : null),
      field('Instruct', card.instruct_supported == null ? null : (card.instruct_supported ? 'yes' : 'no')),
      field('Chat template', card.chat_template),
      field('Serving', serving, { key: 'card-serving' }),
      field('Cold start', seconds(card.cold_start_ms)),
      field('First answer', card.first_answer_latency_ms == null ? null : `${card.first_answer_latency_ms} ms`),
      field('Verified APIs', (card.verified_apis || []).length
        ? h('ul', { class: 'plain' }, card.verified_apis.map((a) => h('li', { dataset: { api: a.api } },
          h('span', { class: 'strong', text: API_NAMES[a.api] || a.api }), ' ', h('span', { class: 'mono muted', text: a.request_format }))))
        : null, { key: 'card-apis' }),
      field('Custom model units', units && units.per_model_copy != null ? `${units.per_model_copy} per copy (${units.version || 'version unknown'})` : null),
      field('Estimated cost', cost(card.estimated_cost), { key: 'card-cost' })),
    example('AWS CLI', 'aws_cli', card.examples && card.examples.aws_cli),
    example('Python (boto3)', 'boto3', card.examples && card.examples.boto3));
}
