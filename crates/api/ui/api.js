// The API client: every call carries the bearer token; errors become
// ApiProblem with the problem+json body Ferry returns.

export class ApiProblem extends Error {
  constructor(status, body) {
    const detail = (body && body.detail) || (status ? `HTTP ${status}` : 'no answer');
    super(detail);
    this.status = status;
    this.code = body && body.code;
    this.title = body && body.title;
    this.detail = detail;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
    this.requestId = body && body.request_id;
  }
}

// A readable sentence for a failed call: Ferry's own detail, each field at
// fault, and the request id of server errors (to quote when reporting it).
export function describe(err) {
  if (!(err instanceof ApiProblem)) return String(err && err.message ? err.message : err);
  const parts = [];
  const head = {
    0: 'Ferry did not answer',
    401: 'Not signed in',
    403: 'Not allowed',
    404: 'Not found',
    409: 'Not possible now',
    422: 'Please check the input',
  }[err.status] || (err.title || `Error ${err.status}`);
  parts.push(`${head}: ${err.detail}`);
  for (const e of err.errors) {
    const field = String(e.pointer || '').replace(/^\//, '') || 'body';
    parts.push(`${field}: ${e.detail}`);
  }
  if (err.status >= 500 && err.requestId) parts.push(`request id ${err.requestId}`);
  return parts.join(' · ');
}

export function makeApi(getToken) {
  // `extra`: more request headers (an Idempotency-Key).
  return async function api(method, path, body, extra = {}) {
    const headers = { Accept: 'application/json', ...extra };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiProblem(0, { detail: `Ferry did not answer (${e.message})` });
    }
    const text = await res.text();
    let json = null;
    if (text) {
      try { json = JSON.parse(text); } catch { json = null; }
    }
    if (!res.ok) throw new ApiProblem(res.status, json);
    return json;
  };
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
