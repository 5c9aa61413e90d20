// Live updates from GET /v1/events (Server-Sent Events).
//
// EventSource cannot send an Authorization header, so the stream is read
// with fetch() and parsed here, following the SSE rules: `field: value`
// lines, a blank line ends an event, lines starting with ':' are comments
// (keep-alives). After a disconnect it reconnects with backoff and sends
// Last-Event-ID, so the server resumes where the stream stopped.

const MAX_BACKOFF_MS = 30000;
// Ferry sends a keep-alive comment every ~15 s; silence this long means the
// connection is dead even if the socket does not say so.
const SILENCE_MS = 45000;

export function connectLive({ url, token, onEvent, onState, onOpen, onUnauthorized }) {
  let lastId = null;
  let stopped = false;
  let attempt = 0;
  let baseDelay = 1000;
  let controller = null;
  let timer = null;
  let watchdog = null;

  // After a stream that ran a while and ended (a proxy or server timeout,
  // a redeploy), reconnect at once and quietly; after a failure, back off
  // and say so.
  function schedule(ranFor = 0) {
    if (stopped) return;
    if (ranFor > 5000) {
      attempt = 0;
      onState('connecting');
      timer = setTimeout(run, 250);
      return;
    }
    onState('offline');
    const delay = Math.min(MAX_BACKOFF_MS, baseDelay * 2 ** Math.min(attempt, 6));
    attempt += 1;
    const jitter = delay * (0.8 + Math.random() * 0.4);
    timer = setTimeout(run, jitter);
  }

  function feed() {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => controller && controller.abort(), SILENCE_MS);
  }

  async function run() {
    if (stopped) return;
    controller = new AbortController();
    onState('connecting');
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token}` };
    if (lastId !== null) headers['Last-Event-ID'] = lastId;
    let res;
    try {
      res = await fetch(url, { headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
    } catch {
      schedule();
      return;
    }
    if (res.status === 401) {
      stopped = true;
      onState('offline');
      let detail = 'the token is no longer accepted';
      try { detail = (await res.json()).detail || detail; } catch { /* not problem+json */ }
      onUnauthorized(detail);
      return;
    }
    const type = res.headers.get('content-type') || '';
    if (!res.ok || !res.body || !type.startsWith('text/event-stream')) {
      try { await res.body?.cancel(); } catch { /* already closed */ }
      schedule();
      return;
    }
    const opened = Date.now();
    onState('live');
    feed();
    onOpen(lastId !== null);
    try {
      await read(res.body);
    } catch {
      // Aborted or reset: reconnect below.
    }
    clearTimeout(watchdog);
    schedule(Date.now() - opened);
  }

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let data = [];
    let event = '';
    let id = null;
    const line = (l) => {
      if (l === '') {
        if (id !== null) lastId = id;
        if (data.length > 0) {
          const text = data.join('\n');
          let parsed = null;
          try { parsed = JSON.parse(text); } catch { parsed = null; }
          if (parsed) onEvent({ id: lastId, type: event || 'message', data: parsed });
        }
        data = [];
        event = '';
        id = null;
        return;
      }
      if (l.startsWith(':')) return;
      const colon = l.indexOf(':');
      const field = colon < 0 ? l : l.slice(0, colon);
      let value = colon < 0 ? '' : l.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) baseDelay = Math.max(250, Number(value));
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      feed();
      buf += value;
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        if (!m) break;
        // A '\r' at the very end may be the first half of a '\r\n'.
        if (m[0] === '\r' && m.index === buf.length - 1) break;
        line(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
      }
    }
  }

  run();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (controller) controller.abort();
    },
  };
}
