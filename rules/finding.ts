// Collecting findings for one reading. Nothing is allocated for a green reading: the array and
// each finding (with its message strings) are created only when a rule actually fires.
import { levelOf, type Category, type Finding } from '../contracts/findings.ts';
import type { DeviceType } from '../contracts/protocol.ts';

/** What a finding is about: a Reading has exactly these fields, the sweep builds one from DeviceInfo. */
export interface Subject {
  readonly deviceId: string;
  readonly deviceType: DeviceType;
  readonly siteId: string;
  readonly centerId: string;
  readonly gridId: string | undefined;
}

export const NO_FINDINGS: readonly Finding[] = Object.freeze([]);

export class Collector {
  findings: Finding[] | null = null;
  score = 0;
  subject: Subject | null = null;
  ts = 0;

  begin(subject: Subject, ts: number): void {
    this.findings = null;
    this.score = 0;
    this.subject = subject;
    this.ts = ts;
  }

  add(ruleId: string, score: number, category: Category, condition: string, en: string, zh: string, zone?: string, confirmed = false): void {
    this.push(ruleId, score, category, condition, en, zh, zone, confirmed, false);
  }

  /** A condition that cleared by itself (fault_clear, battery replaced, back online): green, clears. */
  clear(ruleId: string, condition: string, en: string, zh: string, zone?: string): void {
    this.push(ruleId, 0, 'maintenance', condition, en, zh, zone, false, true);
  }

  private push(ruleId: string, score: number, category: Category, condition: string, en: string, zh: string, zone: string | undefined, confirmed: boolean, clears: boolean): void {
    const s = this.subject!;
    const f: Finding = {
      ruleId,
      level: levelOf(score),
      score,
      category,
      condition,
      message: { en, zh },
      deviceId: s.deviceId,
      deviceType: s.deviceType,
      siteId: s.siteId,
      centerId: s.centerId,
      gridId: s.gridId,
      zone,
      ts: this.ts,
      confirmed,
      clears,
    };
    if (score > this.score) this.score = score;
    if (this.findings) this.findings.push(f);
    else this.findings = [f];
  }

  take(): readonly Finding[] {
    const f = this.findings;
    this.findings = null;
    this.subject = null;
    return f ?? NO_FINDINGS;
  }
}

/** " (kitchen ceiling)" for messages, or nothing when the installer gave no location. */
export function at(location: string | undefined): string {
  return location ? ` (${location})` : '';
}

export function fmt(n: number, digits = 2): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}
