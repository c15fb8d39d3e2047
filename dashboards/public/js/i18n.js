// Every label in zh-CN and English (GLOSSARY.md words, table in words.js). Chosen by the browser,
// switched in the header, remembered per browser.
import { DICT } from './words.js';

const KEY = 'wf.locale';
let current = initial();

function initial() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function locale() {
  return current;
}

export function t(key, vars) {
  let s = DICT[current][key] ?? DICT.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

/** The incident title in the current language ({ en, zh }). */
export function tr(text) {
  if (!text) return '';
  return current === 'zh-CN' ? text.zh || text.en : text.en || text.zh;
}

const listeners = new Set();
export function onLocale(fn) {
  listeners.add(fn);
}

export function setLocale(l) {
  current = l === 'zh-CN' ? 'zh-CN' : 'en';
  localStorage.setItem(KEY, current);
  applyStatic();
  for (const fn of listeners) fn(current);
}

export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('.lang-switch button')) el.setAttribute('aria-pressed', String(el.dataset.lang === current));
}

/** Wires every `.lang-switch button[data-lang]` on the page. */
export function wireSwitch(root = document) {
  for (const b of root.querySelectorAll('.lang-switch button')) b.addEventListener('click', () => setLocale(b.dataset.lang));
  applyStatic(root);
}

/**
 * A field error from the API (`{ field, reason }`) in the reader's language: the reason is the
 * validator's English ("Invalid option: expected one of …"), so the field decides the words.
 */
export function fieldErrors(errors) {
  return Object.fromEntries((errors || []).map((e) => {
    const key = `invalid.${e.field}`;
    const msg = t(key);
    return [e.field, msg === key ? t('invalid.other') : msg];
  }));
}

/** An API error in words: by its code when we have words for it, else the generic sentence. */
export function errorText(err) {
  if (!err || !err.status) return t('error.offline');
  const key = `code.${err.code}`;
  const msg = t(key);
  return msg === key ? t('error.generic', { msg: err.message }) : msg;
}
