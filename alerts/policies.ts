// Escalation policies as data (DESIGN.md "Incidents and escalation"): per level and category, a
// list of steps, each saying when (after the incident opened or was acknowledged, repeating or
// not), until which state it still applies, and whom to notify over which channels.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Category } from '../contracts/findings.ts';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';
import { ChannelName } from './channels/registry.ts';

// The channel names are the channel table's (alerts/channels/registry.ts).
export { ChannelName };

/**
 * Who a step reaches. console: the center's alert console; operators and supervisor: of the shift
 * on duty; grid_worker: of the site's grid; contacts: the resident's emergency contacts (or the
 * responsible unit of a building); liaison and manager: of the center's roster; maintainers:
 * people of the center with the maintainer role; assignee: the person the incident was dispatched to
 * (issue 17 point 4); resident: the home's resident, on their own phone (issue 19 point 4).
 */
export const RecipientKind = z.enum(['console', 'operators', 'supervisor', 'grid_worker', 'contacts', 'liaison', 'manager', 'maintainers', 'assignee', 'resident']);
export type RecipientKind = z.infer<typeof RecipientKind>;

export const StepKind = z.enum(['alarm', 'escalation', 'not_on_site', 'notice', 'reminder', 'warning', 'enforcement', 'dispatch', 'not_accepted']);
export type StepKind = z.infer<typeof StepKind>;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** `30s`, `2m`, `24h`, `7d`, or a number of milliseconds. */
const Duration = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d+(ms|s|m|h|d)$/, { error: 'expected a duration like 30s, 2m, 24h, 7d' }),
]).transform((v) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(v)!;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
});

const DEFAULT_VIA: Record<RecipientKind, ChannelName[]> = {
  console: ['console'],
  operators: ['email'],
  supervisor: ['email'],
  grid_worker: ['webhook'],
  contacts: ['webhook'],
  liaison: ['webhook'],
  manager: ['email'],
  maintainers: ['email'],
  assignee: ['email', 'webhook'],
  resident: ['webhook'],
};

const Notify = z.object({
  to: RecipientKind,
  via: z.array(ChannelName).min(1).optional(),
}).transform((n) => ({ to: n.to, via: n.to === 'console' ? ['console' as const] : (n.via ?? DEFAULT_VIA[n.to]) }));
export type Notify = z.output<typeof Notify>;

/**
 * Issue 19 point 4, a call tree (呼叫树): one stage of a sequential step. The stage's people are
 * reached over `via`; when nobody answers (a keypress in the call) or acknowledges within `wait`,
 * the next stage is reached. A stage with nobody reachable passes on at once.
 */
const Stage = z.object({
  to: RecipientKind.exclude(['console']),
  via: z.array(ChannelName).min(1).optional(),
  wait: Duration.default(60_000),
}).transform((n) => ({ to: n.to, via: n.via ?? DEFAULT_VIA[n.to], wait: n.wait }));
export type Stage = z.output<typeof Stage>;

const Step = z.object({
  id: z.string().regex(/^[a-z0-9_]{1,40}$/, { error: 'expected 1..40 characters of a-z 0-9 _' }),
  kind: StepKind,
  /** The moment `after` counts from. */
  from: z.enum(['opened', 'acknowledged', 'dispatched']).default('opened'),
  after: Duration.default(0),
  /** Repeat this often until the incident reaches `until` (at least 10 s: a page is not a stream). */
  every: Duration.refine((ms) => ms >= 10_000, { error: 'expected at least 10s' }).optional(),
  /**
   * The step no longer applies once the incident reached this state (resolution ends every step);
   * `accepted`: once the assignee reported 出发 (on my way) or arrived. Default: resolved, and for a
   * call tree counted from the opening, acknowledged (an acknowledgement stops the tree).
   */
  until: z.enum(['acknowledged', 'dispatched', 'accepted', 'on_site', 'resolved']).optional(),
  /** Everyone at once... */
  notify: z.array(Notify).min(1).optional(),
  /** ...or one stage after another (a call tree): exactly one of the two. */
  sequence: z.array(Stage).min(1).max(20).optional(),
}).transform(({ until, notify, sequence, ...rest }) => ({
  ...rest,
  until: until ?? (sequence && rest.from === 'opened' ? 'acknowledged' as const : 'resolved' as const),
  notify: notify ?? [],
  ...(sequence ? { sequence } : {}),
}));
export type Step = z.output<typeof Step>;

