#!/usr/bin/env node
// Command-line entry point: the command tree is app/cli.ts; this file only runs it and turns a
// failure into a message and exit code 1.
import { WatchfireError } from '../contracts/errors.ts';
import { createProgram } from './cli.ts';

createProgram().parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof WatchfireError) {
    console.error(`${err.code}: ${err.message}`);
  } else if (err instanceof Error && !process.env.WF_DEBUG) {
    // What the user typed or has to fix, not where in our code it was noticed.
    console.error(`error: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}  [WF_DEBUG=1 shows where]`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
