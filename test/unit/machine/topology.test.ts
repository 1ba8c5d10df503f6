/**
 * Goal: the machine shape is right before anything runs on it. Method: check preset sizes
 * against the machines they name, round-trip every CPU of every preset through PIR and
 * (core, tir), check doorbell reach against the POWER8/POWER9 rules in reference/kernel-ipi.md,
 * and load valid and invalid machine files from test/fixtures/machines, asserting the exact
 * error text (file, line, field, what is wrong).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  coreCount,
  coreOfCpu,
  cpuCount,
  cpuOf,
  cpuOfPir,
  describeTopology,
  doorbellReach,
  getPreset,
  loadMachineFile,
  parseMachineText,
  pirOfCpu,
  presetNames,
  resolveMachine,
  siblings,
  socketOfCore,
  threadInCore,
} from '../../../services/machine/topology.js';
import type { Topology } from '../../../services/machine/topology-types.js';
import { AssertionError, InputError, UsageError } from '../../../services/stdx/index.js';

// Compiled to dist/test/unit/machine/; the fixtures stay in the source tree.
const fixtureDir = relative(
  process.cwd(),
  fileURLToPath(new URL('../../../../test/fixtures/machines', import.meta.url)),
);
const fixture = (name: string): string => `${fixtureDir}/${name}`;

test('presets have the documented sizes', () => {
  assert.deepEqual(presetNames(), ['power8', 'power9', 'seed-2019']);
  const sizes = presetNames().map((n) => {
    const t = getPreset(n);
    return [n, t.cpuModel, t.sockets, coreCount(t), t.threadsPerCore, cpuCount(t)];
  });
  assert.deepEqual(sizes, [
    ['power8', 'power8', 1, 4, 8, 32],
    ['power9', 'power9', 1, 4, 4, 16],
    ['seed-2019', 'power9', 2, 32, 4, 128],
  ]);
  assert.equal(
    describeTopology(getPreset('seed-2019')),
    'seed-2019: power9, 2 sockets x 16 cores x SMT4 = 128 threads',
  );
  assert.equal(
    describeTopology(getPreset('power8')),
    'power8: power8, 1 socket x 4 cores x SMT8 = 32 threads',
  );
});

test('getPreset returns a copy and rejects unknown names with the valid list', () => {
  const a = getPreset('power9');
  a.sockets = 7;
  assert.equal(getPreset('power9').sockets, 1);
  assert.throws(() => getPreset('powr9'), {
    name: 'UsageError',
    message:
      'unknown machine preset "powr9" (did you mean power9?); ' +
      'valid presets are power8, power9, seed-2019',
  });
  assert.throws(() => getPreset('toString'), UsageError);
});

test('every cpu of every preset round-trips through pir and (core, tir)', () => {
  for (const name of presetNames()) {
    const t = getPreset(name);
    const pirs = new Set<number>();
    for (let cpu = 0; cpu < cpuCount(t); cpu++) {
      const core = coreOfCpu(t, cpu);
      const tir = threadInCore(t, cpu);
      assert.ok(tir < t.threadsPerCore && tir < 128);
      assert.equal(cpuOf(t, core, tir), cpu);
      const pir = pirOfCpu(t, cpu);
      assert.equal(cpuOfPir(t, pir), cpu, `${name} cpu ${cpu} pir ${pir}`);
      assert.ok(!pirs.has(pir), `${name}: pir ${pir} used twice`);
      pirs.add(pir);
    }
    assert.equal(pirs.size, cpuCount(t));
  }
});

test('pir encoding: socket << 8 | coreInSocket << 2 (power9) or << 3 (power8) | tir', () => {
  const p9 = getPreset('seed-2019');
  // cpu 77 = core 19 = socket 1, core 3 in socket, thread 1.
  assert.equal(socketOfCore(p9, coreOfCpu(p9, 77)), 1);
  assert.equal(pirOfCpu(p9, 77), (1 << 8) | (3 << 2) | 1);
  const p8 = getPreset('power8');
  assert.equal(pirOfCpu(p8, 30), (3 << 3) | 6);
  // An SMT2 POWER9 keeps the SMT4 slot per core: PIRs are sparse, not dense.
  const smt2: Topology = {
    name: 'smt2',
    cpuModel: 'power9',
    sockets: 1,
    coresPerSocket: 2,
    threadsPerCore: 2,
  };
  assert.deepEqual([0, 1, 2, 3].map((c) => pirOfCpu(smt2, c)), [0, 1, 4, 5]);
  assert.throws(() => cpuOfPir(smt2, 2), AssertionError);
  assert.throws(() => cpuOfPir(p9, 2 << 8), AssertionError);
});

test('cpu numbers out of range are assertions', () => {
  const t = getPreset('power9');
  assert.throws(() => coreOfCpu(t, 16), AssertionError);
  assert.throws(() => coreOfCpu(t, -1), AssertionError);
  assert.throws(() => threadInCore(t, 1.5), AssertionError);
  assert.throws(() => cpuOf(t, 0, 4), AssertionError);
  assert.throws(() => socketOfCore(t, 4), AssertionError);
});

test('siblings are the threads of the same core, the cpu included', () => {
  const p9 = getPreset('seed-2019');
  assert.deepEqual(siblings(p9, 6), [4, 5, 6, 7]);
  assert.deepEqual(siblings(p9, 127), [124, 125, 126, 127]);
  const p8 = getPreset('power8');
  assert.deepEqual(siblings(p8, 9), [8, 9, 10, 11, 12, 13, 14, 15]);
});

test('doorbell reach: POWER8 core only; POWER9 HV msgsnd global, msgsndp core only', () => {
  const p8 = getPreset('power8');
  const p9 = getPreset('seed-2019');
  // Same core: both instructions, both models, the sender itself included.
  for (const t of [p8, p9]) {
    for (const instr of ['msgsnd', 'msgsndp'] as const) {
      assert.equal(doorbellReach(t, 1, 2, instr), 'core');
      assert.equal(doorbellReach(t, 3, 3, instr), 'core');
    }
  }
  assert.equal(doorbellReach(p8, 0, 8, 'msgsnd'), 'none');
  assert.equal(doorbellReach(p8, 0, 8, 'msgsndp'), 'none');
  assert.equal(doorbellReach(p9, 0, 4, 'msgsnd'), 'global');
  assert.equal(doorbellReach(p9, 0, 127, 'msgsnd'), 'global'); // across sockets
  assert.equal(doorbellReach(p9, 0, 4, 'msgsndp'), 'none');
  assert.equal(doorbellReach(p9, 3, 4, 'msgsndp'), 'none'); // adjacent cpus, different cores
});

test('machine files: valid YAML and JSON, presets as a base', () => {
  assert.deepEqual(loadMachineFile(fixture('big-power8.yaml')), {
    name: 'big-power8',
    cpuModel: 'power8',
    sockets: 2,
    coresPerSocket: 8,
    threadsPerCore: 8,
  });
  const x4 = loadMachineFile(fixture('seed-2019-x4.json'));
  assert.deepEqual(x4, {
    name: 'seed-2019-x4',
    cpuModel: 'power9',
    sockets: 4,
    coresPerSocket: 16,
    threadsPerCore: 4,
  });
  assert.equal(cpuCount(x4), 256);
  // Without a name, the file's base name is used.
  assert.equal(parseMachineText('preset: power8\n', 'm/lab.yml').name, 'lab');
  const big = fixture('big-power8.yaml');
  assert.deepEqual(resolveMachine(big), loadMachineFile(big));
  assert.deepEqual(resolveMachine('seed-2019'), getPreset('seed-2019'));
});

test('machine files: invalid ones name file, line, field and problem', () => {
  const cases: [string, string][] = [
    ['bad-smt.yaml', ':4: threadsPerCore: must be one of 1, 2, 4, 8 (got 3)'],
    [
      'power9-smt8.yaml',
      ':2: threadsPerCore: power9 is modelled with at most SMT4 (got 8); ' +
        'use cpuModel power8 for SMT8',
    ],
    [
      'unknown-field.yaml',
      ':2: coresPerSockt: unknown field (did you mean coresPerSocket?); valid fields are name, ' +
        'preset, cpuModel, sockets, coresPerSocket, threadsPerCore',
    ],
    [
      'too-many-cores.yaml',
      ':3: coresPerSocket: the machine may have at most 1024 cores in total ' +
        '(got 64 sockets x 20 = 1280)',
    ],
    ['bad-type.json', ':3: sockets: must be an integer from 1 to 64 (got "2")'],
    [
      'missing-fields.yaml',
      ': cpuModel: missing; give one of power8, power9, or a preset to start from\n' +
        `${fixture('missing-fields.yaml')}: threadsPerCore: missing; give one of 1, 2, 4, 8, ` +
        'or a preset to start from',
    ],
    [
      'not-a-mapping.yaml',
      ':1: must be a mapping of machine fields (name, preset, cpuModel, sockets, coresPerSocket, ' +
        'threadsPerCore)',
    ],
    [
      'two-problems.yaml',
      ':1: cpuModel: must be one of power8, power9 (got "power10")\n' +
        `${fixture('two-problems.yaml')}:2: sockets: must be an integer from 1 to 64 (got 0)`,
    ],
  ];
  for (const [name, rest] of cases) {
    const file = fixture(name);
    assert.throws(() => loadMachineFile(file), (err: unknown) => {
      assert.ok(err instanceof InputError, `${name}: ${String(err)}`);
      assert.equal(err.message, file + rest);
      assert.equal(err.file, file);
      return true;
    });
  }
});

test('machine files: syntax errors, duplicates, missing files', () => {
  const json = fixture('trailing-comma.json');
  assert.throws(() => loadMachineFile(json), (err: unknown) => {
    assert.ok(err instanceof InputError);
    // V8's wording varies across Node versions; the place and the kind do not.
    assert.ok(err.message.startsWith(`${json}:4: invalid JSON: `), err.message);
    assert.equal(err.line, 4);
    return true;
  });
  const dup = fixture('duplicate-key.yaml');
  assert.throws(() => loadMachineFile(dup), {
    name: 'InputError',
    message: `${dup}:3: invalid YAML: Map keys must be unique`,
  });
  assert.throws(() => loadMachineFile(fixture('nope.yaml')), {
    name: 'InputError',
    message: `${fixture('nope.yaml')}: cannot read machine file: no such file`,
  });
  assert.throws(() => parseMachineText('preset: power9\nmemory:\n  latencyNs: 3\n', 'm.yaml'), {
    message: 'm.yaml:2: memory: the memory section is not supported by this version; remove it',
  });
  assert.throws(() => parseMachineText('{}', 'm.yaml'), {
    message:
      'm.yaml: cpuModel: missing; give one of power8, power9, or a preset to start from\n' +
      'm.yaml: sockets: missing; give an integer from 1 to 64, or a preset to start from\n' +
      'm.yaml: coresPerSocket: missing; give an integer from 1 to 1024, ' +
      'or a preset to start from\n' +
      'm.yaml: threadsPerCore: missing; give one of 1, 2, 4, 8, or a preset to start from',
  });
  assert.throws(
    () =>
      parseMachineText(
        'cpuModel: power8\nsockets: 1\ncoresPerSocket: 33\nthreadsPerCore: 8\n',
        'p8.yaml',
      ),
    { message: 'p8.yaml:3: coresPerSocket: power8 allows at most 32 cores per socket (got 33)' },
  );
});

test('resolveMachine: preset, path, or a usage error with a suggestion', () => {
  assert.throws(() => resolveMachine('seed2019'), {
    name: 'UsageError',
    message:
      'unknown machine "seed2019" (did you mean seed-2019?): give a preset (power8, power9, ' +
      'seed-2019) or the path of a machine file (.yaml, .yml or .json)',
  });
  assert.throws(() => resolveMachine('./no/such.yaml'), InputError);
});
