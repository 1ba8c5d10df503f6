// Goal: the ignored-IPI checker links tp -> store -> version -> rmw from events alone.
// Method: a hand-built event sequence with one consumed and one never-consumed IPI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoredIpiChecker } from '../../../services/checker/ignored-ipi.js';
import type { MachineEvent } from '../../../services/machine/index.js';

const base = { core: 0, clock: 0 };

test('consumed when the target reads a version at least as new with the byte set', () => {
  const c = new IgnoredIpiChecker({ messageLocs: [10, 11] });
  const evs: MachineEvent[] = [
    { ...base, e: 'tp', cpu: 0, tick: 1, name: 'ipi_message_set', attrs: { ipi_id: '0:1', target: 1, msg: 1 } },
    { ...base, e: 'store', cpu: 0, tick: 1, loc: 11, wid: 77, value: 1, lane: 1 },
    { ...base, e: 'version', cpu: 0, tick: 5, loc: 11, wid: 77, version: 3, value: 256 },
    // An atomic that read an older version does not consume it.
    { ...base, e: 'rmw', cpu: 1, tick: 4, loc: 11, op: 'xchg', old: 0, oldVersion: 2, value: 0, version: 3, wid: 90 },
    { ...base, e: 'rmw', cpu: 1, tick: 9, loc: 11, op: 'xchg', old: 256, oldVersion: 3, value: 0, version: 4, wid: 91 },
    { ...base, e: 'tp', cpu: 1, tick: 10, name: 'ipi_message_set', attrs: { ipi_id: '1:1', target: 0, msg: 0 } },
    { ...base, e: 'store', cpu: 1, tick: 10, loc: 10, wid: 78, value: 1, lane: 0 },
    { ...base, e: 'version', cpu: 1, tick: 12, loc: 10, wid: 78, version: 1, value: 1 },
  ];
  for (const e of evs) c.event(e);
  const r = c.result(10_000, 100);
  assert.equal(r.sent, 2);
  assert.equal(r.consumed, 1);
  assert.deepEqual(r.ignored, [{ ipi_id: '1:1', sender_cpu: 1, target_cpu: 0, msg: 0, ordered_tick: 12 }]);
  // Within the settle window an unconsumed IPI is in flight, not ignored.
  assert.equal(c.result(50, 100).ignored.length, 0);
});
