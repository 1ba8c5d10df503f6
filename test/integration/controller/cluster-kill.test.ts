/**
 * Goal: a NATS node dying mid-run never produces a wrong answer, for litmus runs (below) and for a
 * kernel scenario run with its drain, verdict and record (the last test). Core processes are spread over a
 * 3-node cluster (core i prefers node i mod 3); node 1 is killed while litmus runs go on. Every
 * run must either end with a correct final state (the Forbidden outcome never appears) or be
 * declared invalid with a reason; and runs must go on through the surviving nodes.
 *
 * Method: a pool of 4 core processes, runs of CoWW (final memory known: x = 2 always) and
 * MP+syncs back to back; node 1 is SIGKILLed while a machine runs (from the controller's
 * generation-started hook, after the first 40 runs). Bounded: 6 rounds of 2 x 8 runs, each run
 * at most 8 s, the whole test well under a minute.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseLitmus } from '../../../services/litmus/index.js';
import { Controller } from '../../../services/controller/controller.js';
import { runLitmusNats } from '../../../services/controller/litmus-nats.js';
import { startTestNatsCluster } from '../../harness/nats.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenarioDistributed } from '../../../services/controller/run-scenario.js';
import { resolveScenario } from '../../../services/sim/index.js';
import { readRecordFile } from '../../../services/sim/record-stream.js';
import { replayRun } from '../../../services/core/index.js';

const KILL_AT_GENERATION = 41;

test('a cluster node killed mid-run: runs go on through the other nodes or end invalid, never wrong', { timeout: 90_000 }, async () => {
  const t0 = Date.now();
  await using cluster = await startTestNatsCluster(3);
  let killing: Promise<void> | undefined;
  await using ctl = await new Controller({
    servers: cluster.urls(0),
    cores: 4,
    coreServers: (c) => cluster.urls(c % 3),
    onGenerationStarted: (gen) => {
      if (gen === KILL_AT_GENERATION) killing = cluster.kill(1);
    },
  }).start();
  const tests = ['test/litmus/CoWW.litmus', 'test/litmus/MP+syncs.litmus'].map((file) => {
    const text = readFileSync(file, 'utf8');
    return { file, text, test: parseLitmus(text, file) };
  });
  let valid = 0;
  let invalid = 0;
  const reasons: string[] = [];
  let validAfterKill = 0;
  for (let round = 0; round < 6; round++) {
    for (const t of tests) {
      const killed = killing !== undefined;
      const r = await runLitmusNats(t.test, t.text, { runs: 8, seed: round, placement: 'cores', session: ctl, runTimeoutMs: 8_000 });
      assert.equal(r.hits, 0, `${t.test.name} round ${round}: forbidden state reached after a node died: ${JSON.stringify(r.outcomes)}`);
      const ok = r.runs - r.invalid;
      valid += ok;
      if (killed) validAfterKill += ok;
      invalid += r.invalid;
      if (r.invalidReason !== undefined) reasons.push(r.invalidReason);
      if (t.test.name === 'CoWW') {
        for (const key of Object.keys(r.outcomes)) assert.match(key, /x=2;/, `CoWW ends with x = 2, got ${key}`);
      }
    }
  }
  process.stderr.write(`cluster kill: ${valid} valid runs (${validAfterKill} after the kill), ${invalid} invalid: ${[...new Set(reasons)].slice(0, 3).join(' | ')}\n`);
  assert.ok(killing !== undefined, 'node 1 was killed while a machine ran');
  await killing;
  assert.ok(valid > 0, 'runs completed');
  assert.ok(Date.now() - t0 < 60_000, `bounded: ${Date.now() - t0} ms`);
  assert.ok(validAfterKill > 0, 'runs went on through the surviving nodes after node 1 died');
});

test('a cluster node killed during a kernel scenario run: the verdict is right or the run is invalid; a valid record replays', { timeout: 120_000 }, async () => {
  await using cluster = await startTestNatsCluster(3);
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-cluster-run-'));
  let killing: Promise<void> | undefined;
  try {
    const file = join(dir, 'pp.json');
    // pingpong on v3.6: cross-calls over XICS with no known bug, so an `ok` with nothing ignored is
    // the right answer. Core c prefers node c % 3; node 1 (core 1's first choice) dies 1.5 s in.
    const r = await runScenarioDistributed({
      scenario: resolveScenario('pingpong'), servers: cluster.urls(0), coreServers: [cluster.urls(0), cluster.urls(1), cluster.urls(2)],
      ipis: 0, durationMs: 5_000, recordFile: file,
      onStarted: () => {
        setTimeout(() => {
          killing = cluster.kill(1);
        }, 1_500);
      },
    });
    await killing;
    assert.ok(killing !== undefined, 'node 1 was killed during the run');
    const v = r.verdict;
    process.stderr.write(`cluster kill (scenario): ${v.verdict}, ${v.ipis_handled} IPIs, reconnects ${r.live.bus.reconnects ?? 0}, repaired ${r.live.bus.repairedByRetransmit ?? 0}${v.invalid_reason !== undefined ? `, invalid: ${v.invalid_reason}` : ''}\n`);
    assert.ok(v.verdict === 'ok' || v.verdict === 'invalid', `never a wrong answer: ${v.verdict} ${JSON.stringify(v.ignored)}`);
    if (v.verdict === 'invalid') {
      assert.ok((v.invalid_reason ?? '') !== '', 'an invalid run says why');
      return;
    }
    assert.deepEqual(v.ignored, []);
    assert.deepEqual(v.stuck, []);
    assert.ok((r.live.bus.reconnects ?? 0) > 0, 'cores on the dead node reconnected to another one');
    const rec = readRecordFile(file);
    const p = replayRun(rec);
    assert.deepEqual(p.divergences, []);
    assert.deepEqual(p.mismatches, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
