/**
 * The conformance suite (test/litmus, a copy of the shared one) on the emulator, in both
 * placements: a Forbidden test must never hit; a test POWER hardware was seen to show must hit.
 * The full bar is 10,000 runs per test and placement (IPISCOPE_LITMUS_RUNS overrides it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseLitmus } from '../../../services/litmus/index.js';
import { runLitmus } from '../../../services/litmus/run.js';
import type { Placement } from '../../../services/litmus/run.js';

const dir = join(process.cwd(), 'test', 'litmus');
const runs = Number(process.env.IPISCOPE_LITMUS_RUNS ?? 10_000);
const verdicts = new Map<string, { verdict: string; hw: string }>();
for (const line of readFileSync(join(dir, 'verdicts.tsv'), 'utf8').trim().split('\n').slice(1)) {
  const [name, verdict, hw] = line.split('\t');
  verdicts.set(name as string, { verdict: verdict as string, hw: hw ?? '' });
}
const files = readdirSync(dir).filter((f) => f.endsWith('.litmus')).sort();

for (const placement of ['cores', 'smt'] as Placement[]) {
  test(`litmus suite, placement ${placement}: no Forbidden hit, every hardware-seen outcome hit (${runs} runs)`, () => {
    assert.ok(files.length >= 35);
    for (const f of files) {
      const t = parseLitmus(readFileSync(join(dir, f), 'utf8'), f);
      const v = verdicts.get(t.name);
      assert.ok(v !== undefined, `${t.name} has no verdict`);
      const r = runLitmus(t, { runs, seed: 20261125, placement });
      assert.equal(r.invalid, 0, `${t.name}: ${r.invalidReason}`);
      if (v.verdict === 'Forbidden') {
        assert.equal(r.hits, 0, `${t.name} (${placement}) is Forbidden but hit ${r.hits} times: ${JSON.stringify(r.outcomes)}`);
      }
      if (v.verdict === 'Allowed' && v.hw === 'seen') {
        assert.ok(r.hits > 0, `${t.name} (${placement}) was seen on hardware but never hit in ${runs} runs`);
      }
    }
  });
}

test('litmus suite on directory-tracked locations (first reads fetch, syncs reach sharers): no Forbidden hit', () => {
  for (const placement of ['cores', 'smt'] as Placement[]) {
    for (const f of files) {
      const t = parseLitmus(readFileSync(join(dir, f), 'utf8'), f);
      if (verdicts.get(t.name)?.verdict !== 'Forbidden') continue;
      const r = runLitmus(t, { runs: Math.min(runs, 3000), seed: 20261125, placement, locations: 'directory' });
      assert.equal(r.hits, 0, `${t.name} (${placement}, directory) hit ${r.hits} times`);
    }
  }
});
