// Signing in through the organisation's identity provider (`[auth.oidc]`
// with a client_id): the authorization code flow with PKCE (S256). The page
// is a public client and holds no secret. It makes the code verifier, the
// state and the nonce, keeps them in this tab (sessionStorage) and sends the
// browser to the issuer; back here it checks the state (and the issuer, RFC
// 9207), and hands the code, verifier and nonce to Ferry
// (POST /ui/sign-in/token), which redeems the code at the issuer's token
// endpoint, checks the ID token and its nonce, and returns it: the bearer
// token of the session until it expires. Logging out ends the issuer's
// session too, when it offers an end-session endpoint.

import { makeApi, describe } from './api.js';

const PENDING_KEY = 'ferry.sso.pending';
const SESSION_KEY = 'ferry.sso.session';
const SIGNED_OUT_KEY = 'ferry.sso.signed-out';

// Calls made before there is a token.
const anonymous = makeApi(() => null);

let config = { enabled: false };
let configError = null;

// Asks Ferry whether and how the dashboard signs in through the issuer.
export async function load() {
  try {
    config = await anonymous('GET', '/ui/sign-in/config');
    configError = null;
  } catch (err) {
    config = { enabled: false };
    configError = `Signing in through your organisation is unavailable: ${describe(err)}`;
  }
}

export const enabled = () => Boolean(config.enabled);
export const unavailable = () => configError;
export const issuer = () => config.issuer;

function randomText(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return base64url(a);
}

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function redirectUri() {
  return `${location.origin}${config.redirect_path}`;
}

// Sends the browser to the issuer; back here the page shows `hash`.
export async function begin(hash) {
  const verifier = randomText(32);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const pending = {
    state: randomText(24),
    nonce: randomText(24),
    verifier,
    hash: hash && hash !== '#' ? hash : '#/',
    redirect_uri: redirectUri(),
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(config.authorization_endpoint);
  const params = {
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: pending.redirect_uri,
    scope: config.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.toString());
}

// The issuer's answer in this page's address, if it holds one.
export function answer() {
  const q = new URLSearchParams(location.search);
  if (!q.has('state') || !(q.has('code') || q.has('error'))) return null;
  return Object.fromEntries(q.entries());
}

// Completes a sign-in from the issuer's answer: returns
// { id_token, expires_at, name, role } or throws a sentence.
export async function complete(params) {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? JSON.parse(raw) : null;
  // The code is for one use: take it out of the address at once.
  history.replaceState(null, '', `${location.pathname}${pending ? pending.hash : '#/'}`);
  if (!pending || params.state !== pending.state) {
    throw new Error('That sign-in answer does not belong to a sign-in started in this tab (state mismatch). Please sign in again.');
  }
  if (params.iss && config.issuer && params.iss !== config.issuer) {
    throw new Error(`That sign-in answer comes from ${params.iss}, not from ${config.issuer}. Please sign in again.`);
  }
  if (params.error) {
    throw new Error(`Your organisation's sign-in refused: ${params.error_description || params.error}.`);
  }
  try {
    return await anonymous('POST', '/ui/sign-in/token', {
      code: params.code,
      code_verifier: pending.verifier,
      redirect_uri: pending.redirect_uri,
      nonce: pending.nonce,
    });
  } catch (err) {
    throw new Error(`Signing in failed: ${describe(err)}`);
  }
}

// This tab's session came from the issuer; it ends at `expiresAt` (Unix seconds).
export function remember(expiresAt) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ expires_at: expiresAt }));
}

export function session() {
  const raw = sessionStorage.getItem(SESSION_KEY);
  return raw ? JSON.parse(raw) : null;
}

export function forget() {
  sessionStorage.removeItem(SESSION_KEY);
}

// Where to end the issuer's session for `idToken`, or null when the
// issuer offers no end-session endpoint.
export function logoutUrl(idToken) {
  if (!config.end_session_endpoint) return null;
  const url = new URL(config.end_session_endpoint);
  url.searchParams.set('id_token_hint', idToken);
  url.searchParams.set('client_id', config.client_id);
  url.searchParams.set('post_logout_redirect_uri', redirectUri());
  sessionStorage.setItem(SIGNED_OUT_KEY, '1');
  return url.toString();
}

// Whether the page comes back from the issuer's logout.
export function cameBackFromLogout() {
  const back = sessionStorage.getItem(SIGNED_OUT_KEY) === '1';
  sessionStorage.removeItem(SIGNED_OUT_KEY);
  return back;
}
