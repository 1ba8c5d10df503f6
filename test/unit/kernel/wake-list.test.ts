// Goal: two wakers of one task never queue it twice (p->pi_lock): before the lock, wake_list
// became a cycle, sched_ttwu_pending spun with interrupts off and every later XICS IPI to that
// CPU was ignored (wake-list-2012 on v3.6, seed 1: CALL_FUNCTION 12:3 to CPU 17 never handled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScenarioValue, resolveScenario, runSim } from '../../../services/sim/index.js';

test('three CPUs: two wakers of one task on XICS (v3.6) lose no IPI', () => {
  const s = parseScenarioValue({
    name: 'double-wake',
    machine: 'power8',
    kernel: 'v3.6',
    kvm: false,
    workload: {
      hostCpus: '0,8,16',
      hostMix: { compute: 1, wake: 4, crosscall: 1 },
      wakePool: '16',
      crossCallPool: '0,8,16',
      crossCallPeers: 2,
      crossCallTargetsMax: 2,
      computeTicks: [5, 30],
    },
    limits: { ticksMax: 60_000 },
  });
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = runSim(s, { seed });
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.explanation}`);
    assert.deepEqual(r.ignored, [], `seed ${seed}`);
    assert.ok((r.marks['try_to_wake_up: task not sleeping'] ?? 0) > 0, `seed ${seed}: wakers never raced`);
    assert.ok(r.ipis_handled > 100, `seed ${seed}: only ${r.ipis_handled} IPIs handled`);
  }
});

test('wake-list-2012 on v3.6, seed 1: no ignored XICS IPI (was CALL_FUNCTION 12:3 -> 17)', () => {
  const r = runSim(resolveScenario('wake-list-2012'), { kernel: 'v3.6', seed: 1, ticksMax: 60_000 });
  assert.equal(r.verdict, 'ok', r.explanation);
  assert.deepEqual(r.ignored, []);
  assert.deepEqual(r.stuck.filter((x) => x.since_seconds > 1), []);
});
