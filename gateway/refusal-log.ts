// Refusals are logged sampled and aggregated, never one line per guess (issue 16: 1,441 wrong
// CONNECTs/s from one client, each logged, were ≈ 350 KB/s of log: a disk-filling risk). Per
// code and window, the first few refusals get a line of their own (an operator sees what a
// device sent); the rest are counted, and one summary line per window gives the counts by code
// and the addresses that sent most. The counters in /metrics are always exact.
import type { Logger } from 'pino';
import type { ErrorCode } from '../contracts/errors.ts';

/** Addresses named in a summary line: the busiest few are what an operator blocks. */
const TOP_ADDRESSES = 5;

export function createRefusalLog(deps: { logger: Logger; windowMs: number; firstPerWindow: number }) {
  const { logger } = deps;
  const logged = new Map<ErrorCode, number>();
  const suppressed = new Map<ErrorCode, number>();
  const addresses = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  function flush(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (suppressed.size > 0) {
      const top = [...addresses].sort((a, b) => b[1] - a[1]).slice(0, TOP_ADDRESSES).map(([address, n]) => ({ address, n }));
      logger.warn({
        code: 'WF_GATEWAY_REFUSALS', windowMs: deps.windowMs, loggedPerCode: deps.firstPerWindow,
        suppressed: Object.fromEntries(suppressed), topAddresses: top, distinctAddresses: addresses.size,
      }, 'MQTT refusals not logged one by one in the last window');
    }
    logged.clear();
    suppressed.clear();
    addresses.clear();
  }

  return {
    /** One refusal: a line of its own while this code has had fewer than firstPerWindow in this window. */
    refused(code: ErrorCode, address: string | undefined, fields: Record<string, unknown>, msg: string, level: 'warn' | 'info' = 'warn'): void {
      // The window starts with its first refusal: a quiet gateway runs no timer.
      timer ??= setTimeout(flush, deps.windowMs).unref();
      const n = logged.get(code) ?? 0;
      if (n < deps.firstPerWindow) {
        logged.set(code, n + 1);
        logger[level]({ code, address, ...fields }, msg);
        return;
      }
      suppressed.set(code, (suppressed.get(code) ?? 0) + 1);
      const key = address ?? 'unknown';
      // Bounded like everything a peer can make grow: past 10,000 addresses only known ones count.
      if (addresses.has(key) || addresses.size < 10_000) addresses.set(key, (addresses.get(key) ?? 0) + 1);
    },
    /** Writes the pending summary (on stop). */
    flush,
  };
}

export type RefusalLog = ReturnType<typeof createRefusalLog>;
