/**
 * The 2012 TASK_WAKING hang (fixed by 9fb1b36ca123): on v3.5 scheduler_ipi reads an empty
 * wake_list although a wake-up was queued (the sender's message byte became visible before its
 * wake_list update, and the receiver's read was satisfied early), the task is left TASK_WAKING
 * and its waker is reported by the hung-task detector; v3.6 never loses a wake-up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinScenarioNames, resolveScenario, runSim } from '../../../services/sim/index.js';
import { scenarioCoreMemory } from '../../../services/sim/scenario.js';
import { buildCore } from '../../../services/sim/replay.js';

const EMPTY = 'scheduler_ipi: wake_list empty, nothing to do';

test('wake-list-2012 on v3.5 hangs: a wake-up lost to a stale wake_list, reported as a hung task', () => {
  const s = resolveScenario('wake-list-2012');
  for (const seed of [3, 5]) {
    const r = runSim(s, { kernel: 'v3.5', seed, ticksMax: 250_000 });
    assert.equal(r.verdict, 'hang', `seed ${seed}: ${r.explanation}`);
    assert.ok((r.marks[EMPTY] ?? 0) > 0, `seed ${seed}: the hang did not come through a stale wake_list`);
    assert.ok(r.lockups.some((l) => l.kind === 'hung-task'), `seed ${seed}`);
    assert.match(r.console, /INFO: task \S+:\d+ blocked for more than 20 seconds\./);
  }
});

test('hung_task_timeout_secs: the same stale read is reported after 5 s instead of 20', () => {
  const s = resolveScenario('wake-list-2012');
  const base = runSim(s, { kernel: 'v3.5', seed: 3, ticksMax: 250_000 });
  const short = runSim(s, { kernel: 'v3.5', seed: 3, ticksMax: 250_000, hungTaskTimeoutSecs: 5 });
  assert.equal(short.verdict, 'hang');
  assert.match(short.console, /INFO: task \S+:\d+ blocked for more than 5 seconds\./);
  // 15 s earlier, give or take the detectors' sampling period (4 s: the soft watchdog's hrtimer).
  const earlier = base.emulated_seconds - short.emulated_seconds;
  assert.ok(earlier >= 11 && earlier <= 19, `${base.emulated_seconds} vs ${short.emulated_seconds}`);
});

test('wake-list-2012 on v3.6 (the fix) loses no wake-up', () => {
  const s = resolveScenario('wake-list-2012');
  for (const seed of [1, 2]) {
    const r = runSim(s, { kernel: 'v3.6', seed, ticksMax: 100_000 });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.equal(r.marks[EMPTY] ?? 0, 0, `seed ${seed}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
  }
});

test('the cores of a distributed run are built as sim builds them: early loads too (the 2012 race needs them)', () => {
  for (const name of builtinScenarioNames()) {
    const s = resolveScenario(name);
    const want = scenarioCoreMemory(s);
    const spec = { kind: 'scenario' as const, scenario: s, kernel: 'v5.4', patches: [], revert: [], seed: 1 };
    const built = buildCore(spec, 0, () => undefined, () => 0);
    assert.equal(built.core.keepsHistory, want.keepHistory, `${name}: a core process ${built.core.keepsHistory ? 'keeps' : 'keeps no'} view history`);
  }
  assert.equal(scenarioCoreMemory(resolveScenario('wake-list-2012')).keepHistory, true, 'the 2012 race reads wake_list early');
});
