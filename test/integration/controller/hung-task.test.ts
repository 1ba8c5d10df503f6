/**
 * Goal: a distributed run watches what the kernel's hung-task detector watches, as `sim` does: a
 * task asleep until a task it woke has run (the 2012 wake_list hang leaves its waker so). Before,
 * a run judged only CPUs spinning in csd_lock_wait, and said `ok` of a machine whose wakers slept
 * for ever.
 *
 * Method: the wake-list-2012 machine (4 POWER8 core processes) with wake-ups only (no
 * cross-calls, so no csd_lock_wait) on v3.6, whose wake_list is ordered, and a hung-task timeout
 * of 0.2 emulated s, over a private nats-server of the test harness:
 * - RESCHEDULE IPIs from core 1 to core 0 held 1.5 s on the bus: a waker sleeps past the timeout
 *   on every core's clock (one of core 1, or one that waits on a CPU held up by them), the run ends
 *   as a hang (said when seen), and the drain delivers the held IPIs: the woken tasks run, nobody
 *   sleeps for ever, nothing is ignored;
 * - the same IPIs dropped: the task never runs, so its waker sleeps for ever on the drained
 *   machine (`stuck[]` of kind `hung-task`), the dropped IPIs are ignored, and the verdict is hang;
 *   the record replays to the same verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveScenario } from '../../../services/sim/index.js';
import type { Scenario } from '../../../services/sim/index.js';
import { parseFaultPlanValue } from '../../../services/bus/fault-plan.js';
import { distTicksPerSecond, judgeIgnored, runScenarioDistributed, verdictOf } from '../../../services/controller/run-scenario.js';
import type { ScenarioSpec } from '../../../services/sim/replay.js';
import { replayRun } from '../../../services/core/index.js';
import { readRecordFile } from '../../../services/sim/record-stream.js';
import { startTestNats } from '../../harness/nats.js';
import { testTempDir } from '../../harness/temp.js';

function wakeOnly(): Scenario {
  // Unpaced (the scenario paces `run` at 1 ms per tick, which a loaded machine may not keep): the
  // timeout is then counted on 100,000 steps per emulated second.
  const { distributed: _paced, ...base } = resolveScenario('wake-list-2012');
  return {
    ...base,
    kernel: 'v3.6',
    detectors: { ...base.detectors, hungTaskTimeoutSecs: 0.2 },
    workload: { ...base.workload, hostMix: { ...base.workload.hostMix, crosscall: 0 } },
  };
}

test('a waker asleep past the hung-task timeout ends the run as a hang; its late wake-up comes in the drain: not for ever', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const scenario = wakeOnly();
  const logged: string[] = [];
  const r = await runScenarioDistributed({
    scenario, kernel: 'v3.6', servers: nats.servers, ipis: 100_000, durationMs: 30_000, log: (l) => logged.push(l),
    faultPlan: parseFaultPlanValue({ faults: [{ type: 'latency', src: 1, dst: 0, class: 'ipi', latency_ms: 1500 }] }),
  });
  const v = r.verdict;
  assert.ok(logged.some((l) => /^hang: a task of CPU \d+ has slept past the hung-task timeout until a task it woke runs on CPU \d+, [\d.]+ s into the machine; draining it before the verdict$/.test(l)), logged.join('\n'));
  assert.equal(v.end_reason, 'hang', `${v.invalid_reason ?? ''}\n${v.console}`);
  assert.equal(v.verdict, 'hang');
  assert.equal(v.drained, true);
  assert.equal(v.hang_wait?.kind, 'hung-task');
  const hung = 0.2 * distTicksPerSecond(scenario);
  assert.ok(v.hang_wait !== undefined && v.hang_wait.machine_steps > hung, JSON.stringify(v.hang_wait));
  // The sleeper's comm:pid is in the final state only if it still sleeps; here it woke in the drain.
  assert.match(v.console, new RegExp(`INFO: task of CPU#${v.hang_wait?.cpu ?? -1} blocked for more than 0\\.2 seconds\\.`));
  assert.match(v.console, /ran during the drain: a hung-task report \(its wake-up was late\), not a sleep forever/);
  assert.deepEqual(v.stuck, [], 'the held RESCHEDULE came in the drain: nobody sleeps for ever');
  assert.deepEqual(v.ignored, []);
  assert.ok((r.live.faults_injected.latency ?? 0) > 0, JSON.stringify(r.live.faults_injected));
});

test('a dropped RESCHEDULE: its waker sleeps for ever on the drained machine, the run says hang, and the record replays to it', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const dir = testTempDir('ipiscope-hung-');
  try {
    const scenario = wakeOnly();
    const rec = join(dir, 'hung.rec');
    const r = await runScenarioDistributed({
      scenario, kernel: 'v3.6', servers: nats.servers, ipis: 100_000, durationMs: 30_000, recordFile: rec,
      faultPlan: parseFaultPlanValue({ faults: [{ type: 'drop', src: 1, dst: 0, class: 'ipi', probability: 1 }] }),
    });
    const v = r.verdict;
    assert.equal(v.verdict, 'hang', `${v.invalid_reason ?? ''}\n${v.console}`);
    assert.equal(v.drained, true);
    const forever = v.stuck.filter((s) => s.kind === 'hung-task' && s.forever);
    assert.ok(forever.length > 0, JSON.stringify(v.stuck));
    for (const s of forever) {
      assert.ok(s.cpu >= 8 && s.cpu <= 15 && s.waiting_for >= 0 && s.waiting_for <= 7, JSON.stringify(s));
      assert.match(s.where, /^task \S+:\d+ asleep until the task it woke has run on CPU#[0-7]$/);
    }
    assert.match(v.console, /sleeps forever: the machine is drained and quiet, no interrupt is pending/);
    // What was lost: the dropped IPIs' messages were never consumed.
    assert.ok(v.ignored.length > 0 && v.ignored.every((i) => i.sender_cpu >= 8 && i.sender_cpu <= 15 && i.target_cpu <= 7 && i.msg === 1), JSON.stringify(v.ignored));
    assert.ok((r.live.faults_injected.drop ?? 0) > 0, JSON.stringify(r.live.faults_injected));
    // No stale wake_list read on v3.6: the hang is the drop's, and the console does not blame the race.
    assert.doesNotMatch(v.console, /read its CPU's wake_list empty/);

    const record = readRecordFile(rec);
    const p = replayRun(record);
    assert.deepEqual(p.mismatches, []);
    const rv = judgeIgnored(record, p.finals, verdictOf(record.spec as ScenarioSpec, p.finals, v.end_reason, v.invalid_reason, v.drained, v.hang_wait));
    assert.equal(rv.verdict, 'hang');
    assert.deepEqual(rv.stuck, v.stuck);
    assert.equal(rv.console, v.console);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
