// Small pieces the queue, the site view and the phone page share: level badges, state chips, the
// resident line, timeline lines in the reader's language.
import { h } from './dom.js';
import { t, tr } from './i18n.js';

export const DISPOSITIONS = ['real_fire', 'nuisance', 'device_false_alarm', 'test', 'unknown'];

/**
 * Audit actions in words: transitions, and what the system did (opened, raised, escalation:step).
 * A policy's own step ids are not words: only the default steps' are shown; the note says the rest.
 */
export function actionLabel(action) {
  const [base, step] = action.split(':');
  const key = `timeline.${base}`;
  const label = t(key);
  if (label === key) return t('timeline.other');
  // call:<outcome> (the call log, issue 17 point 6), escalation:<step>.
  const stepLabel = step ? t(base === 'call' ? `call.${step}` : `step.${step}`) : null;
  return stepLabel && !stepLabel.startsWith('step.') && !stepLabel.startsWith('call.') ? `${label} · ${stepLabel}` : label;
}

/** One timeline line: time in the center's zone, what, who (names, not ids), the note in the reader's language. */
export function timelineItem(e, tz, fmt) {
  const note = e.text ? tr(e.text) : null;
  return h('li', { class: `tl-${e.action.split(':')[0]}` },
    h('time', {}, fmt(e.at, tz)),
    h('span', { class: 'what' }, actionLabel(e.action)),
    h('span', { class: 'who' }, e.actor === 'system' ? t('actor.system') : e.actorName),
    note ? h('div', { class: 'note' }, note) : null);
}

/**
 * Issue 19 point 6: one message or call — channel, to whom, what became of it (sent, delivered,
 * answered, no answer, failed) — as a timeline line at the time it was written.
 */
export function deliveryItem(d, tz, fmt) {
  const role = t(`recipient.${d.recipientKind}`);
  return h('li', { class: `tl-delivery outcome-${d.outcome}`, dataset: { delivery: d.id, outcome: d.outcome, channel: d.channel } },
    h('time', {}, fmt(d.createdAt, tz)),
    h('span', { class: 'what' }, `${tr(d.channelName) || d.channel} → ${d.recipientName}${role.startsWith('recipient.') ? '' : ` (${role})`}`),
    h('span', { class: `chip outcome outcome-${d.outcome}`, dataset: { role: 'outcome' } }, t(`outcome.${d.outcome}`)),
    d.outcomeAt && d.outcomeAt !== d.createdAt ? h('time', { class: 'muted' }, fmt(d.outcomeAt, tz)) : null,
    d.detail ? h('div', { class: 'note' }, d.detail) : null);
}

/** The audit trail and the messages and calls in one list, in time order (the audit entry first at a tie). */
export function timelineItems(timeline, deliveries, tz, fmt) {
  const items = [
    ...timeline.map((e, i) => ({ at: e.at, order: 0, i, el: () => timelineItem(e, tz, fmt) })),
    ...(deliveries || []).map((d, i) => ({ at: d.createdAt, order: 1, i, el: () => deliveryItem(d, tz, fmt) })),
  ];
  items.sort((a, b) => a.at - b.at || a.order - b.order || a.i - b.i);
  return items.map((x) => x.el());
}

export function levelBadge(level) {
  return h('span', { class: `badge ${level}` }, t(`level.${level}`));
}

export function stateChip(s) {
  return h('span', { class: `chip state-${s}`, dataset: { role: 'state' } }, t(`state.${s}`));
}

export function residentLine(ctx) {
  const r = ctx.resident;
  if (!r) return null;
  return [r.name, r.age ? t('field.years', { n: r.age }) : null, r.livesAlone ? t('field.livesAlone') : null].filter(Boolean).join(' · ');
}

