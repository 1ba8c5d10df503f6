/**
 * Goal: a paced distributed run (scenario `distributed.tickUs`) keeps the proportions of `sim`:
 * every core follows one wall clock, a bus hop between processes costs a few ticks instead of
 * hundreds of free-running steps, and the detectors count the scenario's own ticks per emulated
 * second; the run says how well the cores kept to the clock, replays bit for bit, and a core that
 * falls behind the clock for long breaks the time scale, which makes the run invalid.
 *
 * Method: `test/fixtures/scenarios/host-ipi-paced.yaml` (the 2019 workload on 4 POWER9 cores, v5.4,
 * 500 us per tick) on 4 core processes over a private nats-server of the test harness:
 * - 6 s of wall time: ok, drained, nothing ignored; the verdict's time scale is the scenario's
 *   (500 us, 1000 ticks per emulated s); no core ran past the clock and none fell far behind it
 *   (at least 8,000 of the ~12,000 ticks); bus hops measured from the replay cost a few ticks
 *   (median at most 40, against hundreds of steps unpaced); the record replays to the same final
 *   state and the same verdict bytes. The drain runs a clock of its own, PACED_DRAIN_SPEEDUP times
 *   as fast (more ticks than its wall time has at the run's pace), and its hops are not counted.
 * - core 2 stopped (SIGSTOP) for 3 s from 1.5 s on: when it runs again it is 3,000 ticks behind,
 *   longer than `behindMsMax` (2 s): invalid, naming the core and the broken time scale.
 * - a warm-up of 3 s (seed 8) before a 3 s run of seed 7 on the same processes: reported (its seed,
 *   its wall time, its IPIs), before the run's tick 0, and thrown away: the run keeps seed 7 and its
 *   record replays to the same state and verdict.
 * - a swarm of seeds 7 and 4 (3 s each) after a warm-up of 2 s: the processes start once (one
 *   run id, one set of pids), the warm-up runs seed 8 (after the list's largest, so no seed of it
 *   runs twice), each seed is judged and recorded on its own, in the order given, and each record
 *   replays to its state and verdict.
 * - a core process killed (from outside) during the first seed of three: that seed is invalid,
 *   naming the core, and the swarm stops there: the other two are listed as not run, never run
 *   on a broken set of processes (each would wait for the dead core and be invalid).
 * Each run takes well under 30 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenarioFile } from '../../../services/sim/scenario.js';
import { parseFaultPlanValue } from '../../../services/bus/fault-plan.js';
import { PACED_DRAIN_SPEEDUP, runScenarioDistributed, runSeedsDistributed, judgeIgnored, seedRecordFile, verdictOf } from '../../../services/controller/run-scenario.js';
import type { RunRecord, ScenarioSpec } from '../../../services/sim/replay.js';
import type { RunVerdict } from '../../../services/controller/run-scenario.js';
import { replayRun, type RunCoreRecord } from '../../../services/core/index.js';
import { readRecordFile } from '../../../services/sim/record-stream.js';
import { startTestNats } from '../../harness/nats.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The fixture, from the sources (the tests run from dist/). */
function fixture(): string {
  for (const up of ['../../..', '../../../..']) {
    const p = resolve(here, up, 'test', 'fixtures', 'scenarios', 'host-ipi-paced.yaml');
    try {
      readFileSync(p);
      return p;
    } catch {
      // not there; try the next
    }
  }
  throw new Error('test/fixtures/scenarios/host-ipi-paced.yaml not found');
}

/** The record in `file` replays to the same final state and the same verdict bytes as the run's `v`. */
function assertReplays(file: string, v: RunVerdict): RunRecord {
  const rec = readRecordFile(file);
  const p = replayRun(rec);
  assert.deepEqual(p.divergences, []);
  assert.deepEqual(p.mismatches, []);
  const rv = judgeIgnored(rec, p.finals, verdictOf(rec.spec as ScenarioSpec, p.finals, v.end_reason, v.invalid_reason, v.drained, v.hang_wait, v.time_scale?.lag));
  assert.equal(JSON.stringify(rv), JSON.stringify(rec.verdict));
  return rec;
}

