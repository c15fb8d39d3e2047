// What a notification says, in the recipient's language (zh-CN by default, GLOSSARY.md words):
// an email subject with the level, what happened, the site, its address and the device location;
// a text and an HTML body with the essentials and a link to the incident on the console.
import type { Incident } from '../contracts/incidents.ts';
import type { Locale, Site } from '../contracts/registry.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { STATE_WORDS } from '../contracts/words.ts';

export type NotificationKind = 'alarm' | 'escalation' | 'not_on_site' | 'notice' | 'reminder' | 'warning' | 'enforcement' | 'raised' | 'dispatch' | 'not_accepted';

const LEVEL = {
  'zh-CN': { red: '红色警情', yellow: '黄色警情', green: '绿色' },
  en: { red: 'RED ALERT', yellow: 'YELLOW ALERT', green: 'GREEN' },
} as const;

/** Prefixes for what kind of notice this is; the first alarm carries none. */
const KIND = {
  'zh-CN': { alarm: '', notice: '', raised: '升级为', escalation: '未接警·升级', not_on_site: '未到场·升级', reminder: '一次提醒', warning: '二次警示', enforcement: '三次执法', dispatch: '派单给您·', not_accepted: '未出发·升级' },
  en: { alarm: '', notice: '', raised: 'RAISED to ', escalation: 'UNACKNOWLEDGED · ', not_on_site: 'NOBODY ON SITE · ', reminder: 'REMINDER · ', warning: 'WARNING · ', enforcement: 'ENFORCEMENT · ', dispatch: 'DISPATCHED TO YOU · ', not_accepted: 'NOT ON THE WAY · ' },
} as const;

/** GLOSSARY.md terms for the conditions the rules report. */
const CONDITION: Record<string, { zh: string; en: string }> = {
  alarm: { zh: '烟感报警', en: 'Smoke alarm' },
  smoke: { zh: '烟雾报警', en: 'Smoke' },
  heat: { zh: '温度异常', en: 'Heat' },
  co: { zh: '一氧化碳报警', en: 'Carbon monoxide' },
  fire: { zh: '火警', en: 'Fire alarm' },
  manual_call: { zh: '手动报警按钮', en: 'Manual call point' },
  hush: { zh: '消音', en: 'Alarm silenced' },
  offline: { zh: '设备离线', en: 'Device offline' },
  low_battery: { zh: '低电量', en: 'Low battery' },
  tamper: { zh: '防拆报警', en: 'Tamper' },
  fault: { zh: '故障', en: 'Fault' },
  disabled: { zh: '屏蔽', en: 'Points disabled' },
  supervisory: { zh: '监管', en: 'Supervisory' },
  power: { zh: '电源故障', en: 'Power failure' },
  settlement: { zh: '沉降', en: 'Settlement' },
  tilt: { zh: '倾斜', en: 'Tilt' },
  crack: { zh: '裂缝', en: 'Crack' },
  settlement_rate: { zh: '沉降速率', en: 'Settlement rate' },
  seq_gap: { zh: '消息缺失', en: 'Missing messages' },
  // issue 14
  crack_rate: { zh: '裂缝扩展速率', en: 'Crack growth rate' },
  tilt_rate: { zh: '倾斜变化速率', en: 'Tilt rate' },
  sensor_offset: { zh: '传感器零点漂移', en: 'Sensor offset' },
  sensor_fault: { zh: '传感器故障', en: 'Sensor fault' },
  rules_override: { zh: '设备规则覆盖无效', en: 'Invalid rule override' },
};

export function conditionLabel(condition: string, locale: Locale): string | undefined {
  const c = CONDITION[condition];
  return c ? (locale === 'en' ? c.en : c.zh) : undefined;
}

