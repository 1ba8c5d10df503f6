/**
 * Goal: `run` takes sim's kernel selection (--patches, --revert): the spec every core builds from
 * carries the chosen patch set, the cores' kernels have exactly it, and the console and the record
 * name it as sim does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveScenario } from '../../../services/sim/index.js';
import { scenarioSpecOf, specLabel } from '../../../services/controller/run-scenario.js';
import { buildCore } from '../../../services/sim/replay.js';
import { resolveKernel } from '../../../services/kernel/index.js';

test('a version: its patches, named by the version', () => {
  const s = resolveScenario('offline-doorbell-2015');
  const spec = scenarioSpecOf(s, 'v4.0', 1);
  assert.deepEqual(spec.patches, resolveKernel({ kernel: 'v4.0' }).list());
  assert.equal(spec.label, undefined);
  assert.equal(specLabel(spec), 'v4.0');
});

test('--revert takes the commit out of what every core runs, and the name says so', () => {
  const s = resolveScenario('offline-doorbell-2015');
  const spec = scenarioSpecOf(s, 'v4.0', 1, { revert: ['755563bc79c7'] });
  assert.ok(!spec.patches.includes('755563bc79c7'));
  assert.equal(spec.patches.length, resolveKernel({ kernel: 'v4.0' }).list().length - 1);
  assert.equal(specLabel(spec), 'v4.0 -755563bc79c7');
  const k = buildCore(spec, 0, () => undefined, () => 0).kernel;
  assert.ok(k !== undefined && !k.has('755563bc79c7') && k.has('9fb1b36ca123'));
});

test('--patches: exactly that set; an unknown commit is refused before anything runs', () => {
  const s = resolveScenario('pingpong');
  const spec = scenarioSpecOf(s, undefined, 1, { patches: ['9fb1b36ca123'] });
  assert.deepEqual(spec.patches, ['9fb1b36ca123']);
  assert.equal(specLabel(spec), 'patches:9fb1b36ca123');
  assert.throws(() => scenarioSpecOf(s, undefined, 1, { patches: ['deadbeef'] }), /unknown patch "deadbeef"/);
  assert.throws(() => scenarioSpecOf(s, 'v3.5', 1, { revert: ['755563bc79c7'] }), /--revert 755563bc79c7: patch 755563bc79c7 is not in v3.5/);
});
