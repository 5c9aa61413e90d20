// Ferry's dashboard: sign in with a token, follow import requests by
// environment and status, open one for its timeline, conditions and
// preflight report, and act on it where the server allows. Updates arrive
// from GET /v1/events without reloading the page.
//
// This entry wires the modules, each of one concern:
//   state.js     who is signed in and which view shows (named setters, sign-in/out listeners)
//   session.js   the login form, GET /v1/me, sign-out, a 401 ending the session
//   routes.js    the page's addresses (#/?filters, #/imports/<id>)
//   list.js      requests by environment and status (overview.js: the counts)
//   detail.js    one request (sections.js, preflight.js: its parts)
//   submit.js    the form for a new request (rules.js: Bedrock's field rules)
//   sso.js       signing in through the organisation's identity provider
//   models.js    the imported models in the hosting accounts, Ferry's and others
//   model.js     one imported model: its card and the requests holding it
//   actions.js   the buttons from the server's allowed_actions, and their dialogs (dialog.js)
//   notice.js    the error banner and the toast
//   api.js, live.js, dom.js, parts.js   the API client, the event stream, DOM helpers, shared pieces

import { $, refreshTimes } from './dom.js';
import { connectLive } from './live.js';
import { token, me, currentRoute, enterRoute, viewSeq, onSignIn, onSignOut } from './state.js';
import { parseHash } from './routes.js';
import { hideError } from './notice.js';
import { resume, signOut, logOut } from './session.js';
import * as list from './list.js';
import * as detail from './detail.js';
import * as submit from './submit.js';
import * as models from './models.js';
import * as model from './model.js';

// ------------------------------------------------------------- routing

function route() {
  if (!me()) return;
  hideError();
  const r = enterRoute(parseHash());
  if (r.kind === 'detail') detail.show(r.id);
  else if (r.kind === 'new') submit.show();
  else if (r.kind === 'models') models.show();
  else if (r.kind === 'model') model.show(r.id);
  else list.show();
}

function refresh() {
  const r = currentRoute();
  if (r.kind === 'detail') detail.refresh();
  else if (r.kind === 'list') list.refresh();
  else if (r.kind === 'models') models.refresh();
  else if (r.kind === 'model') model.refresh();
}

// ------------------------------------------------------------- live updates

let live = null;
// Requests that events named since the last redraw.
const pending = new Set();
let flushTimer = null;

function setLive(s) {
  const el = $('live');
  el.dataset.state = s;
  $('live-text').textContent = { live: 'live', connecting: 'connecting…', offline: 'offline' }[s] || s;
  el.title = s === 'live'
    ? 'Receiving updates as they happen'
    : 'Not receiving live updates; retrying. Data shown may be out of date.';
}

function stopLive() {
  if (live) live.close();
  live = null;
}

function startLive() {
  stopLive();
  live = connectLive({
    url: '/v1/events',
    token: token(),
    onState: setLive,
    onEvent: (msg) => {
      const importId = msg.data && msg.data.data && msg.data.data.import_id;
      if (importId) touch(importId);
    },
    // A fresh stream starts with events from now on: reload what is shown so
    // nothing between the page's load and the stream's start is missed.
    onOpen: (resumed) => {
      if (!resumed && viewSeq() > 0) refresh();
    },
    onUnauthorized: (detailText) => signOut(`Your session ended: ${detailText}.`),
  });
}

// Coalesces bursts of events (a request moves several times a second).
function touch(id) {
  pending.add(id);
  if (flushTimer) return;
  flushTimer = setTimeout(flush, 150);
}

async function flush() {
  flushTimer = null;
  const ids = [...pending];
  pending.clear();
  const r = currentRoute();
  if (r.kind === 'detail') await detail.changed(ids);
  else if (r.kind === 'list') await list.changed(ids);
}

// ------------------------------------------------------------- start

onSignIn(() => {
  startLive();
  route();
});
onSignOut(stopLive);
$('logout').addEventListener('click', logOut);
$('banner-close').addEventListener('click', hideError);
window.addEventListener('hashchange', route);
setInterval(() => refreshTimes(), 15000);
resume();
