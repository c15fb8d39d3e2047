// A transmission unit's readings each get a millisecond of their own (adapters/gbt26875/times.ts):
// GB/T 26875.3 time tags have whole seconds and InfluxDB keeps one point per series and time, so a
// repeated time is a confirmed reading silently overwritten in the history.
import { describe, expect, it } from 'vitest';
import { createTimeSlots } from '../adapters/gbt26875/times.ts';

const S = Date.UTC(2026, 11, 7, 10, 33, 0);

describe('GB/T reading times', () => {
  it('hands out the milliseconds of a tagged second in arrival order', () => {
    const t = createTimeSlots();
    expect([0, 1, 2].map(() => t.take(S))).toEqual([S, S + 1, S + 2]);
    expect(t.take(S + 1000)).toBe(S + 1000);
  });

  it('keeps every reading distinct and in order when a unit sends more than 1,000 in one second', () => {
    // The ingress bench's case: 3 units at 4,000 frames/s are 1,333 readings per unit per second,
    // for 8 s. The old rule (spread only within 1 s of the last time) repeated times from the
    // fourth second on, and 7,004 of 32,000 confirmed readings were overwritten in InfluxDB.
    const t = createTimeSlots();
    const out: number[] = [];
    for (let sec = 0; sec < 8; sec++) for (let k = 0; k < 1333; k++) out.push(t.take(S + sec * 1000));
    expect(new Set(out).size).toBe(out.length);
    expect(out.every((v, i) => i === 0 || v > out[i - 1]!)).toBe(true);
    expect(out[0]).toBe(S);
  });

  it('puts a clock stepped back in its own seconds, after what they already hold', () => {
    const t = createTimeSlots();
    const before = [t.take(S + 5000), t.take(S + 5000), t.take(S + 6000)];
    // The center's time sync set the unit's clock 1 s back: it tags the same seconds again.
    const after = [t.take(S + 5000), t.take(S + 6000)];
    expect(after).toEqual([S + 5002, S + 6001]);
    expect(new Set([...before, ...after]).size).toBe(5);
  });

  it('keeps a time that already has milliseconds, and moves only a repeated one', () => {
    const t = createTimeSlots();
    expect(t.take(S + 250)).toBe(S + 250);
    expect(t.take(S + 250)).toBe(S + 251);
    expect(t.take(S + 100)).toBe(S + 252);
  });

  it('remembers a bounded number of seconds', () => {
    const t = createTimeSlots();
    t.take(S);
    // 64 later seconds push the first out: its milliseconds start again (an hour-old resend).
    for (let sec = 1; sec <= 64; sec++) t.take(S + sec * 1000);
    expect(t.take(S)).toBe(S);
  });
});
