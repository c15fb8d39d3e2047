// Per-number send limits (issue 19 point 2). Providers throttle each phone number: Alibaba's
// default flow control for SMS is 1 a minute, 5 an hour and 10 a day per number (verification-type
// templates; notification templates are more generous but still limited), Tencent's is
// configurable per app. Sending past them only earns a provider error and, worse, can get the
// sign name flagged; Watchfire keeps its own count and refuses first, with a reset time, so the
// outbox retries the row when the window reopens and the policy's other channels carry the alarm.
// The counts are in memory: a restart forgets them, and the provider's own limit (mapped to the
// same refusal) still holds.
import { z } from 'zod';

export const NumberLimits = z.object({
  perMinute: z.number().int().min(1).default(1),
  perHour: z.number().int().min(1).default(5),
  perDay: z.number().int().min(1).default(10),
}).prefault({});
export type NumberLimits = z.output<typeof NumberLimits>;

const WINDOWS = [
  { key: 'perMinute', ms: 60_000, words: 'a minute' },
  { key: 'perHour', ms: 3_600_000, words: 'an hour' },
  { key: 'perDay', ms: 86_400_000, words: 'a day' },
] as const;

export function createNumberLimits(limits: NumberLimits, now: () => number) {
  const sent = new Map<string, number[]>();
  let lastSweep = now();
  function sweep(t: number): void {
    if (t - lastSweep < 3_600_000) return;
    lastSweep = t;
    for (const [k, list] of sent) if (!list.some((x) => t - x < 86_400_000)) sent.delete(k);
  }
  return {
    /** Undefined when `number` may be sent to now; else when it may next, and which limit holds. */
    check(number: string): { retryAt: number; reason: string } | undefined {
      const t = now();
      sweep(t);
      const list = (sent.get(number) ?? []).filter((x) => t - x < 86_400_000);
      sent.set(number, list);
      for (const w of WINDOWS) {
        const inWindow = list.filter((x) => t - x < w.ms);
        const max = limits[w.key];
        if (inWindow.length >= max) {
          // The window reopens when its oldest counted send leaves it.
          const oldest = inWindow[inWindow.length - max]!;
          return { retryAt: oldest + w.ms, reason: `${max} ${max === 1 ? 'message' : 'messages'} ${w.words} to this number (${w.key})` };
        }
      }
      return undefined;
    },
    record(number: string): void {
      const list = sent.get(number) ?? [];
      list.push(now());
      sent.set(number, list);
    },
  };
}

/** When a provider's own throttle of this window lifts (a day: the next midnight in China, UTC+8). */
export function providerRetryAt(window: 'minute' | 'hour' | 'day', t: number): number {
  if (window === 'minute') return t + 60_000;
  if (window === 'hour') return t + 3_600_000;
  const shanghai = t + 8 * 3_600_000;
  return shanghai - (shanghai % 86_400_000) + 86_400_000 - 8 * 3_600_000;
}
