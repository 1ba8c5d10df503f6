/**
 * Binary relations over a small set of events {0..n-1}, as bit matrices (one row of 32-bit words
 * per event). The axiomatic checker builds a few dozen of these per candidate execution, so every
 * operation is allocation-light and O(n^2 * n/32) at worst.
 */
import { assert } from '../stdx/assert.js';

export class Rel {
  readonly n: number;
  /** Words per row. */
  readonly w: number;
  readonly bits: Uint32Array;

  constructor(n: number, bits?: Uint32Array) {
    assert(n >= 0 && Number.isInteger(n), `Rel: bad size ${n}`);
    this.n = n;
    this.w = Math.max(1, (n + 31) >>> 5);
    this.bits = bits ?? new Uint32Array(n * this.w);
    assert(this.bits.length === n * this.w, 'Rel: bits length does not match size');
  }

  static empty(n: number): Rel {
    return new Rel(n);
  }

  static identity(n: number): Rel {
    const r = new Rel(n);
    for (let i = 0; i < n; i++) r.add(i, i);
    return r;
  }

  /** All pairs (i, j) with i in `from` and j in `to` (cartesian product of two sets). */
  static cross(from: EventSet, to: EventSet): Rel {
    assert(from.n === to.n, 'Rel.cross: size mismatch');
    const r = new Rel(from.n);
    for (let i = 0; i < from.n; i++) {
      if (!from.has(i)) continue;
      r.bits.set(to.bits, i * r.w);
    }
    return r;
  }

  static fromPairs(n: number, pairs: Iterable<readonly [number, number]>): Rel {
    const r = new Rel(n);
    for (const [i, j] of pairs) r.add(i, j);
    return r;
  }

  has(i: number, j: number): boolean {
    return ((this.bits[i * this.w + (j >>> 5)] as number) & (1 << (j & 31))) !== 0;
  }

  add(i: number, j: number): void {
    assert(i >= 0 && i < this.n && j >= 0 && j < this.n, `Rel.add: (${i}, ${j}) out of range ${this.n}`);
    const k = i * this.w + (j >>> 5);
    this.bits[k] = (this.bits[k] as number) | (1 << (j & 31));
  }

  clone(): Rel {
    return new Rel(this.n, this.bits.slice());
  }

  union(...others: Rel[]): Rel {
    const r = this.clone();
    for (const o of others) {
      assert(o.n === this.n, 'Rel.union: size mismatch');
      for (let k = 0; k < r.bits.length; k++) r.bits[k] = (r.bits[k] as number) | (o.bits[k] as number);
    }
    return r;
  }

  inter(o: Rel): Rel {
    assert(o.n === this.n, 'Rel.inter: size mismatch');
    const r = this.clone();
    for (let k = 0; k < r.bits.length; k++) r.bits[k] = (r.bits[k] as number) & (o.bits[k] as number);
    return r;
  }

  minus(o: Rel): Rel {
    assert(o.n === this.n, 'Rel.minus: size mismatch');
    const r = this.clone();
    for (let k = 0; k < r.bits.length; k++) r.bits[k] = (r.bits[k] as number) & ~(o.bits[k] as number);
    return r;
  }

  /** Relational composition this ; o. */
  seq(o: Rel): Rel {
    assert(o.n === this.n, 'Rel.seq: size mismatch');
    const { n, w } = this;
    const r = new Rel(n);
    for (let i = 0; i < n; i++) {
      const base = i * w;
      for (let j = 0; j < n; j++) {
        if (!this.has(i, j)) continue;
        const ob = j * w;
        for (let k = 0; k < w; k++) r.bits[base + k] = (r.bits[base + k] as number) | (o.bits[ob + k] as number);
      }
    }
    return r;
  }

  inverse(): Rel {
    const r = new Rel(this.n);
    for (let i = 0; i < this.n; i++) for (let j = 0; j < this.n; j++) if (this.has(i, j)) r.add(j, i);
    return r;
  }

  /** Transitive closure (Warshall on bit rows). */
  plus(): Rel {
    const r = this.clone();
    const { n, w } = r;
    for (let k = 0; k < n; k++) {
      const kb = k * w;
      for (let i = 0; i < n; i++) {
        if (!r.has(i, k)) continue;
        const ib = i * w;
        for (let x = 0; x < w; x++) r.bits[ib + x] = (r.bits[ib + x] as number) | (r.bits[kb + x] as number);
      }
    }
    return r;
  }

  /** Reflexive-transitive closure. */
  star(): Rel {
    return this.plus().union(Rel.identity(this.n));
  }

  /** Reflexive closure (r?). */
  opt(): Rel {
    return this.union(Rel.identity(this.n));
  }

  isEmpty(): boolean {
    for (let k = 0; k < this.bits.length; k++) if (this.bits[k] !== 0) return false;
    return true;
  }

  isIrreflexive(): boolean {
    for (let i = 0; i < this.n; i++) if (this.has(i, i)) return false;
    return true;
  }

  isAcyclic(): boolean {
    return this.plus().isIrreflexive();
  }

  /** Restricts to pairs whose source is in `from` and target in `to`. */
  restrict(from: EventSet, to: EventSet): Rel {
    return this.inter(Rel.cross(from, to));
  }

  pairs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.n; i++) for (let j = 0; j < this.n; j++) if (this.has(i, j)) out.push([i, j]);
    return out;
  }

  equals(o: Rel): boolean {
    if (o.n !== this.n) return false;
    for (let k = 0; k < this.bits.length; k++) if (this.bits[k] !== o.bits[k]) return false;
    return true;
  }
}

/** A set of events, as one bit row. */
export class EventSet {
  readonly n: number;
  readonly bits: Uint32Array;

  constructor(n: number, members: Iterable<number> = []) {
    this.n = n;
    this.bits = new Uint32Array(Math.max(1, (n + 31) >>> 5));
    for (const i of members) {
      assert(i >= 0 && i < n, `EventSet: ${i} out of range ${n}`);
      this.bits[i >>> 5] = (this.bits[i >>> 5] as number) | (1 << (i & 31));
    }
  }

  has(i: number): boolean {
    return ((this.bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }
}
