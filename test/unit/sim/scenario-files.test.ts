// Goal: scenario files load from YAML; a bad file is an error naming the file, line and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadScenarioFile, runSim } from '../../../services/sim/index.js';

const dir = 'test/fixtures/scenarios';

test('a YAML scenario loads and runs', () => {
  const s = loadScenarioFile(`${dir}/pingpong-small.yaml`);
  assert.equal(s.name, 'pingpong-small');
  assert.equal(s.memory.storeDelayProb, 0.2);
  const r = runSim(s, { seed: 1 });
  assert.equal(r.verdict, 'ok', r.explanation);
  assert.ok(r.ipis_handled >= 200);
});

test('an out-of-range field names the file, line and field', () => {
  assert.throws(() => loadScenarioFile(`${dir}/bad-probability.yaml`), /bad-probability\.yaml:4: .*field memory\.storeDelayProb/);
});

test('an unknown field names the file and the enclosing field', () => {
  assert.throws(() => loadScenarioFile(`${dir}/unknown-field.yaml`), /unknown-field\.yaml:\d+: .*field workload: Unrecognized key.*crossCalls/);
});

test('a missing file is an error naming the file', () => {
  assert.throws(() => loadScenarioFile(`${dir}/no-such.yaml`), /no-such\.yaml.*cannot read scenario file/);
});
