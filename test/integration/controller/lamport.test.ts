/**
 * Goal: the controller judges a distributed run from its record replayed in one process, merging
 * the events of all cores in Lamport order; that order must respect causality. Every write's
 * `store` (on the writing core) sorts before its `version` (at the home), and every IPI sent to
 * another core sorts before it is raised there.
 *
 * Regression: a core's clock used to advance for an event only when an observer took it. Live,
 * untraced cores have no observer, so the clocks in the recorded messages were smaller than the
 * clocks the replayed cores gave their own events: 210 of 4,226 versions of a 10 s v5.4 run sorted
 * before their own store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayRun } from '../../../services/core/index.js';
import type { MachineEvent } from '../../../services/machine/index.js';
import { runScenarioDistributed } from '../../../services/controller/run-scenario.js';
import { readRecordFile } from '../../../services/sim/record-stream.js';
import { resolveScenario } from '../../../services/sim/index.js';
import { startTestNats } from '../../harness/nats.js';

test('a replayed run merges the events of its cores in an order that respects causality', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-lamport-'));
  try {
    const file = join(dir, 'pp.json');
    const r = await runScenarioDistributed({ scenario: resolveScenario('pingpong'), servers: nats.servers, ipis: 300, durationMs: 60_000, recordFile: file });
    assert.equal(r.verdict.verdict, 'ok', r.verdict.invalid_reason);
    const rec = readRecordFile(file);
    assert.equal(rec.lamport, 1);
    const events: MachineEvent[] = [];
    replayRun(rec, { ignores: ['visible', 'load'], event: (e) => events.push(e) });
    const stores = new Set(events.flatMap((e) => (e.e === 'store' ? [e.wid] : [])));
    events.sort((a, b) => a.clock - b.clock || a.core - b.core);
    const stored = new Set<number>();
    const sent = new Set<string>();
    let versions = 0;
    let raised = 0;
    for (const e of events) {
      if (e.e === 'store') stored.add(e.wid);
      else if (e.e === 'version' && stores.has(e.wid)) {
        versions++;
        assert.ok(stored.has(e.wid), `version ${e.version} of write ${e.wid} (core ${e.core}, clock ${e.clock}) sorts before its store`);
      } else if (e.e === 'ipi_send') sent.add(`${e.target}:${e.id}`);
      else if (e.e === 'irq_raise' && e.source === 'external' && e.id > 0) {
        raised++;
        assert.ok(sent.has(`${e.cpu}:${e.id}`), `IPI ${e.id} raised at CPU ${e.cpu} (clock ${e.clock}) sorts before it was sent`);
      }
    }
    assert.ok(versions > 1000 && raised > 100, `enough causal pairs checked (${versions} writes, ${raised} IPIs)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
