/**
 * Goal: the distributed hang rule is judged on the machine's progress, not on one core's own step
 * counter, and the drain's quiet test names what is still under way.
 *
 * Method: synthetic status waves (no processes). A CPU of core 0 waits for CPU 8 far longer than
 * the threshold in its own steps; the wait is judged hung only once every core that is not idle
 * (the target's, and any other one its answer may need) has also run more than the threshold
 * since the wait was first seen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hangSuspected, lostIpisSeen, whyNotQuiet } from '../../../services/controller/controller.js';
import type { CoreStatus } from '../../../services/controller/controller.js';

function status(core: number, step: number, stuck: number[] = [], extra: Partial<CoreStatus> = {}): CoreStatus {
  return {
    core, step, sent: 0, received: 0, finished: false, quiescent: true, idle: false, ipisHandled: 0, ipisSent: 0, stuck, hung: [], offlineWakesMax: 0, lost: [], invalidReason: '',
    drain: { drainStep: 0, cpus: [{ cpu: core * 4, messageWord: 0, irqPending: false, inIrq: false }] }, ...extra,
  };
}

const HANG = 1000;

test('a waiter whose peers got no CPU time is not hung, however long it spun', () => {
  const waits = new Map<string, number[]>();
  // CPU 1 (core 0) has waited ever longer for CPU 8 (core 2); core 2 is starved at step 700.
  for (const [own, waited] of [[10_000, 5000], [20_000, 15_000], [40_000, 35_000]] as const) {
    const w = [status(0, own, [1, 8, waited]), status(1, own), status(2, 700)];
    assert.equal(hangSuspected(w, waits, HANG), null, `own wait ${waited}, target core still at 700`);
  }
  // Core 2 runs again, but core 1 (a third core the answer may need) is now the starved one.
  assert.equal(hangSuspected([status(0, 41_000, [1, 8, 36_000]), status(1, 10_500), status(2, 5000)], waits, HANG), null);
  // Every busy core has run more than HANG steps since the wait was first seen: hung.
  const h = hangSuspected([status(0, 42_000, [1, 8, 37_000]), status(1, 11_001), status(2, 5000)], waits, HANG);
  assert.deepEqual(h, { kind: 'soft-lockup', cpu: 1, waiting_for: 8, own_steps: 37_000, machine_steps: 1001 });
});

test('a task asleep until the task it woke has run is judged by the same rule, on its own list and timeout', () => {
  const waits = new Map<string, number[]>();
  const sleeps = new Map<string, number[]>();
  // CPU 2's task has slept 5,000 of its core's steps for a task of CPU 9: past the hung-task
  // timeout on its own clock, but core 2 has not run since it was first seen.
  const first = [status(0, 6000, [], { hung: [2, 9, 5000] }), status(1, 100, [], { idle: true }), status(2, 900)];
  assert.equal(hangSuspected(first, waits, HANG), null, 'no csd_lock_wait: no soft lockup');
  assert.equal(hangSuspected(first, sleeps, HANG, 'hung-task'), null, 'core 2 has not run since');
  const h = hangSuspected([status(0, 7200, [], { hung: [2, 9, 6200] }), status(1, 100, [], { idle: true }), status(2, 1901)], sleeps, HANG, 'hung-task');
  assert.deepEqual(h, { kind: 'hung-task', cpu: 2, waiting_for: 9, own_steps: 6200, machine_steps: 1001 });
  // A csd_lock_wait is not a sleeping task.
  assert.equal(hangSuspected([status(0, 9000, [1, 8, 8000]), status(2, 9000)], new Map(), HANG, 'hung-task'), null);
});

test('an idle core holds nobody back', () => {
  const waits = new Map<string, number[]>();
  assert.equal(hangSuspected([status(0, 5000, [1, 8, 4000]), status(1, 50, [], { idle: true }), status(2, 100)], waits, HANG), null);
  const h = hangSuspected([status(0, 7000, [1, 8, 6000]), status(1, 50, [], { idle: true }), status(2, 1200)], waits, HANG);
  assert.equal(h?.machine_steps, 1100);
});

test('a wait that ends and a new one that starts are judged apart', () => {
  const waits = new Map<string, number[]>();
  assert.equal(hangSuspected([status(0, 5000, [1, 8, 4000]), status(1, 0, [], { idle: true }), status(2, 100)], waits, HANG), null);
  // The wait ended (no stuck entry): its record goes.
  assert.equal(hangSuspected([status(0, 6000), status(1, 0, [], { idle: true }), status(2, 5000)], waits, HANG), null);
  assert.equal(waits.size, 0);
  // A new wait (another since-step) counts the machine's progress from when it was first seen.
  assert.equal(hangSuspected([status(0, 9000, [1, 8, 2000]), status(1, 0, [], { idle: true }), status(2, 5500)], waits, HANG), null);
  assert.equal(hangSuspected([status(0, 9500, [1, 8, 2500]), status(1, 0, [], { idle: true }), status(2, 6400)], waits, HANG), null);
  assert.notEqual(hangSuspected([status(0, 10_100, [1, 8, 3100]), status(1, 0, [], { idle: true }), status(2, 6501)], waits, HANG), null);
});

test('the drain is quiet only with nothing in flight, no interrupt pending and no handler running', () => {
  const quiet = [status(0, 10), status(1, 10)];
  assert.equal(whyNotQuiet(quiet), '');
  assert.match(whyNotQuiet([status(0, 10, [], { sent: 3 }), status(1, 10, [], { received: 2 })]), /1 bus messages in flight/);
  assert.match(whyNotQuiet([status(0, 10, [], { quiescent: false }), status(1, 10)]), /stores or barriers under way on cores 0/);
  assert.match(whyNotQuiet([status(0, 10, [], { drain: null }), status(1, 10)]), /have not stopped their workload/);
  const irq = status(1, 10, [], { drain: { drainStep: 3, cpus: [{ cpu: 5, messageWord: 1, irqPending: true, inIrq: false }] } });
  assert.match(whyNotQuiet([status(0, 10), irq]), /interrupts pending on CPUs 5/);
  const inIrq = status(1, 10, [], { drain: { drainStep: 3, cpus: [{ cpu: 6, messageWord: 0, irqPending: false, inIrq: true }] } });
  assert.match(whyNotQuiet([status(0, 10), inIrq]), /CPUs 6 inside an interrupt handler/);
});

test('losses the cores confirmed are said once each; a lost CALL_FUNCTION someone waits for is what stop-at-lost ends on', () => {
  const seen = new Set<string>();
  // Core 7 lost a CALL_FUNCTION to CPU 30 at tick 29214 (lanes bit 0); CPU 53 (core 13) waits for CPU 30.
  const a = [status(7, 31_000, [], { lost: [30, 1, 29_214] }), status(13, 31_000, [53, 30, 2_400])];
  const first = lostIpisSeen(a, seen, 1000, 'doorbell');
  assert.deepEqual(first.lines, [
    'lost: CALL_FUNCTION to CPU 30 at 29.214 s (tick 29214): its doorbell was taken as a guest wake-up (host_ipi == 0) with the message pending, and nothing has read it since; CPU 53 waits for CPU 30 in csd_lock_wait',
  ]);
  assert.equal(first.callWaited, true);
  const again = lostIpisSeen(a, seen, 1000);
  assert.deepEqual(again.lines, [], 'said once');
  assert.equal(again.callWaited, true, 'still waited for: the run still ends on it');
  // A lost RESCHEDULE (lane 1), or a CALL_FUNCTION nobody waits for, does not end a run.
  const b = [status(7, 31_000, [], { lost: [29, 2, 30_001, 28, 1, 30_500] }), status(13, 31_000, [53, 31, 2_400])];
  const other = lostIpisSeen(b, new Set(), undefined);
  assert.equal(other.callWaited, false);
  assert.deepEqual(other.lines.map((l) => l.split(':')[1]), [' RESCHEDULE to CPU 29 at tick 30001', ' CALL_FUNCTION to CPU 28 at tick 30500']);
  // Where host IPIs may go over XICS too (a POWER8 host), the line does not say doorbell.
  assert.match(other.lines[0] ?? '', /: its interrupt was taken as a guest wake-up \(host_ipi == 0\)/);
});
