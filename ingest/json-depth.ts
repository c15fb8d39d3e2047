// The nesting-depth limit (PROTOCOL.md "What the gateway does with bad input"; issue 15 point 4):
// JSON nested 20,000 deep parses, but every recursive walk after it (JSON.stringify for a dead
// letter's reason, the console's event stream) overflows the stack. Checked on the raw bytes before
// JSON.parse, so nothing recursive ever sees such a value: one pass, no allocation, strings skipped.

/** True when the JSON text opens more than `limit` arrays/objects inside one another. */
export function nestsDeeperThan(text: Uint8Array, limit: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i]!;
    if (c === 0x22 /* " */) {
      // Skip the string; a backslash escapes the next byte (an escaped quote never ends it).
      for (i++; i < n; i++) {
        const d = text[i]!;
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return false;
}
