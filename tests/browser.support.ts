// What the browser suites share: where screenshots go (kept for people to look at) and how
// Debian's Chromium is started (../shared/NOTES.md: headless, nothing phoning home).
import { join } from 'node:path';

export const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');

const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Sound allowed without a click, as on a kiosk set up for the control room. */
export const CHROMIUM_ARGS = [...BASE_ARGS, '--autoplay-policy=no-user-gesture-required'];
/** A browser's default: no sound until the page gets a click (a reload, a new shift). */
export const CHROMIUM_ARGS_LOCKED_SOUND = BASE_ARGS;
