/**
 * A binary min-heap keyed by (key, seq): equal keys come out in insertion order, which keeps the
 * simulator deterministic without relying on the sort stability of anything else.
 */
export class MinHeap<T> {
  private keys: number[] = [];
  private seqs: number[] = [];
  private vals: T[] = [];
  private seq = 0;

  get size(): number {
    return this.vals.length;
  }

  push(key: number, val: T): void {
    const i = this.vals.length;
    this.keys.push(key);
    this.seqs.push(this.seq++);
    this.vals.push(val);
    this.up(i);
  }

  peekKey(): number {
    return this.vals.length === 0 ? Infinity : (this.keys[0] as number);
  }

  peek(): T | undefined {
    return this.vals[0];
  }

  pop(): T | undefined {
    const n = this.vals.length;
    if (n === 0) return undefined;
    const top = this.vals[0] as T;
    const lastK = this.keys.pop() as number;
    const lastS = this.seqs.pop() as number;
    const lastV = this.vals.pop() as T;
    if (n > 1) {
      this.keys[0] = lastK;
      this.seqs[0] = lastS;
      this.vals[0] = lastV;
      this.down(0);
    }
    return top;
  }

  clear(): void {
    this.keys.length = 0;
    this.seqs.length = 0;
    this.vals.length = 0;
  }

  private less(i: number, j: number): boolean {
    const ki = this.keys[i] as number;
    const kj = this.keys[j] as number;
    return ki < kj || (ki === kj && (this.seqs[i] as number) < (this.seqs[j] as number));
  }

  private swap(i: number, j: number): void {
    const k = this.keys[i] as number;
    this.keys[i] = this.keys[j] as number;
    this.keys[j] = k;
    const s = this.seqs[i] as number;
    this.seqs[i] = this.seqs[j] as number;
    this.seqs[j] = s;
    const v = this.vals[i] as T;
    this.vals[i] = this.vals[j] as T;
    this.vals[j] = v;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.vals.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}
