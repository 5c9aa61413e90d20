// The little state the views share, behind named functions: who is signed
// in (the token, `me`, the environments and teams they see) and which view
// shows. Views keep their own data (list.js, detail.js) and hear of a
// sign-in or sign-out through onSignIn / onSignOut.

import { makeApi } from './api.js';

const NOBODY = Object.freeze({ token: null, me: null, environments: [], teams: [] });

let session = NOBODY;
let view = { route: { kind: 'none' }, seq: 0 };
const signInListeners = [];
const signOutListeners = [];

// The API client, carrying the session's token.
export const api = makeApi(() => session.token);

export const token = () => session.token;
export const me = () => session.me;
export const environments = () => session.environments;
export const teams = () => session.teams;

// Signing in sets the token first (GET /v1/me needs it), then who it is.
export function setToken(value) {
  session = { ...session, token: value };
}

export function startSession(who, envs, visibleTeams) {
  session = { ...session, me: who, environments: envs, teams: visibleTeams };
  for (const fn of signInListeners) fn();
}

export function endSession() {
  session = NOBODY;
  for (const fn of signOutListeners) fn();
}

export function onSignIn(fn) {
  signInListeners.push(fn);
}

export function onSignOut(fn) {
  signOutListeners.push(fn);
}

export const currentRoute = () => view.route;

// Shows another view. Answers to calls made for an earlier one are dropped:
// a load remembers viewSeq() when it starts and checks isCurrent() after.
export function enterRoute(route) {
  view = { route, seq: view.seq + 1 };
  return route;
}

// The login form: no view of requests, nothing to drop.
export function enterLogin() {
  view = { ...view, route: { kind: 'login' } };
}

export const viewSeq = () => view.seq;
export const isCurrent = (seq) => seq === view.seq;
