// Goal: a scenario that names CPUs its machine lacks, gives a CPU two roles, or a [min, max]
// backwards is refused when it is loaded, before anything runs, as an InputError naming the
// file, the line and the field (it used to crash later with an AssertionError, or run wrongly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScenarioText, parseScenarioValue, resolveScenario, builtinScenarioNames } from '../../../services/sim/index.js';
import { InputError } from '../../../services/stdx/index.js';
import { resolveMachine } from '../../../services/machine/topology.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testTempDir } from '../../harness/temp.js';

/** A power9 (16 CPUs) scenario with `lines` appended; line 3 is the first appended line. */
function scenario(...lines: string[]): string {
  return ['name: s', 'machine: power9', ...lines].join('\n') + '\n';
}

function refused(text: string, message: RegExp): void {
  assert.throws(() => parseScenarioText(text, 's.yaml'), (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, message);
    return true;
  });
}

test('CPUs beyond the machine are refused with file, line and field', () => {
  refused(scenario('workload:', '  hostCpus: "0-3,200"'), /^s\.yaml:4: field workload\.hostCpus: CPU 200 does not exist on power9 \(CPUs 0-15\)$/);
  refused(scenario('workload:', '  hostCpus: "0-3,16-20,99"'), /^s\.yaml:4: field workload\.hostCpus: CPUs 16-20,99 do not exist on power9 \(CPUs 0-15\)$/);
  // A list: the line of the first CPU that does not exist.
  refused(scenario('workload:', '  hostCpus:', '    - 0', '    - 1', '    - 64'), /^s\.yaml:7: field workload\.hostCpus: CPU 64 does not exist on power9/);
  refused(scenario('guests:', '  - { name: A, cpus: "10-20" }'), /^s\.yaml:4: field guests\.0\.cpus: CPUs 16-20 do not exist on power9/);
  refused(scenario('workload:', '  crossCallPool: "0,16"'), /^s\.yaml:4: field workload\.crossCallPool: CPU 16 does not exist/);
  refused(scenario('workload:', '  wakePool: [1, 2, 17]'), /^s\.yaml:4: field workload\.wakePool: CPU 17 does not exist/);
  refused(scenario('workload:', '  broadcastPool: "0-31"'), /^s\.yaml:4: field workload\.broadcastPool: CPUs 16-31 do not exist/);
  refused(scenario('workload:', '  offline: { cpus: "1-3,40", atTicks: 10 }'), /^s\.yaml:4: field workload\.offline\.cpus: CPU 40 does not exist/);
  // A machine of 128 CPUs takes them.
  assert.deepEqual(parseScenarioText('name: s\nmachine: seed-2019\nworkload:\n  hostCpus: "0-3,100"\n', 's.yaml').workload.hostCpus, '0-3,100');
});

test('a [min, max] range that goes backwards is refused', () => {
  refused(scenario('workload:', '  computeTicks: [200, 20]'), /^s\.yaml:4: field workload\.computeTicks: .*200.*20/);
  for (const field of ['sleepTicks', 'guestTicks', 'exitTicks']) {
    refused(scenario('workload:', `  ${field}: [5, 4]`), new RegExp(`^s\\.yaml:4: field workload\\.${field}: `));
  }
  assert.deepEqual(parseScenarioText(scenario('workload:', '  exitTicks: [7, 7]'), 's.yaml').workload.exitTicks, [7, 7]);
});

test('guests: a name twice, a CPU in two guests or in hostCpus too is refused', () => {
  refused(scenario('guests:', '  - { name: A, cpus: "1" }', '  - { name: A, cpus: "2" }'), /^s\.yaml:5: field guests\.1\.name: guest A is defined twice/);
  refused(scenario('guests:', '  - { name: A, cpus: "1-3" }', '  - { name: B, cpus: "3-5" }'), /^s\.yaml:5: field guests\.1\.cpus: CPU 3 is already a vCPU of guest A/);
  refused(scenario('guests:', '  - { name: A, cpus: [1, 2, 1] }'), /^s\.yaml:4: field guests\.0\.cpus: CPU 1 is listed twice/);
  refused(scenario('guests:', '  - { name: A, cpus: "1-3" }', 'workload:', '  hostCpus: "0,2"'), /^s\.yaml:6: field workload\.hostCpus: CPU 2 is a vCPU of guest A/);
});

