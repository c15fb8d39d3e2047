// Watchfire as its own operating-system process (`app/main.ts start`), for tests that kill it:
// started with a config file, ready when it logs "Watchfire started", killed with any signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(import.meta.dirname, '../..');

export interface WatchfireProcess {
  readonly child: ChildProcess;
  /** Resolves when the process logged that it has started (devices may connect). */
  readonly ready: Promise<void>;
  /** Resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  kill(signal: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
  /** The last lines of its log (pino JSON), for a failure message. */
  tail(): string;
}

/** Writes `config` as the process's configuration file (JSON is YAML) in `dir`. */
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'watchfire.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function startWatchfireProcess(configFile: string): WatchfireProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts', '-c', configFile, 'start'], {
    cwd: ROOT,
    env: { ...process.env, WF_CONFIG: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (l: string): void => {
    lines.push(l);
    if (lines.length > 50) lines.shift();
  };
  const exited = new Promise<number | NodeJS.Signals | null>((r) => child.once('exit', (code, signal) => r(signal ?? code)));
  const ready = new Promise<void>((res, rej) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      keep(l);
      if (l.includes('"msg":"Watchfire started"')) res();
    });
    createInterface({ input: child.stderr! }).on('line', keep);
    void exited.then((how) => rej(new Error(`Watchfire exited (${String(how)}) before it started:\n${lines.join('\n')}`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    tail: () => lines.join('\n'),
  };
}
