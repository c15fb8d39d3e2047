// Issue 17 point 5: one set of words for the incident states and dispositions, used by the console
// and the phone page (dashboards/public/js/words.js, checked against this by
// tests/dashboards.words.test.ts), and by emails and webhooks (alerts/messages.ts). GLOSSARY.md:
// acknowledge is 接警 here (确认 alone reads as "confirmed"), dispatch 派单, on site 到场,
// resolved 处置完毕, review 复盘.
import type { CallOutcome, Disposition, IncidentState } from './incidents.ts';
import type { ReceiptStatus } from './channels.ts';

export interface Words { readonly en: string; readonly zh: string }

export const STATE_WORDS: Readonly<Record<IncidentState, Words>> = {
  open: { en: 'New', zh: '新警情' },
  acknowledged: { en: 'Acknowledged', zh: '已接警' },
  dispatched: { en: 'Dispatched', zh: '已派单' },
  on_site: { en: 'On site', zh: '已到场' },
  resolved: { en: 'Resolved', zh: '处置完毕' },
  reviewed: { en: 'Reviewed', zh: '已复盘' },
};

export const DISPOSITION_WORDS: Readonly<Record<Disposition, Words>> = {
  real_fire: { en: 'Real fire', zh: '真实火情' },
  nuisance: { en: 'Cooking smoke / nuisance', zh: '烹饪烟雾 / 误报' },
  device_false_alarm: { en: 'Device false alarm', zh: '设备误报' },
  test: { en: 'Test', zh: '测试' },
  unknown: { en: 'Unknown', zh: '不明' },
  condition_cleared: { en: 'Condition cleared', zh: '状况已恢复' },
};

/** Issue 19: what a provider's receipt said about a message or call. */
export const RECEIPT_WORDS: Readonly<Record<ReceiptStatus, Words>> = {
  delivered: { en: 'Delivered', zh: '已送达' },
  failed: { en: 'Not delivered', zh: '未送达' },
  answered: { en: 'Answered', zh: '已接听' },
  no_answer: { en: 'No answer', zh: '无人接听' },
  busy: { en: 'Busy', zh: '占线' },
};

/** Issue 17 point 6: the outcomes of the call log, as the console shows them (words.js `call.*`). */
export const CALL_WORDS: Readonly<Record<CallOutcome, Words>> = {
  reached: { en: 'reached', zh: '已接通' },
  no_answer: { en: 'no answer', zh: '无人接听' },
  busy: { en: 'busy', zh: '占线' },
  unreachable: { en: 'unreachable', zh: '无法接通' },
  wrong_number: { en: 'wrong number', zh: '号码错误' },
};

/** Issue 17 point 6: the shift handover's export (交接班, GLOSSARY.md), and the console's `handover.*` words. */
export const HANDOVER_WORDS = {
  title: { en: 'Shift handover', zh: '交接班' },
  center: { en: 'Center', zh: '中心' },
  range: { en: 'Period', zh: '交接时段' },
  shift: { en: 'Shift on duty', zh: '值班班次' },
  opened: { en: 'Incidents opened', zh: '新警情' },
  acknowledged: { en: 'Acknowledged', zh: '已接警' },
  dispatched: { en: 'Dispatched', zh: '已派单' },
  resolved: { en: 'Resolved', zh: '处置完毕' },
  stillOpen: { en: 'Still open', zh: '未闭环警情' },
  offline: { en: 'Devices offline', zh: '离线设备' },
  maintenance: { en: 'Maintenance findings', zh: '维护类告警' },
  calls: { en: 'Calls', zh: '通话记录' },
  notes: { en: 'Notes', zh: '备注' },
  remark: { en: 'Handover remark', zh: '交班留言' },
  handedBy: { en: 'Handed over by', zh: '交班人' },
  receivedBy: { en: 'Received by', zh: '接班人' },
  notReceived: { en: 'Not yet received', zh: '尚未接班' },
  age: { en: 'open for', zh: '已持续' },
  lastNote: { en: 'last note', zh: '最近备注' },
  none: { en: 'none', zh: '无' },
} as const satisfies Record<string, Words>;