/**
 * Issue 17 point 3, alarm storms: a panel in alarm opens one incident per zone, and each would
 * escalate on its own. Within `window`, a step already sent to a person (per channel) for an
 * incident of the same site is not sent again for the site's other incidents: that person gets
 * one digest per step (rendered when sent, listing every open incident of the site). 0 turns it off.
 */
const Storm = z.object({ window: Duration.default(120_000) }).default({ window: 120_000 });

const Policy = z.object({
  id: z.string().min(1),
  level: z.enum(['red', 'yellow']),
  storm: Storm,
  /** Categories this policy covers; absent: every category of its level not covered before it. */
  categories: z.array(Category).min(1).optional(),
  steps: z.array(Step).min(1),
});
export type Policy = z.output<typeof Policy>;

export const PolicyFile = z.object({ policies: z.array(Policy).min(1) });
export type EscalationPolicies = z.output<typeof PolicyFile>;
export type EscalationPoliciesInput = z.input<typeof PolicyFile>;

/** Validates policies: every problem listed by path, then the cross checks zod cannot express. */
export function parsePolicies(input: unknown): EscalationPolicies {
  const r = PolicyFile.safeParse(input);
  if (!r.success) throw new WatchfireError('WF_POLICY_INVALID', 'Invalid escalation policies', formatIssues(r.error.issues));
  const problems: string[] = [];
  const ids = new Set<string>();
  r.data.policies.forEach((p, i) => {
    if (ids.has(p.id)) problems.push(`policies.${i}.id: duplicate policy id ${p.id}`);
    ids.add(p.id);
    const steps = new Set<string>();
    p.steps.forEach((s, j) => {
      if (steps.has(s.id)) problems.push(`policies.${i}.steps.${j}.id: duplicate step id ${s.id}`);
      steps.add(s.id);
      if ((s.notify.length > 0) === !!s.sequence) {
        problems.push(`policies.${i}.steps.${j}: a step has either notify (everyone at once) or sequence (a call tree), not ${s.sequence ? 'both' : 'neither'}`);
      }
      if (s.sequence && s.every) problems.push(`policies.${i}.steps.${j}.every: a call tree runs once; repeat it with another step`);
      if (s.from === 'acknowledged' && s.until === 'acknowledged') {
        problems.push(`policies.${i}.steps.${j}.until: a step counted from acknowledgement cannot end at acknowledgement`);
      }
      if (s.from === 'dispatched' && (s.until === 'acknowledged' || s.until === 'dispatched')) {
        problems.push(`policies.${i}.steps.${j}.until: a step counted from dispatch cannot end at ${s.until}`);
      }
    });
  });
  // Every non-green finding must find a policy: an alarm that matches nothing would reach no one.
  for (const level of ['red', 'yellow'] as const) {
    for (const c of Category.options) {
      if (!policyFor(r.data, level, c)) problems.push(`policies: no ${level} policy covers category ${c}`);
    }
  }
  if (problems.length) throw new WatchfireError('WF_POLICY_INVALID', 'Invalid escalation policies', problems);
  return r.data;
}

export function parsePolicyYaml(text: string): EscalationPolicies {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new WatchfireError('WF_POLICY_INVALID', 'Escalation policy file is not valid YAML', [(err as Error).message]);
  }
  return parsePolicies(raw);
}

export function loadPolicyFile(file: string): EscalationPolicies {
  return parsePolicyYaml(readFileSync(file, 'utf8'));
}

