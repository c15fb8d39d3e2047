// A tiny seeded PRNG (sfc32, from PractRand's small fast counter family): the demo county, the
// device noise and the scenarios are reproducible from one seed. Not for secrets in production —
// the demo's credentials are derived from it on purpose, so that a seed gives the same county.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** Uniform in [min, max). */
  range(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Normal deviate (Box–Muller), mean 0, standard deviation sigma. */
  normal(sigma?: number): number;
  bytes(n: number): Buffer;
  /** An independent stream from this seed and a label: unaffected by how much of this stream was used. */
  fork(label: string): Rng;
}

function hashString(s: string): number {
  // FNV-1a: spreads a label or seed string into 32 bits.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function createRng(seed: number | string): Rng {
  const s = typeof seed === 'number' ? `n${seed}` : `s${seed}`;
  let a = hashString(s);
  let b = hashString(`${s}#b`);
  let c = hashString(`${s}#c`);
  let d = 1;
  const u32 = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: sfc32 needs a few rounds to mix a weak seed.
  for (let i = 0; i < 15; i++) u32();
  let spare: number | undefined;
  const rng: Rng = {
    next: () => u32() / 4294967296,
    int: (min, max) => min + Math.floor(rng.next() * (max - min + 1)),
    range: (min, max) => min + rng.next() * (max - min),
    chance: (p) => rng.next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(rng.next() * items.length)]!;
    },
    normal: (sigma = 1) => {
      if (spare !== undefined) {
        const v = spare;
        spare = undefined;
        return v * sigma;
      }
      let u = 0;
      while (u === 0) u = rng.next();
      const v = rng.next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v) * sigma;
    },
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4) {
        const x = u32();
        for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (x >>> (8 * k)) & 0xff;
      }
      return out;
    },
    fork: (label) => createRng(`${s}/${label}`),
  };
  return rng;
}
