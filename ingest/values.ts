// What of a validated payload element becomes stored values (PROTOCOL.md "Payloads": unknown fields
// are kept, stored as-is where they are numbers, ignored otherwise).

/** Envelope fields, and names the store writes itself: never taken from the payload as values. */
const RESERVED = new Set(['ts', 'seq', 'type', 'score', 'level', 'clock_bad', 'out_of_range', 'time']);
/** Known string-valued fields per kind; every other kept value is a number. */
const STRING_FIELDS = new Set(['mainPower', 'backupPower', 'zone', 'label', 'command']);
/**
 * Field names safe as InfluxDB field keys and Prometheus-like identifiers. A device cannot invent
 * odd keys that break line protocol or explode the schema.
 */
const FIELD_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** A chatty firmware cannot add hundreds of fields per point. */
const MAX_UNKNOWN_FIELDS = 32;

/**
 * Values of one validated element. Known fields have their schema's type already; `zone` may be a
 * number or a string on the wire and is stored as a string so the InfluxDB field keeps one type.
 */
export function valuesOf(element: Readonly<Record<string, unknown>>, known: ReadonlySet<string>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  let unknown = 0;
  for (const key in element) {
    if (RESERVED.has(key)) continue;
    const v = element[key];
    if (STRING_FIELDS.has(key)) {
      if (typeof v === 'string' || typeof v === 'number') out[key] = String(v);
      continue;
    }
    if (key === 'ok' && typeof v === 'boolean') {
      out.ok = v ? 1 : 0;
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (!known.has(key)) {
      if (!FIELD_NAME_RE.test(key) || unknown >= MAX_UNKNOWN_FIELDS) continue;
      unknown++;
    }
    out[key] = v;
  }
  return out;
}
