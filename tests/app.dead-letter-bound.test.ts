// A rejected frame's PUBACK waits for its dead letter (issue 15 point 4), but on a PostgreSQL that
// stops answering not for ever: the group commit goes after the bound, says so and counts it, so
// no device's PUBACK — an alarm's included — hangs on the dead-letter store (issue 21, life-safety).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deadLetterParticipant } from '../app/watchfire.ts';

afterEach(() => vi.useRealTimers());

function store(write: () => Promise<void>) {
  let queued = 0;
  return { add: () => { queued++; }, get pending() { return queued > 0; }, flush: () => { queued = 0; return write(); } };
}

describe('the dead-letter participant of the group commit', () => {
  it('is clean with nothing queued, and a group waits for a write that commits', async () => {
    let late = 0;
    let commit!: () => void;
    const s = store(() => new Promise<void>((r) => { commit = r; }));
    const p = deadLetterParticipant(s, { boundMs: 1_000, onLate: () => late++ });
    expect(p.dirty()).toBe(false);
    s.add();
    expect(p.dirty()).toBe(true);
    let synced = false;
    const sync = p.sync().then(() => { synced = true; });
    await Promise.resolve();
    expect(synced).toBe(false);
    commit();
    await sync;
    expect(late).toBe(0);
  });

  it('lets the group go after the bound when the write hangs, once, and counts it', async () => {
    vi.useFakeTimers();
    let late = 0;
    const s = store(() => new Promise<void>(() => undefined));
    const p = deadLetterParticipant(s, { boundMs: 1_000, onLate: () => late++ });
    s.add();
    expect(p.dirty()).toBe(true);
    let synced = false;
    const sync = p.sync().then(() => { synced = true; });
    await vi.advanceTimersByTimeAsync(999);
    expect(synced).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sync;
    expect(synced).toBe(true);
    expect(late).toBe(1);
    // The timer of a group that committed in time is cleared: no late count afterwards.
    expect(vi.getTimerCount()).toBe(0);
  });
});
