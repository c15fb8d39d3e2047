// CPU and memory of a process from /proc (Linux): utime+stime from /proc/<pid>/stat (clock ticks,
// 100 Hz on Debian — getconf CLK_TCK), VmRSS and VmHWM from /proc/<pid>/status. Sampled on an
// interval so that a benchmark phase reports mean CPU (in cores) and peak RSS of each process.
import { readFileSync } from 'node:fs';

const TICKS_PER_SEC = 100;

export interface ProcUsage {
  /** CPU seconds (user + system) since the process started. */
  cpuSec: number;
  rssKiB: number;
  hwmKiB: number;
}

export function readUsage(pid: number): ProcUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { cpuSec: (utime + stime) / TICKS_PER_SEC, rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

export interface PhaseUsage {
  /** Mean CPU over the phase, in cores (1.0 = one core busy). */
  cpuCores: number;
  rssMiBEnd: number;
  rssMiBPeak: number;
}

/** Samples a set of named processes; `phase()` starts a window, `end()` closes it. */
export function createSampler(pids: Record<string, number>, intervalMs = 500) {
  const peaks: Record<string, number> = {};
  let start: { t: number; cpu: Record<string, number> } | undefined;
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  function tick(): void {
    for (const [name, pid] of Object.entries(pids)) {
      const u = readUsage(pid);
      if (u) peaks[name] = Math.max(peaks[name] ?? 0, u.rssKiB);
    }
  }
  function cpuNow(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) out[name] = readUsage(pid)?.cpuSec ?? 0;
    return out;
  }
  return {
    add(name: string, pid: number) {
      pids[name] = pid;
    },
    phase(): void {
      tick();
      for (const k of Object.keys(peaks)) peaks[k] = 0;
      tick();
      start = { t: performance.now(), cpu: cpuNow() };
    },
    end(): Record<string, PhaseUsage> {
      tick();
      const now = cpuNow();
      const dt = start ? (performance.now() - start.t) / 1000 : 1;
      const out: Record<string, PhaseUsage> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const u = readUsage(pid);
        out[name] = {
          cpuCores: Math.round(((now[name]! - (start?.cpu[name] ?? 0)) / dt) * 100) / 100,
          rssMiBEnd: Math.round(((u?.rssKiB ?? 0) / 1024) * 10) / 10,
          rssMiBPeak: Math.round(((peaks[name] ?? 0) / 1024) * 10) / 10,
        };
      }
      return out;
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

/** Total CPU cores of this machine (the report states what was available). */
export function cores(): number {
  const txt = readFileSync('/proc/cpuinfo', 'utf8');
  return (txt.match(/^processor\s*:/gm) ?? []).length || 1;
}

/** Busy share of the whole machine (all cores, every process, ours and others') since `since`. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function machineBusy(since: { busy: number; total: number }): number {
  const now = machineTicks();
  const dt = now.total - since.total;
  return dt > 0 ? Math.round(((now.busy - since.busy) / dt) * 100) / 100 : 0;
}

/**
 * Machine-wide TcpExt ListenOverflows (/proc/net/netstat): SYNs dropped because a listener's
 * accept queue was full. In a reconnect storm each drop costs that device a SYN retransmission
 * (1 s, then 3 s, 7 s … RFC 6298 backoff), which is what stretches "all back online".
 */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf('ListenOverflows');
  return i > 0 ? Number(values[i] ?? 0) : 0;
}
