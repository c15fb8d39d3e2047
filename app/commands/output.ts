// Command output goes through commander's configured writers, so tests and embedders can capture it.
import type { Command } from 'commander';

export function root(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

export function out(cmd: Command, text: string): void {
  const write = root(cmd).configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
  write(`${text}\n`);
}
