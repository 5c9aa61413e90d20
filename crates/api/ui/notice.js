// Messages to the user: the error banner under the top bar (stays until
// dismissed or the next view) and the short-lived toast.

import { $ } from './dom.js';
import { describe } from './api.js';

let toastTimer = null;

// `err` is a sentence or a failed call (see describe in api.js).
export function showError(err) {
  $('banner-text').textContent = typeof err === 'string' ? err : describe(err);
  $('banner').hidden = false;
}

export function hideError() {
  $('banner').hidden = true;
}

export function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}