test('offline: CPU 0 cannot go offline, so neither can every CPU', () => {
  refused(scenario('workload:', '  offline: { cpus: "0-15", atTicks: 10 }'), /^s\.yaml:4: field workload\.offline\.cpus: CPU 0 cannot go offline/);
  refused(scenario('workload:', '  offline: { cpus: "0,4", atTicks: 10 }'), /^s\.yaml:4: field workload\.offline\.cpus: CPU 0 cannot go offline/);
  assert.equal(parseScenarioText(scenario('workload:', '  offline: { cpus: "1-15", atTicks: 10 }'), 's.yaml').workload.offline?.cpus, '1-15');
});

test('every problem is listed, the first by line as the error', () => {
  refused(
    scenario('guests:', '  - { name: A, cpus: "30" }', 'workload:', '  hostCpus: "99"'),
    /^s\.yaml:4: field guests\.0\.cpus: CPU 30 does not exist[^\n]*\ns\.yaml:6: field workload\.hostCpus: CPU 99 does not exist[^\n]*$/,
  );
});

test('a scenario value (no file) is checked the same way; the built-in scenarios pass', () => {
  assert.throws(() => parseScenarioValue({ name: 'v', machine: 'power8', workload: { hostCpus: [0, 32] } }, 'value'), {
    name: 'InputError',
    message: 'value: field workload.hostCpus: CPU 32 does not exist on power8 (CPUs 0-31)',
  });
  for (const name of builtinScenarioNames()) assert.equal(resolveScenario(name).name, name);
});

test('an unknown kernel in a scenario file names the file, line and field', () => {
  refused(scenario('kernel: v9.9'), /^s\.yaml:3: field kernel: unknown kernel "v9\.9"; valid kernels are v3\.5, /);
});

test('a machine file is found relative to the scenario file; one that cannot be read names the scenario file', () => {
  const dir = testTempDir('ipiscope-scenario-machine-');
  mkdirSync(join(dir, 'machines'));
  mkdirSync(join(dir, 'scenarios'));
  writeFileSync(join(dir, 'machines', 'p9-2c.yaml'), 'name: p9-2c\ncpuModel: power9\nsockets: 1\ncoresPerSocket: 2\nthreadsPerCore: 4\n');
  const write = (name: string, machine: string, hostCpus = '0-7'): string => {
    const file = join(dir, 'scenarios', name);
    writeFileSync(file, `name: ${name}\nmachine: ${machine}\nworkload:\n  hostCpus: "${hostCpus}"\n`);
    return file;
  };
  // Relative to the scenario's directory, whatever the current one; absolute paths and presets as they are.
  const relative = resolveScenario(write('rel.yaml', '../machines/p9-2c.yaml'));
  assert.equal(relative.machine, join(dir, 'machines', 'p9-2c.yaml'));
  assert.equal(resolveMachine(relative.machine).name, 'p9-2c');
  assert.equal(resolveScenario(write('abs.yaml', join(dir, 'machines', 'p9-2c.yaml'))).machine, join(dir, 'machines', 'p9-2c.yaml'));
  assert.equal(resolveScenario(write('preset.yaml', 'power9')).machine, 'power9');
  // Checked against that machine: 8 CPUs.
  const eight = write('eight.yaml', '../machines/p9-2c.yaml', '0-8');
  assert.throws(() => resolveScenario(eight), { message: `${eight}:4: field workload.hostCpus: CPU 8 does not exist on p9-2c (CPUs 0-7)` });
  const missing = write('missing.yaml', 'p9-4c.yaml');
  assert.throws(() => resolveScenario(missing), {
    name: 'InputError',
    message: `${missing}:2: field machine: ${join(dir, 'scenarios', 'p9-4c.yaml')}: cannot read machine file: no such file`,
  });
  const typo = write('typo.yaml', 'powr9');
  assert.throws(() => resolveScenario(typo), { name: 'InputError', message: new RegExp(`^${typo}:2: field machine: unknown machine "powr9" \\(did you mean power9\\?\\)`) });
});

test('guests without KVM, and a seed a double cannot hold, are refused', () => {
  refused(scenario('kvm: false', 'guests:', '  - { name: A, cpus: "1-2" }'), /^s\.yaml:3: field kvm: guests need KVM/);
  refused(scenario('seed: 99999999999999999999'), /^s\.yaml:3: field seed: a seed is at most 2\^53-1/);
});