test('a paced run keeps the scenario time scale: hops of a few ticks, no core off the clock, replayed bit for bit', { timeout: 60_000 }, async () => {
  await using nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-paced-'));
  try {
    const file = join(dir, 'paced.json');
    const r = await runScenarioDistributed({ scenario: loadScenarioFile(fixture()), servers: nats.servers, durationMs: 6000, recordFile: file });
    const v = r.verdict;
    assert.equal(v.verdict, 'ok', `${v.invalid_reason ?? ''}\n${v.console}`);
    assert.equal(v.end_reason, 'duration');
    assert.equal(v.drained, true);
    assert.deepEqual(v.ignored, []);
    const ts = v.time_scale;
    assert.ok(ts !== undefined, 'a paced run reports its time scale');
    assert.equal(ts.tick_us, 500);
    assert.equal(ts.ticks_per_second, 1000, 'the scenario\'s own emulated second, as in sim');
    assert.match(v.console, /every core paced to one clock at 500 us per tick: 1 emulated s = 1000 ticks = 0\.5 s of wall time/);
    // Never past the clock (the drain's own clock runs PACED_DRAIN_SPEEDUP times as fast); never far
    // behind it (the run would be invalid).
    const drainMs = r.live.drain?.wallMs ?? 0;
    const clockTicks = ((r.live.generation_ms - drainMs + PACED_DRAIN_SPEEDUP * drainMs) * 1000) / ts.tick_us;
    assert.ok(v.steps_max <= clockTicks, `steps ${v.steps_max} within ${r.live.generation_ms} ms of wall time (${drainMs} of it the drain's)`);
    assert.ok(v.steps_max >= 8000, `steps ${v.steps_max}: the cores kept to the clock for 6 s`);
    assert.ok(ts.lag.catch_up_ms_max >= 0 && ts.lag.lag_ticks_limit === 100, JSON.stringify(ts.lag));
    assert.ok(ts.hop_ticks !== undefined && ts.hop_ticks.messages > 100, JSON.stringify(ts.hop_ticks));
    assert.ok(ts.hop_ticks.p50 <= 40, `median bus hop ${ts.hop_ticks.p50} ticks (sim's bus: ${JSON.stringify(ts.sim_hop_ticks_mean)})`);
    assert.deepEqual(ts.sim_hop_ticks_mean, [3.5, 5.5]);
    // Replay: same final state, same verdict bytes (the cores' lag is taken from the record).
    const rec = assertReplays(file, v);
    // The drain ran its own, faster clock: more ticks than the run's clock has in the drain's wall
    // time; the hops are the run's, up to the drain (fewer than the inputs taken in all).
    const drainTicks = Math.max(...(rec.cores as RunCoreRecord[]).map((c) => c.endStep - (c.drainStep ?? c.endStep)));
    assert.ok(drainTicks > (1.5 * drainMs * 1000) / ts.tick_us, `${drainTicks} ticks in the drain's ${drainMs} ms`);
    const taken = rec.cores.reduce((a, c) => a + (c.inputs ?? 0), 0);
    assert.ok(ts.hop_ticks.messages < taken, `${ts.hop_ticks.messages} hops counted of ${taken} inputs: those of the drain are not`);
    assert.equal((rec.spec as ScenarioSpec).scenario.distributed?.tickUs, 500, 'the record knows its time scale');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a core stopped for longer than behindMsMax breaks the time scale: the run is invalid', { timeout: 60_000 }, async () => {
  await using nats = await startTestNats();
  const r = await runScenarioDistributed({
    scenario: loadScenarioFile(fixture()), servers: nats.servers, durationMs: 15_000,
    faultPlan: parseFaultPlanValue({ faults: [{ type: 'pause', core: 2, at_ms: 1500, duration_ms: 3000 }] }),
  });
  const v = r.verdict;
  assert.equal(v.verdict, 'invalid', v.console);
  assert.match(v.invalid_reason ?? '', /core 2 fell behind the run's pace \(500 µs\/tick\) by more than 100 ticks for \d+ ms/);
  assert.match(v.invalid_reason ?? '', /time scale broke/);
  assert.equal(r.live.faults_injected.pause, 1);
  assert.ok(r.live.generation_ms < 12_000, `ended when the core came back, not at the duration (${r.live.generation_ms} ms)`);
});

test('a warm-up runs the scenario on the next seed first, on the same processes, and is thrown away: the run and its record are its own', { timeout: 60_000 }, async () => {
  await using nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-warm-'));
  try {
    const file = join(dir, 'warm.json');
    const logged: string[] = [];
    const r = await runScenarioDistributed({
      scenario: loadScenarioFile(fixture()), servers: nats.servers, seed: 7, durationMs: 3000, warmUpMs: 3000, recordFile: file, log: (l) => logged.push(l),
    });
    const v = r.verdict;
    assert.equal(v.verdict, 'ok', `${v.invalid_reason ?? ''}\n${v.console}`);
    assert.equal(v.seed, 7, 'the run keeps its own seed');
    const w = r.live.warm_up;
    assert.ok(w !== undefined, 'the warm-up is reported');
    assert.equal(w.seed, 8, 'the warm-up runs the next seed');
    assert.equal(w.end_reason, 'duration');
    assert.ok(w.ms >= 2900, `the warm-up ran its ${w.ms} ms`);
    assert.ok(w.ipis_handled > 0, `the warm-up handled ${w.ipis_handled} IPIs`);
    assert.ok(r.live.start_ms >= w.ms, `the run's tick 0 (${r.live.start_ms} ms) comes after the warm-up`);
    assert.ok(v.ipis_handled > 0);
    assert.ok(logged.some((l) => /^warm-up: seed 8 for \d+ ms \(\d+ IPIs, ended by duration\), thrown away; the run starts \d+ ms after the command$/.test(l)), logged.join('\n'));
    // The record is the run's alone: its spec and seed, and it replays to the same state and verdict.
    const rec = assertReplays(file, v);
    assert.equal((rec.spec as ScenarioSpec).seed, 7);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a swarm runs its seeds one after the other on the same processes after one warm-up; each seed judged, recorded and replayed on its own', { timeout: 90_000 }, async () => {
  await using nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-swarm-'));
  try {
    const file = join(dir, 'swarm.json');
    const started: number[][] = [];
    const seen: number[] = [];
    const s = await runSeedsDistributed({
      scenario: loadScenarioFile(fixture()), servers: nats.servers, seeds: [7, 4], durationMs: 3000, warmUpMs: 2000, recordFile: file,
      onStarted: (pids) => started.push(pids), onSeed: (r) => seen.push(r.verdict.seed),
    });
    assert.equal(started.length, 1, 'the processes start once');
    assert.equal(started[0]?.length, 4);
    assert.deepEqual(seen, [7, 4], 'each seed is reported as it ends, in the order given');
    assert.equal(s.warm_up?.seed, 8, 'the warm-up runs the seed after the largest of the list');
    assert.ok(s.setup_ms >= (s.warm_up?.ms ?? 0), `the first seed starts after the warm-up (${s.setup_ms} ms)`);
    assert.deepEqual(s.results.map((r) => r.verdict.seed), [7, 4]);
    for (const r of s.results) {
      const v = r.verdict;
      assert.equal(v.verdict, 'ok', `${v.invalid_reason ?? ''}\n${v.console}`);
      assert.equal(v.end_reason, 'duration');
      assert.ok(v.ipis_handled > 0);
      assert.equal(r.live.warm_up, undefined, 'the warm-up belongs to the swarm, not to a seed');
      const rec = assertReplays(seedRecordFile(file, v.seed), v);
      assert.equal((rec.spec as ScenarioSpec).seed, v.seed);
      assert.equal(rec.runId, s.runId, 'the same processes (run id) ran every seed');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a swarm whose core process died stops after that seed: the later seeds are not run, and say why', { timeout: 90_000 }, async () => {
  await using nats = await startTestNats();
  const s = await runSeedsDistributed({
    scenario: loadScenarioFile(fixture()), servers: nats.servers, seeds: [1, 2, 3], durationMs: 4000,
    onStarted: (pids) => {
      setTimeout(() => process.kill(pids[2] as number, 'SIGKILL'), 1500);
    },
  });
  assert.equal(s.results.length, 1, 'only the seed the death broke was run');
  const v = s.results[0]?.verdict;
  assert.equal(v?.verdict, 'invalid');
  assert.match(v?.invalid_reason ?? '', /core 2 \(pid \d+\) exited \(code null, signal SIGKILL\)/);
  assert.deepEqual(s.not_run?.seeds, [2, 3]);
  assert.match(s.not_run?.reason ?? '', /core 2 \(pid \d+\) exited/);
});
