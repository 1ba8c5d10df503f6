// Goal: fault plans are validated at the edge with errors that name file, line and field, and the
// injector's decisions are a pure function of (seed, link, class, message index, plan), with every
// injected fault counted by kind and link.
// Method: parse good and bad plans; run the injector twice with one seed and once with another;
// check rates against the plan's probabilities over many draws, and the counters against the
// decisions actually returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../services/stdx/errors.js';
import {
  FaultInjector,
  loadFaultPlan,
  parseFaultPlan,
  parseFaultPlanValue,
  type FaultPlan,
  type SendDecision,
} from '../../../services/bus/fault-plan.js';

const yamlPlan = `# a plan
faults:
  - { type: latency, class: ipi, latency_ms: 2, jitter_ms: 1, distribution: normal }
  - type: loss
    src: 0
    dst: 1
    probability: 0.1
  - { type: duplicate, probability: 0.05 }
  - { type: reorder, window: 4 }
  - { type: partition, core: 2, at_ms: 500, heal_after_ms: 1000 }
  - { type: pause, core: 3, at_ms: 100, duration_ms: 200 }
  - { type: kill, core: 1, at_ms: 50 }
  - { type: restart, core: 1, at_ms: 60 }
`;

test('a YAML plan parses with defaults applied; JSON is accepted too', () => {
  const plan = parseFaultPlan(yamlPlan, 'plan.yaml');
  assert.equal(plan.faults.length, 8);
  assert.deepEqual(plan.faults[0], {
    type: 'latency', src: '*', dst: '*', class: 'ipi', latency_ms: 2, jitter_ms: 1, distribution: 'normal',
  });
  assert.deepEqual(plan.faults[3], { type: 'reorder', src: '*', dst: '*', class: '*', window: 4, hold_ms: 5 });
  assert.deepEqual(plan.faults[4], { type: 'partition', core: 2, at_ms: 500, heal_after_ms: 1000, mode: 'hold', class: '*' });
  const json = parseFaultPlan(JSON.stringify({ faults: [{ type: 'drop', probability: 0.5 }] }), 'p.json');
  assert.deepEqual(json.faults[0], { type: 'drop', src: '*', dst: '*', class: '*', probability: 0.5 });
});

