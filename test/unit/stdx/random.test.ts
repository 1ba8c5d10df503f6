/**
 * Goal: a run is a pure function of its seed. Method: draw streams from fixed seeds and
 * namespaces and compare them; check `int(n)` bounds on awkward n and its uniformity with a
 * chi-square test over 100k draws (fixed seeds, so the test is deterministic, not flaky).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../../services/stdx/index.js';

function draw(r: Random, count: number): number[] {
  return Array.from({ length: count }, () => r.u32());
}

test('same seed and namespace, same stream', () => {
  for (const seed of [0, 1, 42, 2 ** 32 - 1, 12345678901234567890n, 'abc']) {
    assert.deepEqual(draw(new Random(seed, 'core/3'), 64), draw(new Random(seed, 'core/3'), 64));
  }
});

test('different namespaces and different seeds give different streams', () => {
  const streams = new Map<string, string>();
  for (const seed of [0, 1, 2, 1000]) {
    for (const ns of ['', 'core/0', 'core/1', 'link/0-1', 'link/1-0', 'faults']) {
      const key = draw(new Random(seed, ns), 8).join(',');
      const clash = streams.get(key);
      assert.equal(clash, undefined, `seed ${seed} ns "${ns}" repeats stream of ${clash}`);
      streams.set(key, `seed ${seed} ns "${ns}"`);
    }
  }
});

test('fork is deterministic and does not move the parent', () => {
  const a = new Random(7, 'root');
  const b = new Random(7, 'root');
  const forkA = draw(a.fork('child'), 16);
  assert.deepEqual(draw(a, 16), draw(b, 16), 'forking advanced the parent');
  assert.deepEqual(draw(new Random(7, 'root').fork('child'), 16), forkA);
  assert.notDeepEqual(draw(new Random(7, 'root').fork('other'), 16), forkA);
});

test('int(n) stays in [0, n) for awkward n', () => {
  const seed = 3;
  const r = new Random(seed, 'int-range');
  for (const n of [1, 2, 3, 7, 10, 1000, 2 ** 31 + 11, 2 ** 32]) {
    for (let i = 0; i < 2000; i++) {
      const x = r.int(n);
      assert.ok(Number.isInteger(x) && x >= 0 && x < n, `seed ${seed}: int(${n}) gave ${x}`);
    }
  }
  for (let i = 0; i < 2000; i++) {
    const x = r.range(-3, 3);
    assert.ok(Number.isInteger(x) && x >= -3 && x <= 3, `seed ${seed}: range gave ${x}`);
  }
});

test('int(n) is roughly uniform over 100k draws (chi-square)', () => {
  const drawCount = 100_000;
  // Critical chi-square values at p = 0.001: df 9 -> 27.88, df 6 -> 22.46, df 99 -> 148.23.
  const criticalByN = new Map([
    [10, 27.88],
    [7, 22.46],
    [100, 148.23],
  ]);
  for (const seed of [1, 2, 3]) {
    for (const [n, critical] of criticalByN) {
      const r = new Random(seed, `uniform/${n}`);
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < drawCount; i++) counts[r.int(n)]! += 1;
      const expectedCount = drawCount / n;
      const chi2 = counts.reduce((s, c) => s + (c - expectedCount) ** 2 / expectedCount, 0);
      assert.ok(chi2 < critical, `seed ${seed}, n ${n}: chi2 ${chi2.toFixed(2)} >= ${critical}`);
    }
  }
});

test('float is in [0, 1) and its mean is near 1/2', () => {
  const r = new Random(9, 'float');
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const x = r.float();
    assert.ok(x >= 0 && x < 1, `seed 9: float ${x}`);
    sum += x;
  }
  // Standard error of the mean is 1/sqrt(12 * 1e5) ~ 0.0009; allow 5 of them.
  assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.0046, `seed 9: mean ${sum / 100_000}`);
});
