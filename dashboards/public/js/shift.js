// Issue 17 point 6, a shift's tools in the incident detail: one tap logs a call's outcome under each
// phone number (the call log), and a short note goes into the timeline (e.g. 电话未接通).
import { h } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';

const OUTCOMES = ['reached', 'no_answer', 'busy', 'unreachable'];

/** Buttons under a phone number: each logs the call with that outcome. */
export function callButtons(inc, who, done) {
  return h('div', { class: 'call-log', dataset: { contact: who.contact } },
    h('span', { class: 'muted' }, t('call.log')),
    OUTCOMES.map((o) => h('button', {
      type: 'button', class: 'btn small ghost', dataset: { outcome: o },
      onclick: () => api('POST', `/api/incidents/${encodeURIComponent(inc.id)}/call`, { contact: who.contact, phone: who.phone, outcome: o }).then(() => done(), done),
    }, t(`call.${o}`))));
}

/** A one-line note for the timeline. */
export function noteForm(inc, done) {
  const input = h('input', { type: 'text', id: 'note-text', maxlength: 2000, placeholder: t('note.placeholder'), 'aria-label': t('timeline.note') });
  return h('form', { class: 'note-form row', onsubmit: (e) => {
    e.preventDefault();
    const note = input.value.trim();
    if (!note) return;
    void api('POST', `/api/incidents/${encodeURIComponent(inc.id)}/note`, { note }).then(() => { input.value = ''; done(); }, done);
  } }, input, h('button', { type: 'submit', class: 'btn small', dataset: { action: 'note' } }, t('action.addNote')));
}
