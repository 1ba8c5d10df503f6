// Goal: scenario files load from YAML; a bad file is an error naming the file, line and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadScenarioFile, parseCpuList, parseScenarioText, runSim } from '../../../services/sim/index.js';

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

test('a cpulist is bounded: a range beyond 65536 CPUs is refused with the field, not expanded', () => {
  const text = 'name: huge\nmachine: power9\nworkload:\n  hostCpus: "0-999999999"\n';
  assert.throws(() => parseScenarioText(text, 'huge.yaml'), {
    name: 'InputError',
    message: /^huge\.yaml:4: .*field workload\.hostCpus: .*999999999.*65536/,
  });
  assert.throws(() => parseScenarioText('name: a\nmachine: power9\nworkload:\n  wakePool: [0, 70000]\n', 'a.yaml'), { message: /^a\.yaml:4: .*field workload\.wakePool: .*70000/ });
  assert.throws(() => parseCpuList('0-999999999', 'workload.hostCpus'), { name: 'UsageError', message: /^workload\.hostCpus: .*65536/ });
  assert.deepEqual(parseCpuList('0-3, 8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
});

test('a YAML syntax error names its line', () => {
  const text = 'name: x\nmachine: power9\ndescription: "oops\nworkload:\n  hostCpus: "0-3"\n';
  assert.throws(() => parseScenarioText(text, 's.yaml'), { name: 'InputError', message: /^s\.yaml:\d+: not valid YAML: .*quote/ });
  assert.throws(() => parseScenarioText('name: x\nmachine: power9\nname: y\n', 's.yaml'), { message: /^s\.yaml:3: not valid YAML: .*unique/ });
});

test('a .json scenario is JSON: a trailing comma is refused with its line, errors name JSON', () => {
  const text = '{\n  "name": "x",\n  "machine": "power9",\n  "workload": { "hostCpus": "0-3", }\n}\n';
  assert.throws(() => parseScenarioText(text, 's.json'), { name: 'InputError', message: /^s\.json:4: not valid JSON: / });
  // The same text is a valid YAML flow mapping.
  assert.equal(parseScenarioText(text, 's.yaml').name, 'x');
  const bad = '{\n  "name": "x",\n  "machine": "power9",\n  "workload": {\n    "crossCallPeers": -1\n  }\n}\n';
  assert.throws(() => parseScenarioText(bad, 's.json'), { message: /^s\.json:5: field workload\.crossCallPeers: / });
});

test('an unknown key is reported at its own line, once', () => {
  assert.throws(() => loadScenarioFile(`${dir}/unknown-field.yaml`), {
    message: `${dir}/unknown-field.yaml:5: field workload: Unrecognized key(s) in object: 'crossCalls'`,
  });
  assert.throws(() => parseScenarioText('name: x\nmachine: power9\nworklaod: {}\n', 's.yaml'), {
    message: "s.yaml:3: field (top level): Unrecognized key(s) in object: 'worklaod'",
  });
  // Several problems: the first (by line) is the error, the others follow on their own lines.
  assert.throws(() => parseScenarioText('name: x\nmachine: power9\nmemory:\n  stallProb: 2\nworkload:\n  crossCallPeers: 0\n', 's.yaml'), {
    message: /^s\.yaml:4: field memory\.stallProb: [^\n]*\ns\.yaml:6: field workload\.crossCallPeers: [^\n]*$/,
  });
});

test('a JSON syntax error without a position from V8 (an unexpected token) still gets its line', () => {
  const text = '{\n  "name": "x",\n  "machine": "power9",\n  "kvm": tru,\n  "seed": 3\n}\n';
  assert.throws(() => parseScenarioText(text, 's.json'), { message: /^s\.json:4: not valid JSON: [^\n]*$/ });
  assert.throws(() => parseScenarioText('{\n  "name": "x",\n  "seed": \n}\n', 's.json'), { message: /^s\.json:4: not valid JSON: / });
});