test('errors name the file, the line and the field', () => {
  const bad = 'faults:\n  - type: drop\n    probability: 1.5\n';
  assert.throws(() => parseFaultPlan(bad, 'bad.yaml'), (e: unknown) =>
    e instanceof InputError && e.message.startsWith('bad.yaml:3: faults[0].probability:') &&
    /less than or equal to 1/.test(e.message));
  assert.throws(() => parseFaultPlan('faults:\n  - { type: jitter, ms: 1 }\n', 'x.yaml'), (e: unknown) =>
    e instanceof InputError && /^x\.yaml:2: faults\[0\]\.type: Invalid discriminator/.test(e.message));
  assert.throws(() => parseFaultPlan('faults:\n  - { type: drop, probability: 0.1, bogus: 1 }\n', 'y.yaml'),
    (e: unknown) => e instanceof InputError && /^y\.yaml:2: faults\[0\]: Unrecognized key/.test(e.message));
  assert.throws(() => parseFaultPlan('faults: [ {', 'z.yaml'), (e: unknown) =>
    e instanceof InputError && /^z\.yaml:1: not valid YAML/.test(e.message));
  assert.throws(() => parseFaultPlanValue({ faults: [{ type: 'reorder', window: 1 }] }, 'control subject'),
    (e: unknown) => e instanceof InputError && /^control subject: faults\[0\]\.window:/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-fp-'));
  try {
    const f = join(dir, 'plan.yaml');
    writeFileSync(f, yamlPlan);
    assert.equal(loadFaultPlan(f).faults.length, 8);
    assert.throws(() => loadFaultPlan(join(dir, 'missing.yaml')), (e: unknown) =>
      e instanceof InputError && e.message.includes('missing.yaml: cannot read the fault plan'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function run(plan: FaultPlan, seed: number, n: number, now = 0): SendDecision[] {
  const inj = new FaultInjector(plan, { seed, nowMs: () => now });
  const out: SendDecision[] = [];
  for (let i = 0; i < n; i++) out.push(inj.decide(0, 1, i % 3 === 0 ? 'ipi' : 'memory'));
  return out;
}

test('decisions are deterministic from the seed and differ across seeds', () => {
  const plan = parseFaultPlan(yamlPlan);
  assert.deepEqual(run(plan, 7, 2000), run(plan, 7, 2000));
  assert.notDeepEqual(run(plan, 7, 2000), run(plan, 8, 2000));
});

test('a link decision does not depend on traffic of other links or classes', () => {
  const plan = parseFaultPlan(yamlPlan);
  const a = new FaultInjector(plan, { seed: 3, nowMs: () => 0 });
  const b = new FaultInjector(plan, { seed: 3, nowMs: () => 0 });
  const onlyA: SendDecision[] = [];
  const mixedB: SendDecision[] = [];
  for (let i = 0; i < 500; i++) {
    onlyA.push(a.decide(0, 1, 'memory'));
    b.decide(1, 0, 'memory');
    b.decide(0, 1, 'ipi');
    mixedB.push(b.decide(0, 1, 'memory'));
  }
  assert.deepEqual(onlyA, mixedB);
});

test('rates follow the plan and every injected fault is counted by kind and link', () => {
  const plan = parseFaultPlanValue({
    faults: [
      { type: 'drop', src: 0, dst: 1, probability: 0.1 },
      { type: 'drop', probability: 0.5 },
      { type: 'duplicate', probability: 0.05 },
      { type: 'latency', latency_ms: 3, jitter_ms: 2, distribution: 'uniform' },
    ],
  });
  const inj = new FaultInjector(plan, { seed: 11, nowMs: () => 0 });
  const n = 20_000;
  let drops01 = 0;
  let dups01 = 0;
  let drops10 = 0;
  let delaySum = 0;
  for (let i = 0; i < n; i++) {
    const d = inj.decide(0, 1, 'memory');
    if (d.drop !== undefined) drops01++;
    else {
      if (d.duplicate) dups01++;
      assert.ok(d.delayMs >= 1 && d.delayMs <= 5, `uniform delay in [1, 5]: ${d.delayMs}`);
      delaySum += d.delayMs;
    }
    if (inj.decide(1, 0, 'memory').drop !== undefined) drops10++;
  }
  // First matching rule wins: 0->1 uses 0.1, 1->0 falls through to 0.5.
  assert.ok(Math.abs(drops01 / n - 0.1) < 0.01, `drop rate 0->1 ${drops01 / n}`);
  assert.ok(Math.abs(drops10 / n - 0.5) < 0.02, `drop rate 1->0 ${drops10 / n}`);
  assert.ok(Math.abs(dups01 / (n - drops01) - 0.05) < 0.01);
  assert.ok(Math.abs(delaySum / (n - drops01) - 3) < 0.05);
  assert.equal(inj.total('drop', '0->1'), drops01);
  assert.equal(inj.total('drop', '1->0'), drops10);
  assert.equal(inj.total('duplicate', '0->1'), dups01);
  assert.equal(inj.total('latency', '0->1'), n - drops01);
  assert.deepEqual(inj.counts().map((c) => `${c.kind} ${c.link}`), [
    'drop 0->1', 'drop 1->0', 'duplicate 0->1', 'duplicate 1->0', 'latency 0->1', 'latency 1->0',
  ]);
});

test('partitions hold (or drop) messages of a core until the heal time', () => {
  const plan = parseFaultPlanValue({
    faults: [
      { type: 'partition', core: 2, at_ms: 100, heal_after_ms: 50 },
      { type: 'partition', core: 3, at_ms: 100, heal_after_ms: 50, mode: 'drop' },
    ],
  });
  let now = 0;
  const inj = new FaultInjector(plan, { seed: 1, nowMs: () => now });
  assert.equal(inj.decide(2, 0, 'ipi').delayMs, 0);
  now = 120;
  assert.deepEqual(inj.decide(0, 2, 'ipi'), { drop: undefined, delayMs: 30, duplicate: false, reorder: undefined });
  assert.equal(inj.decide(3, 0, 'ipi').drop, 'partition');
  // The fabric never loses coherence traffic: in drop mode a memory message waits for the heal.
  assert.deepEqual(inj.decide(3, 0, 'memory'), { drop: undefined, delayMs: 30, duplicate: false, reorder: undefined });
  assert.equal(inj.decide(0, 1, 'memory').delayMs, 0, 'other links are untouched');
  now = 150;
  assert.equal(inj.decide(2, 0, 'ipi').delayMs, 0, 'healed');
  assert.equal(inj.total('partition'), 3);
});

test('reorder windows are seeded permutations and moved messages are counted', () => {
  const plan = parseFaultPlanValue({ faults: [{ type: 'reorder', window: 8 }] });
  const a = new FaultInjector(plan, { seed: 5, nowMs: () => 0 });
  const b = new FaultInjector(plan, { seed: 5, nowMs: () => 0 });
  let moved = 0;
  for (let k = 0; k < 50; k++) {
    assert.deepEqual(a.decide(0, 1, 'ipi').reorder, { window: 8, holdMs: 5 });
    const p = a.reorder(0, 1, 'ipi', 8);
    assert.deepEqual(p, b.reorder(0, 1, 'ipi', 8));
    assert.deepEqual([...p].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7]);
    moved += p.filter((v, i) => v !== i).length;
  }
  assert.ok(moved > 0);
  assert.equal(a.total('reorder', '0->1'), moved);
});

test('process faults come out by time and are counted when carried out, once', () => {
  const inj = new FaultInjector(parseFaultPlan(yamlPlan), { seed: 1, nowMs: () => 0 });
  const pf = inj.processFaults();
  assert.deepEqual(pf.map((f) => `${f.kind}@${f.atMs}:${f.core}`), ['kill@50:1', 'restart@60:1', 'pause@100:3']);
  for (const f of pf) inj.recordProcessFault(f);
  assert.equal(inj.total('kill', 'core 1'), 1);
  assert.equal(inj.total('pause', 'core 3'), 1);
  assert.throws(() => inj.recordProcessFault(pf[0]!), /carried out once/);
});

test('a live update changes the rules but not the random streams', () => {
  const p1 = parseFaultPlanValue({ faults: [{ type: 'drop', probability: 0 }] });
  const p2 = parseFaultPlanValue({ faults: [{ type: 'drop', probability: 1 }] });
  const inj = new FaultInjector(p1, { seed: 9, nowMs: () => 0 });
  for (let i = 0; i < 10; i++) assert.equal(inj.decide(0, 1, 'memory').drop, undefined);
  inj.update(p2);
  for (let i = 0; i < 10; i++) assert.equal(inj.decide(0, 1, 'memory').drop, 'drop');
  assert.equal(inj.total('drop'), 10);
});