export interface IncidentMessageInput {
  readonly incident: Incident;
  readonly kind: NotificationKind;
  readonly site: Site | undefined;
  readonly device: DeviceInfo | undefined;
  readonly locale: Locale;
  readonly recipientName: string;
  readonly publicUrl: string;
  readonly timezone: string;
  /** The site's other open incidents (a storm digest lists them; issue 17 point 3). */
  readonly others?: readonly Incident[];
  /** Issue 19 point 5: the signed one-tap acknowledge link for this recipient, and the SMS reply that acknowledges. */
  readonly ackLink?: string;
  readonly replyWord?: string | undefined;
}

export interface RenderedMessage {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** Short text for SMS/voice/IM gateways. */
  readonly short: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function incidentLink(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/#/incidents/${encodeURIComponent(id)}`;
}

// toLocaleString builds a new ICU formatter on every call (≈ 0.1 ms); an alarm renders several.
const formatters = new Map<string, Intl.DateTimeFormat>();
function fmtTime(ms: number | null, locale: Locale, timeZone: string): string {
  if (ms === null) return '—';
  const tag = locale === 'en' ? 'en-GB' : 'zh-CN';
  const key = `${tag}|${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    // The same options toLocaleString defaults to for a Date: date and time.
    f = new Intl.DateTimeFormat(tag, { timeZone, hour12: false, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(key, f);
  }
  return f.format(ms);
}

/** `[红色警情] 烟感报警 — 张桂英家 (幸福小区3栋201) 厨房`. */
export function incidentSubject(i: IncidentMessageInput): string {
  const { incident, locale, site, device } = i;
  const loc = locale === 'en' ? 'en' : 'zh-CN';
  const level = LEVEL[loc][incident.level];
  const prefix = KIND[loc][i.kind];
  const what = conditionLabel(incident.condition, loc) ?? (loc === 'en' ? incident.title.en : incident.title.zh);
  const place = site ? `${site.name}${site.address ? ` (${site.address})` : ''}` : incident.siteId;
  const zone = incident.zone ? (loc === 'en' ? ` zone ${incident.zone}` : ` ${incident.zone}区`) : '';
  const where = device?.location ? ` ${device.location}` : '';
  return `[${prefix}${level}] ${what} — ${place}${where}${zone}`;
}

export function renderIncident(i: IncidentMessageInput): RenderedMessage {
  const { incident, site, device } = i;
  const en = i.locale === 'en';
  const loc = en ? 'en' : 'zh-CN';
  const subject = `${incidentSubject(i)}${i.others?.length ? (en ? ` (+${i.others.length} more here)` : `（此处另有${i.others.length}条）`) : ''}`;
  const link = incidentLink(i.publicUrl, incident.id);
  const rows: Array<[string, string]> = [
    [en ? 'What' : '警情', en ? incident.title.en : incident.title.zh],
    [en ? 'Level' : '等级', LEVEL[loc][incident.level]],
    [en ? 'State' : '状态', en ? STATE_WORDS[incident.state].en : STATE_WORDS[incident.state].zh],
    [en ? 'Site' : '地点', site ? `${site.name}${site.address ? `, ${site.address}` : ''}` : incident.siteId],
  ];
  if (site?.resident) {
    rows.push([en ? 'Resident' : '住户', `${site.resident.name}${site.resident.age ? (en ? `, ${site.resident.age} years` : `，${site.resident.age}岁`) : ''}${site.resident.livesAlone ? (en ? ', lives alone' : '，独居老人') : ''}${site.resident.phone ? ` ☎ ${site.resident.phone}` : ''}`]);
    if (site.resident.notes) rows.push([en ? 'Notes' : '备注', site.resident.notes]);
  }
  if (site?.contacts.length) {
    rows.push([en ? 'Emergency contacts' : '应急联系人', site.contacts.map((c) => `${c.name}${c.relation ? ` (${c.relation})` : ''}${c.phone ? ` ${c.phone}` : ''}`).join('; ')]);
  }
  rows.push([en ? 'Device' : '设备', `${incident.deviceId}${device?.location ? ` — ${device.location}` : ''}${incident.zone ? (en ? `, zone ${incident.zone}` : `，${incident.zone}区`) : ''}`]);
  rows.push([en ? 'Opened' : '发生时间', fmtTime(incident.openedAt, loc, i.timezone)]);
  rows.push([en ? 'Findings' : '报警次数', String(incident.findingCount)]);
  if (incident.acknowledgedAt) rows.push([en ? 'Acknowledged' : '接警时间', fmtTime(incident.acknowledgedAt, loc, i.timezone)]);
  if (incident.recurrenceOf) rows.push([en ? 'Recurrence of' : '复发（前次警情）', incident.recurrenceOf]);
  const others = i.others ?? [];
  if (others.length) {
    const list = others.map((o) => `${o.zone ? (en ? `zone ${o.zone} ` : `${o.zone}区 `) : ''}${en ? o.title.en : o.title.zh} (${en ? STATE_WORDS[o.state].en : STATE_WORDS[o.state].zh})`).join('; ');
    rows.push([en ? `Also open here (${others.length})` : `此处另有未处置警情（${others.length}条）`, list]);
  }
  const greeting = en ? `Hello ${i.recipientName},` : `${i.recipientName}，您好：`;
  const ack = i.ackLink && incident.state === 'open' ? i.ackLink : undefined;
  const ackLine = ack ? `${en ? 'Acknowledge (no login needed)' : '一键接警（无需登录）'}: ${ack}` : undefined;
  const text = [greeting, '', subject, '', ...rows.map(([k, v]) => `${k}: ${v}`), '', ...(ackLine ? [ackLine] : []), `${en ? 'Open the incident' : '查看警情'}: ${link}`, ''].join('\n');
  const color = incident.level === 'red' ? '#c62828' : incident.level === 'yellow' ? '#f9a825' : '#2e7d32';
  const html = `<!doctype html><html lang="${en ? 'en' : 'zh-CN'}"><body style="font-family:sans-serif">
<p>${escapeHtml(greeting)}</p>
<h2 style="color:${color}">${escapeHtml(subject)}</h2>
<table cellpadding="4">${rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
${ack ? `<p><a href="${escapeHtml(ack)}"><b>${en ? 'Acknowledge (no login needed)' : '一键接警（无需登录）'}</b></a></p>` : ''}<p><a href="${escapeHtml(link)}">${en ? 'Open the incident' : '查看警情'}</a></p>
</body></html>`;
  // On a phone the console link needs a login; the acknowledge link and the reply word do not.
  const how = ack ? (en ? ` Reply ${i.replyWord ?? '1'} or open ${ack} to acknowledge.` : ` 回复${i.replyWord ?? '1'}或点 ${ack} 确认接警。`) : ` ${link}`;
  const short = `${subject}${site?.resident?.phone ? (en ? ` Resident ☎ ${site.resident.phone}.` : ` 住户电话 ${site.resident.phone}。`) : ''}${how}`;
  return { subject, text, html, short };
}

export function renderReport(r: { kind: string; centerName: string; period: string; lines: readonly string[]; locale: Locale; publicUrl: string }): RenderedMessage {
  const en = r.locale === 'en';
  const names: Record<string, [string, string]> = {
    handover: ['Shift handover', '交接班报告'],
    daily: ['Daily report', '日报'],
    monthly: ['Monthly grid-worker ratings', '网格员月度星级评定'],
  };
  const [nEn, nZh] = names[r.kind] ?? [r.kind, r.kind];
  const subject = `[${en ? nEn : nZh}] ${r.centerName} ${r.period}`;
  const text = [subject, '', ...r.lines, '', r.publicUrl, ''].join('\n');
  const html = `<!doctype html><html lang="${en ? 'en' : 'zh-CN'}"><body style="font-family:sans-serif"><h2>${escapeHtml(subject)}</h2><pre style="font-family:inherit">${escapeHtml(r.lines.join('\n'))}</pre><p><a href="${escapeHtml(r.publicUrl)}">${escapeHtml(r.publicUrl)}</a></p></body></html>`;
  return { subject, text, html, short: subject };
}
