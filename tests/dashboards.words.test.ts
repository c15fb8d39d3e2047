// Issue 17 point 5: the pages' words are complete in both languages. Every key has English and
// Chinese, the Chinese is Chinese (no English left standing in a zh-CN label), every key the pages
// ask for exists, and the state and disposition words are the ones emails and webhooks use
// (contracts/words.ts, GLOSSARY.md).
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_WORDS, DISPOSITION_WORDS, CALL_WORDS, HANDOVER_WORDS } from '../contracts/words.ts';
import { IncidentState, Disposition, CallOutcome } from '../contracts/incidents.ts';
import { renderIncident } from '../alerts/messages.ts';

const JS = join(import.meta.dirname, '..', 'dashboards', 'public', 'js');
type Dict = Record<'en' | 'zh-CN', Record<string, string>>;
const wordsFile = join(JS, 'words.js');
const { DICT } = (await import(wordsFile)) as { DICT: Dict };

/** Labels that are the same in every language. */
const SAME_IN_BOTH = new Set(['nav.docs']);
const CJK = /[\u3400-\u9fff]/;

describe('the pages’ words', () => {
  it('has every key in both languages, and Chinese in every Chinese label', () => {
    const en = Object.keys(DICT.en).sort();
    const zh = Object.keys(DICT['zh-CN']).sort();
    expect(zh).toEqual(en);
    const notChinese = Object.entries(DICT['zh-CN']).filter(([k, v]) => !SAME_IN_BOTH.has(k) && !CJK.test(v));
    expect(notChinese).toEqual([]);
  });

  it('defines every key the pages ask for', () => {
    const asked = new Set<string>();
    for (const f of readdirSync(JS).filter((x) => x.endsWith('.js'))) {
      const src = readFileSync(join(JS, f), 'utf8');
      for (const m of src.matchAll(/\bt\('([a-zA-Z_.]+)'/g)) asked.add(m[1]!);
    }
    for (const f of ['index.html', 'worker.html', 'login.html']) {
      const src = readFileSync(join(JS, '..', f), 'utf8');
      for (const m of src.matchAll(/data-i18n="([a-zA-Z_.]+)"/g)) asked.add(m[1]!);
    }
    // Keys built from data: every state, disposition, level, device type and role.
    for (const s of IncidentState.options) asked.add(`state.${s}`);
    for (const d of Disposition.options) asked.add(`disposition.${d}`);
    for (const l of ['red', 'yellow', 'green']) asked.add(`level.${l}`);
    for (const d of ['smoke_detector', 'fire_panel', 'settlement_sensor']) asked.add(`device.${d}`);
    for (const r of ['operator', 'grid_worker', 'supervisor', 'admin']) asked.add(`role.${r}`);
    const missing = [...asked].filter((k) => DICT.en[k] === undefined || DICT['zh-CN'][k] === undefined);
    expect(missing).toEqual([]);
    expect(asked.size).toBeGreaterThan(100);
  });

  it('uses the same state and disposition words as emails and webhooks', () => {
    for (const s of IncidentState.options) {
      expect([DICT.en[`state.${s}`], DICT['zh-CN'][`state.${s}`]], s).toEqual([STATE_WORDS[s].en, STATE_WORDS[s].zh]);
    }
    for (const d of Disposition.options) {
      expect([DICT.en[`disposition.${d}`], DICT['zh-CN'][`disposition.${d}`]], d).toEqual([DISPOSITION_WORDS[d].en, DISPOSITION_WORDS[d].zh]);
    }
    // The call log and the handover's sections: the console and the exported text say the same.
    for (const o of CallOutcome.options) expect([DICT.en[`call.${o}`], DICT['zh-CN'][`call.${o}`]], o).toEqual([CALL_WORDS[o].en, CALL_WORDS[o].zh]);
    for (const k of ['opened', 'stillOpen', 'offline', 'maintenance', 'calls', 'notes'] as const) {
      expect(DICT['zh-CN'][`handover.${k}`], k).toBe(HANDOVER_WORDS[k].zh);
    }
    // 确认 alone means "acknowledged" to an operator (GLOSSARY.md): no other label may say it.
    const saysConfirmed = Object.entries(DICT['zh-CN']).filter(([k, v]) => v.includes('确认') && !k.startsWith('step.'));
    expect(saysConfirmed).toEqual([]);
  });

  it('writes an email in the recipient’s language with the console’s state words', () => {
    const incident = {
      id: 'i1', key: 'site:s1:fire', level: 'red', score: 90, category: 'fire', condition: 'alarm', state: 'open', centerId: 'c1', siteId: 's1',
      gridId: 'g1', deviceId: 'sd-1', zone: null, title: { en: 'Smoke alarm', zh: '烟感火警' }, confirmed: false, findingCount: 1,
      openedAt: Date.UTC(2026, 11, 7, 0, 30), updatedAt: 0, lastFindingAt: 0, acknowledgedAt: null, dispatchedAt: null, onSiteAt: null,
      resolvedAt: null, reviewedAt: null, assignee: null, disposition: null, feedback: null, recurrenceOf: null,
    } as const;
    const base = { incident, kind: 'alarm' as const, site: undefined, device: undefined, recipientName: 'x', publicUrl: 'http://h', timezone: 'Asia/Shanghai' };
    const zh = renderIncident({ ...base, locale: 'zh-CN' });
    const en = renderIncident({ ...base, locale: 'en' });
    expect(zh.text).toContain(`状态: ${STATE_WORDS.open.zh}`);
    expect(en.text).toContain(`State: ${STATE_WORDS.open.en}`);
    // The center's clock (UTC+8), not UTC: 00:30 UTC is 08:30 in Shanghai.
    expect(zh.text).toMatch(/发生时间: 2026\/12\/7 08:30:00/);
    expect(en.text).toMatch(/Opened: 07\/12\/2026, 08:30:00/);
  });
});
