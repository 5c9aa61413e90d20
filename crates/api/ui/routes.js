// The page's addresses: `#/?environment=…&status=…` lists requests with
// the API's filters, `#/imports/<id>` shows one, `#/new` is the form for a new one,
// `#/models?…` the imported models, `#/models/<id>` one of them.

import { query } from './api.js';

export const FILTERS = ['environment', 'status', 'team', 'model_name'];

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const m = /^\/imports\/([0-9a-fA-F-]{36})$/.exec(path);
  if (m) return { kind: 'detail', id: m[1].toLowerCase() };
  if (path === '/new') return { kind: 'new' };
  const mm = /^\/models\/([a-z0-9]{12})$/.exec(path);
  if (mm) return { kind: 'model', id: mm[1] };
  const params = new URLSearchParams(qs || '');
  if (path === '/models') {
    const mf = {};
    for (const k of ['environment', 'managed', 'deletion_candidate']) if (params.get(k)) mf[k] = params.get(k);
    return { kind: 'models', filters: mf };
  }
  const filters = {};
  for (const k of FILTERS) if (params.get(k)) filters[k] = params.get(k);
  return { kind: 'list', filters };
}

export function listHash(filters) {
  return `#/${query(filters)}`;
}

export function detailHash(id) {
  return `#/imports/${id}`;
}

export function modelHash(id) {
  return `#/models/${id}`;
}
