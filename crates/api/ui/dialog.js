// The one modal dialog of the page (#dialog in index.html): asks for
// confirmation and, optionally, one value, and shows the API's refusal
// without closing.

import { $, h, clear } from './dom.js';
import { describe, ApiProblem } from './api.js';
import { handle } from './session.js';

// Resolves with what `submit` returned, or null when dismissed; `submit`
// runs the call with the value (or true) and may throw to keep the dialog
// open with the error.
export function ask({ title, text, input, okLabel, danger, submit }) {
  const dlg = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-text').textContent = text || '';
  const err = $('dialog-error');
  err.hidden = true;
  const slot = clear($('dialog-field'));
  let control = null;
  if (input) {
    if (input.kind === 'select') {
      control = h('select', { id: 'dialog-input' }, input.options.map((o) => h('option', { value: o.value, selected: o.value === input.value, text: o.label })));
    } else {
      control = h('textarea', { id: 'dialog-input', rows: 3, maxlength: 1024, placeholder: input.placeholder || '' });
    }
    slot.appendChild(h('label', { for: 'dialog-input', text: input.label }));
    slot.appendChild(control);
  }
  const ok = $('dialog-ok');
  ok.textContent = okLabel;
  ok.className = `btn ${danger ? 'danger' : 'primary'}`;
  ok.disabled = false;
  return new Promise((resolve) => {
    const form = $('dialog-form');
    const done = (v) => {
      form.removeEventListener('submit', onSubmit);
      $('dialog-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    const onSubmit = async (e) => {
      e.preventDefault();
      const value = control ? control.value.trim() : true;
      if (input && input.required && !value) {
        err.textContent = `${input.label} is required.`;
        err.hidden = false;
        return;
      }
      ok.disabled = true;
      try {
        const result = await submit(value);
        done(result);
      } catch (e2) {
        ok.disabled = false;
        if (e2 instanceof ApiProblem && e2.status === 401) { done(null); handle(e2); return; }
        err.textContent = describe(e2);
        err.hidden = false;
      }
    };
    form.addEventListener('submit', onSubmit);
    $('dialog-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    if (control) control.focus();
  });
}
