/**
 * The human verdict of `ipiscope run`: it never claims more than the run showed. An ok ended by the
 * clock says how much emulated time it covers; an IPI ignored without a waiter is listed even when
 * nothing hung (the 2019 race can lose a RESCHEDULE nobody waits for).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictLines } from '../../../services/cli/cmd-run.js';
import type { RunVerdict } from '../../../services/controller/run-scenario.js';

function verdict(over: Partial<RunVerdict>): RunVerdict {
  return {
    verdict: 'ok', scenario: 'host-ipi-2019', seed: 3, kernel: 'v5.3', ipis_sent: 1753, ipis_handled: 1753, ignored: [], lockups: [], interrupts: {},
    stuck: [], offline_wakes: {}, patches: [], marks: {}, end_reason: 'duration', drained: true, cores: 32, steps_max: 51_239, console: '', ...over,
  };
}

test('an ok ended by the duration: no IPI ignored, no CPU hung, in so many emulated seconds; no proof for a rare race', () => {
  const l = verdictLines(verdict({}), { processes: 32, wallMs: 56_151, emulatedSeconds: 51.239 });
  assert.match(l[0] as string, /^verdict: OK \(duration\) — 1753 of 1753 IPIs handled, 0 ignored, over 51\.2 emulated s, 32 core processes/);
  assert.match(l[1] as string, /^ok means: no IPI was ignored and no CPU hung in the 51\.2 emulated s that ran .*rare race/);
  assert.equal(l.length, 2);
});

test('an ok with an ignored RESCHEDULE: the IPI is listed, nobody waits for it, and ok does not say none was ignored', () => {
  const ignored = [{ ipi_id: '62:30', sender_cpu: 62, target_cpu: 1, msg: 1, ordered_tick: 44_060 }];
  const l = verdictLines(verdict({ ignored }), { processes: 32, wallMs: 1, emulatedSeconds: 51.239, traceIds: new Map([['62:30', 'ab'.repeat(16)]]) });
  assert.match(l[1] as string, /^ignored IPI 62:30: RESCHEDULE from CPU 62 to CPU 1, its message ordered at tick 44060 and never consumed \(nobody waits for it\); trace (ab){16}$/);
  assert.doesNotMatch(l[2] as string, /no IPI was ignored/);
  assert.match(l[2] as string, /no CPU hung .*1 ignored IPI/);
});

test('a hang: the lost CALL_FUNCTION is listed with its waiter, and no ok caveat', () => {
  const ignored = [{ ipi_id: '119:7', sender_cpu: 119, target_cpu: 121, msg: 0, ordered_tick: 9_628, interleaving: 'message-late' as const }];
  const stuck = [{ kind: 'csd_lock_wait' as const, cpu: 119, where: 'csd_lock_wait (smp_call_function_many)', waiting_for: 121, since_steps: 30_000, forever: true }];
  const l = verdictLines(verdict({ verdict: 'hang', ignored, stuck }), { processes: 32, wallMs: 1, emulatedSeconds: 40 });
  assert.equal(l.length, 2);
  assert.equal(l[1], 'ignored IPI 119:7: CALL_FUNCTION from CPU 119 to CPU 121, its message ordered at tick 9628 and never consumed; host_ipi overwritten (2019 interleaving: message-late)');
});

test('a paced run whose bus hops cost far more ticks than sim\'s says that its races are rarer; one near sim\'s says nothing', () => {
  const scale = (mean: number): Partial<RunVerdict> => ({
    time_scale: { tick_us: 1000, ticks_per_second: 1000, lag: { lag_ticks_max: 0, lag_ticks_mean: 0, behind_ms: 0, behind_stretch_ms_max: 0, lagging_cores: 0, lag_ticks_limit: 100, catch_up_ms_max: 0, cores_cpu_ms: 0, slices: 0, sleeps: 0, idle_wakes: 0 }, hop_ticks: { messages: 1000, mean, p50: Math.round(mean * 0.75), p90: 0, p99: 0, max: 0 }, sim_hop_ticks_mean: [3.5, 5.5] },
  });
  const slow = verdictLines(verdict(scale(12.1)), { processes: 32, wallMs: 1, emulatedSeconds: 20 });
  assert.ok(slow.some((l) => /^bus hops cost 12\.1 ticks on average \(median 9\) against sim's 3\.5-5\.5: .*races that need a short hop are rarer here than in sim.*JIT-cold for their first minutes/.test(l)), slow.join('\n'));
  const near = verdictLines(verdict(scale(4.2)), { processes: 4, wallMs: 1, emulatedSeconds: 20 });
  assert.ok(!near.some((l) => /bus hops cost/.test(l)), near.join('\n'));
});

test('a hang whose waiter got its answer in the drain says it was a late answer, not a lost IPI', () => {
  const hang_wait = { kind: 'soft-lockup' as const, cpu: 125, waiting_for: 0, own_steps: 4_100, machine_steps: 4_050 };
  const l = verdictLines(verdict({ verdict: 'hang', end_reason: 'hang', hang_wait }), { processes: 32, wallMs: 1, emulatedSeconds: 15.7 });
  assert.equal(
    l[1],
    'hang means here: a soft lockup, not a wait for ever: CPU 125 spun in csd_lock_wait for CPU 0 past the threshold and got its answer during the drain (its IPI was late); ' +
      "no IPI was lost and nobody waits for ever; long bus hops, or a low --watchdog-thresh or --hung-task-timeout, make late answers cross the detectors' thresholds",
  );
  assert.equal(l.length, 2);
  // The same wait with other CPUs stuck for ever: still a hang, and the line says so.
  const stuck = [{ kind: 'csd_lock_wait' as const, cpu: 119, where: 'csd_lock_wait (smp_call_function_many)', waiting_for: 121, since_steps: 30_000, forever: true }];
  const ignored = [{ ipi_id: '119:7', sender_cpu: 119, target_cpu: 121, msg: 0, ordered_tick: 9_628 }];
  const both = verdictLines(verdict({ verdict: 'hang', end_reason: 'hang', hang_wait, stuck, ignored }), { processes: 32, wallMs: 1, emulatedSeconds: 40 });
  assert.match(both[2] as string, /^hang means here: a soft lockup, not a wait for ever: CPU 125 .*; CPUs that wait for ever \(the console names them\) make it a hang all the same;/);
  // A hung-task report whose woken task ran in the drain.
  const ht = verdictLines(verdict({ verdict: 'hang', end_reason: 'hang', hang_wait: { kind: 'hung-task', cpu: 16, waiting_for: 3, own_steps: 20_500, machine_steps: 20_400 } }), { processes: 4, wallMs: 1, emulatedSeconds: 30 });
  assert.match(ht[1] as string, /^hang means here: a hung-task report, not a sleep for ever: the task that CPU 16's task woke ran during the drain \(its wake-up was late\); no IPI was lost/);
  // The waiter still waits at the end: a hang for ever, no such line.
  const forever = [{ ...stuck[0]!, cpu: 125, waiting_for: 0 }];
  assert.ok(!verdictLines(verdict({ verdict: 'hang', end_reason: 'hang', hang_wait, stuck: forever }), { processes: 32, wallMs: 1, emulatedSeconds: 40 }).some((x) => x.startsWith('hang means here')));
  // Not drained (an invalid run, or a record of an older version): nothing is claimed.
  assert.ok(!verdictLines(verdict({ verdict: 'hang', end_reason: 'hang', hang_wait, drained: false }), { processes: 32, wallMs: 1, emulatedSeconds: 40 }).some((x) => x.startsWith('hang means here')));
});

test('an ok with IPIs lost to the race and found later lists them and does not say nothing was lost', () => {
  const lost_found = [{ ipi_id: '86:10', sender_cpu: 86, target_cpu: 50, msg: 0, lost_tick: 19_652, found_tick: 20_387 }];
  const l = verdictLines(verdict({ lost_found }), { processes: 32, wallMs: 1, emulatedSeconds: 51.239 });
  assert.equal(
    l[1],
    'lost and found IPI 86:10: CALL_FUNCTION from CPU 86 to CPU 50, lost at 19.652 s (its doorbell taken as a guest wake-up, host_ipi == 0, with the message pending), found 0.735 s later by another host IPI',
  );
  assert.match(l[2] as string, /^ok means: no CPU hung in the 51\.2 emulated s that ran \(1753 IPIs\) and every IPI was handled in the end, but 1 of them only because a later host IPI found it \(above\): the race happened$/);
  assert.equal(l.length, 3);
});
