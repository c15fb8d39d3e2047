#!/usr/bin/env node
// Command-line entry point: the command tree is app/cli.ts; this file only runs it and turns a
// failure into a message and exit code 1.
import { WatchfireError } from '../contracts/errors.ts';
import { createProgram } from './cli.ts';

createProgram().parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof WatchfireError) {
    console.error(`${err.code}: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
