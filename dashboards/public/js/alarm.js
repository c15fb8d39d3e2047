// The audible alarm: the temporal-three pattern of ISO 8201 / NFPA 72 §18.4.2 (three 0.5 s tones
// with 0.5 s gaps, then 1.5 s of silence), repeated while any red incident is unacknowledged.
// Browsers only let a page play sound after a user gesture, so the first click unlocks it; until
// then the header says so. <body data-alarm="on|off"> tells tests (and CSS) the alarm is sounding.
let ctx = null;
let timer = null;
let sounding = false;
const listeners = new Set();

export function onSoundState(fn) {
  listeners.add(fn);
}

function notify() {
  document.body.dataset.alarm = sounding ? 'on' : 'off';
  document.body.dataset.sound = ctx && ctx.state === 'running' ? 'enabled' : 'locked';
  for (const fn of listeners) fn({ sounding, enabled: !!ctx && ctx.state === 'running' });
}

export function unlock() {
  try {
    if (!ctx) ctx = new AudioContext();
    if (ctx.state === 'suspended') ctx.resume().then(unlocked, notify);
  } catch {
    ctx = null;
  }
  notify();
}

/** Sound just became possible: an alarm already waiting is heard now, not at its next 4 s round (issue 17 point 2). */
function unlocked() {
  if (sounding) restart();
  notify();
}

function restart() {
  clearInterval(timer);
  cycle();
  timer = setInterval(cycle, 4000);
}

function tone(at, dur, freq, vol) {
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'square';
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0, at);
  gain.gain.linearRampToValueAtTime(vol, at + 0.02);
  gain.gain.setValueAtTime(vol, at + dur - 0.03);
  gain.gain.linearRampToValueAtTime(0, at + dur);
  osc.connect(gain).connect(ctx.destination);
  osc.start(at);
  osc.stop(at + dur + 0.05);
}

function cycle() {
  if (!ctx || ctx.state !== 'running') return;
  const t0 = ctx.currentTime + 0.05;
  for (let i = 0; i < 3; i++) tone(t0 + i, 0.5, 880, 0.18);
}

export function setAlarm(on) {
  if (on === sounding) return;
  sounding = on;
  clearInterval(timer);
  timer = null;
  if (on) restart();
  notify();
}

/** A soft single chime for a new yellow incident: noticed, not alarming. */
export function chime() {
  if (!ctx || ctx.state !== 'running') return;
  const t0 = ctx.currentTime + 0.02;
  tone(t0, 0.18, 660, 0.08);
  tone(t0 + 0.2, 0.25, 990, 0.06);
}

/**
 * A new task on the grid worker's phone (issue 17 point 4): three rising beeps, loud enough for a
 * pocket. Returns whether sound could play (the page may not have had its first tap yet).
 */
export function taskTone() {
  if (!ctx || ctx.state !== 'running') return false;
  const t0 = ctx.currentTime + 0.02;
  for (let i = 0; i < 3; i++) tone(t0 + i * 0.35, 0.25, 700 + i * 200, 0.2);
  return true;
}

export function init() {
  // Where the browser already allows sound (a kiosk started with an autoplay policy, or a site
  // the user has engaged with), this starts it; elsewhere the context waits for the first click.
  unlock();
  const first = () => unlock();
  document.addEventListener('pointerdown', first);
  document.addEventListener('keydown', first);
}
