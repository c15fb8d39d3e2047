// What the browser suites share: where screenshots go (kept for people to look at) and how
// Debian's Chromium is started (../shared/NOTES.md: headless, nothing phoning home).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createUser, type NewUser } from '../dashboards/users.ts';
import { startTestSystem, type TestSystem, type TestSystemOptions } from './support/system.ts';
import { PASSWORD, TEST_COST } from './dashboards.fixture.ts';

export const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');

const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Sound allowed without a click, as on a kiosk set up for the control room. */
export const CHROMIUM_ARGS = [...BASE_ARGS, '--autoplay-policy=no-user-gesture-required'];
/** A browser's default: no sound until the page gets a click (a reload, a new shift). */
export const CHROMIUM_ARGS_LOCKED_SOUND = BASE_ARGS;

/**
 * A Watchfire with its console users and a Chromium, started side by side: the browser suites'
 * common beforeAll. Each user gets the fixtures' password.
 */
export async function startConsoleSystem(
  opts: TestSystemOptions,
  users: ReadonlyArray<Omit<NewUser, 'password'>>,
  args: string[] = CHROMIUM_ARGS,
): Promise<{ sys: TestSystem; browser: Browser }> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const [sys, browser] = await Promise.all([startTestSystem(opts), chromium.launch({ executablePath: '/usr/bin/chromium', args })]);
  for (const u of users) await createUser(sys.wf.users, { ...u, password: PASSWORD }, { cost: TEST_COST });
  return { sys, browser };
}