/** The first policy of the level that names the category, else the first of the level naming none. */
export function policyFor(policies: EscalationPolicies, level: 'red' | 'yellow', category: Category): Policy | undefined {
  return policies.policies.find((p) => p.level === level && p.categories?.includes(category))
    ?? policies.policies.find((p) => p.level === level && !p.categories);
}

/** DESIGN.md defaults; config/policies.example.yaml spells out the same in YAML. */
export const DEFAULT_POLICIES: EscalationPolicies = parsePolicies({
  policies: [
    {
      id: 'red',
      level: 'red',
      steps: [
        // At once: every on-duty operator (console with sound, and email), the home's grid worker
        // and the resident's emergency contacts (webhook to SMS/voice gateways).
        {
          id: 'alarm', kind: 'alarm', after: 0,
          notify: [{ to: 'console' }, { to: 'operators', via: ['email'] }, { to: 'grid_worker', via: ['webhook'] }, { to: 'contacts', via: ['webhook'] }],
        },
        // Not acknowledged in 30 s: again to the operators and to the shift supervisor; then every 2 min.
        {
          id: 'unacknowledged', kind: 'escalation', after: '30s', every: '2m', until: 'acknowledged',
          notify: [{ to: 'console' }, { to: 'operators', via: ['email'] }, { to: 'supervisor', via: ['email', 'webhook'] }],
        },
        // Acknowledged but nobody on site in 10 min: the supervisor and the fire-brigade liaison.
        {
          id: 'not_on_site', kind: 'not_on_site', from: 'acknowledged', after: '10m', until: 'on_site',
          notify: [{ to: 'console' }, { to: 'supervisor', via: ['email', 'webhook'] }, { to: 'liaison', via: ['webhook', 'email'] }],
        },
        // Issue 17 point 4: dispatch (派单) reaches the chosen grid worker at once on their channels...
        { id: 'dispatched', kind: 'dispatch', from: 'dispatched', after: 0, notify: [{ to: 'assignee', via: ['email', 'webhook'] }] },
        // ...and when they have not set out (出发) in 3 min, the operators and the supervisor hear of
        // it (to dispatch someone else) and the worker is asked again, every 3 min until accepted.
        {
          id: 'not_accepted', kind: 'not_accepted', from: 'dispatched', after: '3m', every: '3m', until: 'accepted',
          notify: [{ to: 'console' }, { to: 'operators', via: ['email'] }, { to: 'supervisor', via: ['email', 'webhook'] }, { to: 'assignee', via: ['email', 'webhook'] }],
        },
      ],
    },
    {
      // 一次提醒、二次警示、三次执法: first a reminder, then a warning, then enforcement.
      id: 'yellow',
      level: 'yellow',
      steps: [
        { id: 'notice', kind: 'notice', after: 0, notify: [{ to: 'console' }, { to: 'grid_worker', via: ['webhook'] }, { to: 'maintainers', via: ['email'] }] },
        { id: 'reminder', kind: 'reminder', after: '24h', notify: [{ to: 'console' }, { to: 'grid_worker', via: ['webhook'] }, { to: 'maintainers', via: ['email'] }] },
        { id: 'warning', kind: 'warning', after: '72h', notify: [{ to: 'console' }, { to: 'supervisor', via: ['email'] }, { to: 'grid_worker', via: ['webhook'] }, { to: 'contacts', via: ['webhook'] }] },
        { id: 'enforcement', kind: 'enforcement', after: '7d', notify: [{ to: 'console' }, { to: 'manager', via: ['email'] }, { to: 'supervisor', via: ['email'] }] },
        { id: 'dispatched', kind: 'dispatch', from: 'dispatched', after: 0, notify: [{ to: 'assignee', via: ['email', 'webhook'] }] },
      ],
    },
  ],
});

/** Where a step's `until` sits in the state order: `accepted` ends no later than arrival. */
export function untilRank(until: Step['until'] | string, rank: Readonly<Record<string, number>>): number {
  return until === 'accepted' ? rank.on_site! : rank[until]!;
}
