// What the rule engine concludes about a reading or a silence (DESIGN.md "Rules").
import { z } from 'zod';
import type { DeviceType } from './protocol.ts';

export const Level = z.enum(['green', 'yellow', 'red']);
export type Level = z.infer<typeof Level>;

/** DESIGN.md: red ≥ 80 (life safety now), yellow ≥ 40 (a hazard or a broken safeguard). */
export const RED_SCORE = 80;
export const YELLOW_SCORE = 40;
export function levelOf(score: number): Level {
  return score >= RED_SCORE ? 'red' : score >= YELLOW_SCORE ? 'yellow' : 'green';
}
const LEVEL_RANK: Record<Level, number> = { green: 0, yellow: 1, red: 2 };
export function maxLevel(a: Level, b: Level): Level {
  return LEVEL_RANK[a] >= LEVEL_RANK[b] ? a : b;
}

/**
 * What kind of situation a finding is about. Incidents are keyed from it (DESIGN.md):
 * homes (site, category); panels (panel, zone, category); maintenance (device, condition).
 */
export const Category = z.enum(['fire', 'co', 'structural', 'maintenance', 'info']);
export type Category = z.infer<typeof Category>;

export interface Message {
  readonly en: string;
  readonly zh: string;
}

export interface Finding {
  /** e.g. `smoke.alarm`, `panel.fire`, `settlement.rate_48h`, `any.offline`. */
  readonly ruleId: string;
  readonly level: Level;
  /** 0..100. */
  readonly score: number;
  readonly category: Category;
  /** The specific condition: `alarm`, `smoke`, `heat`, `co`, `offline`, `low_battery`, `tamper`, `fault`, `power`, … */
  readonly condition: string;
  readonly message: Message;
  readonly deviceId: string;
  readonly deviceType: DeviceType;
  readonly siteId: string;
  readonly centerId: string;
  readonly gridId: string | undefined;
  /** Panel zone (or loop) for panel findings; incidents for panels are per zone. */
  readonly zone: string | undefined;
  /** When the finding arose (reading ts, or sweep time). */
  readonly ts: number;
  /** Confirmed by a second detector/point or a started output (score 100). */
  readonly confirmed: boolean;
  /** This finding says the condition has cleared (back online, fault_clear, battery fine). */
  readonly clears: boolean;
}
