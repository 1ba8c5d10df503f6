/**
 * Goal: a run is judged on the machine its cores ran, from one replay.
 *
 * Method: a paced 4-core record (test/fixtures/records/host-ipi-paced.57d650c.rec, made by
 * `run test/fixtures/scenarios/host-ipi-paced.yaml --duration 2s --seed 3 --record`). `replayAndJudge`
 * (one replay, feeding the checkers) must give what a plain replay and `judgeIgnored` (a second
 * replay) give. The live judgement (`judgeLiveRun`) of the record as it is must be that verdict; with
 * one core's final state changed (the cores' word against the replay's), or one message of its
 * inbox changed, the run must be declared invalid, naming the difference, never judged on the
 * replay alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeIgnored, judgeLiveRun, replayAndJudge, verdictOf } from '../../../services/controller/run-scenario.js';
import type { EndReason, HangWait, RunVerdict } from '../../../services/controller/index.js';
import { replayRun } from '../../../services/core/index.js';
import { loadInboxes, readRecordFile } from '../../../services/sim/record-stream.js';
import type { CoreFinal, RunRecord, ScenarioSpec } from '../../../services/sim/replay.js';

const FIXTURE = 'test/fixtures/records/host-ipi-paced.57d650c.rec';

function verdictFor(rec: RunRecord): (finals: CoreFinal[]) => RunVerdict {
  const v = rec.verdict as { end_reason: EndReason; invalid_reason?: string; drained?: boolean; hang_wait?: HangWait };
  return (finals) => verdictOf(rec.spec as ScenarioSpec, finals, v.end_reason, v.invalid_reason, v.drained === true, v.hang_wait);
}

test('one replay judges a record as a plain replay and judgeIgnored do', () => {
  const rec = readRecordFile(FIXTURE);
  const j = replayAndJudge(rec, verdictFor(rec));
  const p = replayRun(rec);
  assert.deepEqual(j.replayed.finals, p.finals);
  assert.deepEqual(j.replayed.divergences, []);
  assert.deepEqual(j.replayed.mismatches, []);
  const two = judgeIgnored(rec, p.finals, verdictFor(rec)(p.finals));
  assert.equal(JSON.stringify(j.verdict), JSON.stringify(two));
  assert.equal(j.verdict.verdict, 'ok');
  assert.equal(j.verdict.drained, true);
});

test('a live run is judged when its record replays to the cores\' own final states', () => {
  const rec = readRecordFile(FIXTURE);
  const v = judgeLiveRun(rec, rec.finals, verdictFor(rec)(rec.finals));
  assert.equal(v.verdict, 'ok');
  assert.equal(JSON.stringify(v), JSON.stringify(judgeIgnored(rec, rec.finals, verdictFor(rec)(rec.finals))));
});

test('a live run whose record does not replay to the cores\' final states is declared invalid', () => {
  const rec = readRecordFile(FIXTURE);
  const finals = structuredClone(rec.finals);
  const f = finals[2] as CoreFinal;
  // One home location's value, as a core that ran another machine would report it.
  assert.ok(f.homes.length >= 3);
  f.homes[2] = (f.homes[2] as number) + 1;
  const tampered: RunRecord = { ...rec, finals };
  const v = judgeLiveRun(tampered, finals, verdictFor(rec)(finals));
  assert.equal(v.verdict, 'invalid');
  assert.match(v.invalid_reason ?? '', /the run's record does not replay to the machine the cores ran \(1 difference; first: core 2: final state differs/);
});

test('a live run whose inbox record holds a message its sender never sent is declared invalid', () => {
  const rec = loadInboxes(readRecordFile(FIXTURE));
  const cores = structuredClone(rec.cores);
  // The first message core 1 took: its content changed, as a bus that corrupted it would.
  const inbox = (cores[1] as unknown as { inbox: Array<[number, number, number, Record<string, unknown>]> }).inbox;
  const first = inbox.findIndex((x) => typeof x[3].clock === 'number');
  assert.ok(first >= 0);
  const m = (inbox[first] as [number, number, number, Record<string, unknown>])[3];
  m.clock = (m.clock as number) + 1;
  const tampered: RunRecord = { ...rec, cores };
  const v = judgeLiveRun(tampered, rec.finals, verdictFor(rec)(rec.finals));
  assert.equal(v.verdict, 'invalid');
  assert.match(v.invalid_reason ?? '', /does not replay to the machine the cores ran \(\d+\+? differences?; first: link \d+->1 #\d+ .*content hash differs/);
});
