/**
 * Seeded pseudo-random streams. Every source of randomness in model code comes from a `Random`
 * derived from (seed, namespace), so a run is a pure function of its seed.
 *
 * The generator is xoshiro128** seeded through splitmix32 over a hash of the namespace; the
 * stream prefix `v1` versions the derivation so recorded seeds stay meaningful.
 */
const STREAM_VERSION = 'v1';

function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [state, z >>> 0];
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A stream for `namespace` under `seed`. Same arguments, same stream, on every machine. */
  constructor(seed: number | bigint | string, namespace = '') {
    let h = hashString(`${STREAM_VERSION}/${String(seed)}/${namespace}`, 0x811c9dc5);
    let s = h;
    let out: number;
    [s, out] = splitmix32(s);
    this.a = out;
    [s, out] = splitmix32(s);
    this.b = out;
    [s, out] = splitmix32(s);
    this.c = out;
    [s, out] = splitmix32(s);
    this.d = out;
    h = s;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A derived stream. It depends on this stream's current position, and does not advance it. */
  fork(namespace: string): Random {
    return new Random(`${this.a}:${this.b}:${this.c}:${this.d}`, namespace);
  }

  /** Next 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = this.float();
    if (u < 1e-12) u = 1e-12;
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    let u = this.float();
    if (u < 1e-12) u = 1e-12;
    return -Math.log(u) * mean;
  }

  /** Pareto with scale xm and shape alpha. */
  pareto(xm: number, alpha: number): number {
    let u = this.float();
    if (u < 1e-12) u = 1e-12;
    return xm / Math.pow(u, 1 / alpha);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = t;
    }
    return xs;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
