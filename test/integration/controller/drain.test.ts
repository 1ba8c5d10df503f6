/**
 * Goal: a distributed scenario run is judged only after a drain, so an IPI still in flight when
 * the run ends is handled, never reported ignored; a hang suspected while messages are held on
 * the bus is not a wait forever; a drain that cannot settle within its bound makes the run
 * invalid, never judged; and the drained record replays to the same verdict in one process.
 *
 * Method: pingpong (2 CPUs cross-calling each other with wait, on 4 core processes) over a
 * private nats-server of the test harness, through `runScenarioDistributed`:
 * - IPI messages held 150 ms on the bus, so that when the IPI goal is reached the next IPIs are
 *   in flight: they are handled during the drain (more IPIs handled at the end than when the
 *   workload stopped) and none is ignored; the record replays to the same final state and verdict.
 * - IPIs from core 1 to core 0 held 1.5 s on the bus (a latency, so the window does not depend on
 *   when the processes boot) with a watchdog of 0.05 emulated s: CPU 8 spins past the threshold
 *   on every core's clock, the run ends as a hang (a soft lockup), and the drain delivers the held
 *   IPI: no CPU waits forever, nothing is ignored.
 * - a drain bound of 1 ms: invalid, with the reason.
 * Each run takes a few seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveScenario } from '../../../services/sim/index.js';
import { parseFaultPlanValue } from '../../../services/bus/fault-plan.js';
import { distTicksPerSecond, runScenarioDistributed, judgeIgnored, verdictOf } from '../../../services/controller/run-scenario.js';
import { softLockupSecs } from '../../../services/kernel/index.js';
import type { RunVerdict } from '../../../services/controller/run-scenario.js';
import type { ScenarioSpec } from '../../../services/sim/replay.js';
import { replayRun } from '../../../services/core/index.js';
import { readRecordFile } from '../../../services/sim/record-stream.js';
import { startTestNats } from '../../harness/nats.js';
import { connect } from '@nats-io/transport-node';
import { encodeControlMsg } from '../../../services/bus/codec.js';
import { faultsSubject } from '../../../services/bus/nats-transport.js';
import { natsConnectTarget } from '../../../services/bus/nats-url.js';

test('IPIs in flight when the run ends are drained and handled, never ignored; the record replays', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-drain-'));
  try {
    const file = join(dir, 'pp.json');
    // CPU 8's IPIs to CPU 0 take 400 ms, CPU 0's to CPU 8 none: the run reaches its 12 IPIs on
    // CPU 0's calls while CPU 8's first one is still on the bus. (With 150 ms both ways the two
    // calls fell into step, and a stop right after a pair of handlers could find none in flight:
    // one full test run of three did, 13 handled at the stop and 13 at the end.)
    // A live plan sent once the workload has stopped (the drain holds for the latency) does
    // nothing to the run, and its answer says so instead of "taken".
    const nc = await connect(natsConnectTarget(nats.servers));
    let lateAnswer: Promise<Record<string, unknown>> | null = null;
    const r = await runScenarioDistributed({
      scenario: resolveScenario('pingpong'), servers: nats.servers, ipis: 12, durationMs: 60_000, recordFile: file,
      faultPlan: parseFaultPlanValue({ faults: [{ type: 'latency', src: 1, dst: 0, class: 'ipi', latency_ms: 400 }] }),
      onEnding: (runId) => {
        const plan = { faults: [{ type: 'pause', core: 1, at_ms: 0, duration_ms: 100 }] };
        const msg = encodeControlMsg({ kind: 'faultPlanUpdate', fields: { runId, planVersion: Date.now(), faultPlanJson: JSON.stringify(plan) } });
        lateAnswer = nc.request(faultsSubject(runId), msg, { timeout: 5000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
      },
    });
    assert.ok(lateAnswer !== null, 'the run said when its workload stopped');
    const late = await (lateAnswer as Promise<Record<string, unknown>>);
    await nc.close();
    assert.equal(late.ok, true);
    assert.equal(late.late, true, JSON.stringify(late));
    assert.equal(late.generation, 1);
    assert.equal(late.process_faults_scheduled, 0);
    assert.equal(late.process_faults_late, 1);
    assert.match(String(late.error), /generation 1 was ending/);
    assert.equal(r.live.faults_injected.pause ?? 0, 0, 'nothing paused');
    const v = r.verdict;
    assert.equal(v.verdict, 'ok', `${v.invalid_reason ?? ''}\n${v.console}`);
    assert.equal(v.end_reason, 'ipis');
    assert.equal(v.drained, true);
    const drain = r.live.drain;
    assert.ok(drain?.settled === true, JSON.stringify(drain));
    assert.ok(v.ipis_handled > drain.ipisHandledAtStop, `IPIs were in flight at the stop and handled in the drain (${drain.ipisHandledAtStop} -> ${v.ipis_handled})`);
    assert.equal(v.ipis_handled, v.ipis_sent, 'every IPI sent was handled');
    assert.deepEqual(v.ignored, []);
    assert.deepEqual(v.stuck, []);
    // Replay in one process: same final state, no divergence, same verdict bytes.
    const rec = readRecordFile(file);
    assert.ok(rec.cores.every((c) => typeof (c as { drainStep?: number }).drainStep === 'number'), 'every core recorded its drain step');
    const p = replayRun(rec);
    assert.deepEqual(p.divergences, []);
    assert.deepEqual(p.mismatches, []);
    const rv = judgeIgnored(rec, p.finals, verdictOf(rec.spec as ScenarioSpec, p.finals, v.end_reason, v.invalid_reason, v.drained, v.hang_wait));
    assert.equal(JSON.stringify(rv), JSON.stringify(rec.verdict));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hang suspected while IPIs are held on the bus is a soft lockup, not a wait forever', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const base = resolveScenario('pingpong');
  const scenario = { ...base, detectors: { ...base.detectors, watchdogThreshSecs: 0.05 } };
  const logged: string[] = [];
  const r = await runScenarioDistributed({
    scenario, servers: nats.servers, ipis: 100_000, durationMs: 30_000, log: (l) => logged.push(l),
    faultPlan: parseFaultPlanValue({ faults: [{ type: 'latency', src: 1, dst: 0, class: 'ipi', latency_ms: 1500 }] }),
  });
  const v: RunVerdict = r.verdict;
  // Said when it is seen, before the drain that judges it.
  assert.ok(logged.some((l) => /^hang: CPU \d+ has spun in csd_lock_wait for CPU \d+ past the soft-lockup threshold, [\d.]+ s into the machine; draining it before the verdict$/.test(l)), logged.join('\n'));
  assert.equal(v.end_reason, 'hang', `${v.invalid_reason ?? ''}\n${v.console}`);
  assert.equal(v.verdict, 'hang');
  assert.equal(v.drained, true);
  // Ended at the kernel's soft-lockup threshold (2 x watchdog_thresh), as sim's detectors, and said so.
  const soft = softLockupSecs(scenario.detectors) * distTicksPerSecond(scenario);
  assert.equal(soft, 10_000);
  assert.ok(v.hang_wait !== undefined && v.hang_wait.machine_steps > soft, JSON.stringify(v.hang_wait));
  assert.deepEqual(v.stuck, [], 'the held IPIs were delivered in the drain: nobody waits forever');
  assert.deepEqual(v.ignored, []);
  assert.equal(v.ipis_handled, v.ipis_sent);
  assert.match(v.console, /soft lockup - CPU#\d+ stuck for \d+s!/);
  assert.match(v.console, /got its answer during the drain/);
  assert.ok((r.live.faults_injected.latency ?? 0) > 0, JSON.stringify(r.live.faults_injected));
});

test('a drain that does not settle within its bound makes the run invalid, with the reason', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const r = await runScenarioDistributed({ scenario: resolveScenario('pingpong'), servers: nats.servers, ipis: 10, durationMs: 30_000, drainTimeoutMs: 1 });
  assert.equal(r.verdict.verdict, 'invalid');
  assert.equal(r.verdict.drained, false);
  assert.match(r.verdict.invalid_reason ?? '', /the run ended \(ipis\) but could not be judged: the machine did not drain within 1 ms/);
  assert.deepEqual(r.verdict.ignored, [], 'an invalid run names no ignored IPI');
});
