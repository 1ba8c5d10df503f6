/**
 * The swarm's seed lists and summary: what `sim --seeds` accepts, and the figures it reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSeedList, summarize, type SwarmSeedResult } from '../../../services/sim/swarm.js';

test('seed lists: ranges and single seeds in the order given; bad, reversed, repeated or too many are refused', () => {
  assert.deepEqual(parseSeedList('3'), [3]);
  assert.deepEqual(parseSeedList('1-4,10, 7-8'), [1, 2, 3, 4, 10, 7, 8]);
  assert.throws(() => parseSeedList('4-1'), /not a range/);
  assert.throws(() => parseSeedList('1,,2'), /"" is not a seed/);
  assert.throws(() => parseSeedList('-3'), /not a seed/);
  assert.throws(() => parseSeedList('1-3,2'), /seed 2 is listed twice/);
  assert.throws(() => parseSeedList('1-20', 10), /at most 10 seeds/);
});

test('summary: verdict counts, seeds per verdict, medians of emulated time and of the first ignored IPI', () => {
  const r = (seed: number, verdict: SwarmSeedResult['verdict'], secs: number, firstTick?: number): SwarmSeedResult => ({
    seed, verdict, kernel: 'v5.3', ipis_sent: seed * 10, ipis_handled: seed * 10, ticks: secs * 1000, emulated_seconds: secs, wall_ms: 5,
    ignored: firstTick === undefined ? 0 : 1, lockups: 0,
    ...(firstTick !== undefined ? { first_ignored: { ipi_id: `${seed}:1`, sender_cpu: 1, target_cpu: 2, msg: 0, ordered_tick: firstTick, name: 'CALL_FUNCTION' } } : {}),
  });
  const s = summarize('x', [r(1, 'hang', 30, 10_000), r(2, 'ok', 100), r(3, 'hang', 50, 30_000), r(4, 'hang', 40, 20_000)], 2, 60_000, 1000);
  assert.deepEqual(s.verdicts, { hang: 3, ok: 1 });
  assert.deepEqual(s.seeds_by_verdict, { hang: [1, 3, 4], ok: [2] });
  assert.deepEqual(s.emulated_seconds, { min: 30, median: 45, max: 100 });
  assert.deepEqual(s.first_ignored_seconds, { min: 10, median: 20, max: 30 });
  assert.equal(s.seeds_per_minute, 4);
});
