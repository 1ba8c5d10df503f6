/**
 * deploy/ without a Docker engine: every YAML file parses, the compose file has the services the
 * design names, the NATS nodes form a full mesh, image versions come from one place (deploy/.env),
 * and the collector keeps ignored-IPI traces and sends everything to the analyzer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { resolveScenario } from '../../services/sim/scenario.js';
import { resolveMachine } from '../../services/machine/topology.js';
import { coreCount } from '../../services/sim/replay.js';
import { CORE_TRACED_HEAP_FLAGS } from '../../services/controller/controller.js';

type Obj = Record<string, unknown>;

test('docker-compose.yml: NATS x3, cores, controller, analyzer, collector, Jaeger; versions pinned in .env', () => {
  const c = parse(readFileSync('deploy/docker-compose.yml', 'utf8'), { merge: true }) as {
    services: Record<string, Obj>;
  };
  const names = Object.keys(c.services);
  for (const n of [
    'nats-1',
    'nats-2',
    'nats-3',
    'core-0',
    'controller',
    'analyzer',
    'otel-collector',
    'jaeger',
  ])
    assert.ok(names.includes(n), n);
  const env = readFileSync('deploy/.env', 'utf8');
  for (const [name, svc] of Object.entries(c.services)) {
    const image = String(svc['image']);
    assert.ok(
      image === 'ipiscope:local' || /^\$\{[A-Z_]+\}$/.test(image),
      `${name}: image ${image} not pinned in .env`,
    );
    const v = /^\$\{([A-Z_]+)\}$/.exec(image);
    if (v) assert.match(env, new RegExp(`^${v[1]}=\\S+:\\S+$`, 'm'), `${v[1]} has a tag`);
  }
  assert.match(env, /^JAEGER_IMAGE=jaegertracing\/jaeger:2\./m);
  assert.match(env, /^OTELCOL_IMAGE=otel\/opentelemetry-collector-contrib:/m);
  assert.deepEqual((c.services['analyzer']!['command'] as string[]).slice(1, 6), [
    'analyze',
    '--listen',
    '4318',
    '--host',
    '0.0.0.0',
  ]);
});

test('compose: the controller adopts the core containers (same run id, every core of the machine), traced', () => {
  const c = parse(readFileSync('deploy/docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Obj> };
  const env = readFileSync('deploy/.env', 'utf8');
  const setting = (k: string): string => (new RegExp(`^${k}=(\\S+)$`, 'm').exec(env)?.[1] ?? '');
  const ctl = c.services['controller']!['command'] as string[];
  const flag = (cmd: string[], f: string): string | undefined => (cmd.includes(f) ? cmd[cmd.indexOf(f) + 1] : undefined);
  assert.ok(ctl.includes('--adopt'), 'the controller adopts the cores instead of spawning its own');
  assert.equal(flag(ctl, '--run-id'), '${IPISCOPE_RUN}');
  const cores = Object.entries(c.services).filter(([n]) => /^core-\d+$/.test(n));
  const numbers = cores.map(([, svc]) => Number(flag(svc['command'] as string[], '--core'))).sort((a, b) => a - b);
  assert.deepEqual(numbers, Array.from({ length: cores.length }, (_, i) => i), 'cores 0..N-1, each once');
  for (const [n, svc] of cores) {
    const cmd = svc['command'] as string[];
    const nodeOptions = String((svc['environment'] as Record<string, string>)['NODE_OPTIONS'] ?? '').split(/\s+/);
    for (const f of CORE_TRACED_HEAP_FLAGS) assert.ok(nodeOptions.includes(f), `${n} gets the heap limits of a core ipiscope run starts (${f})`);
    assert.equal(flag(cmd, '--run'), '${IPISCOPE_RUN}', `${n} registers under the controller's run id`);
    assert.ok(cmd.includes('--preload-tracing'), `${n}: traced generations need the tracing modules loaded first`);
    assert.ok(((c.services['controller']!['depends_on'] as string[]) ?? []).includes(n), `the controller waits for ${n}`);
  }
  // The scenario's machine has as many cores as there are core services.
  const machine = resolveMachine(resolveScenario(setting('IPISCOPE_SCENARIO')).machine);
  assert.equal(coreCount(machine), cores.length, `${setting('IPISCOPE_SCENARIO')} runs on ${cores.length} cores`);
  const ctlEnv = c.services['controller']!['environment'] as Record<string, string>;
  assert.ok(ctlEnv['IPISCOPE_NATS'] !== undefined && ctlEnv['IPISCOPE_OTLP_URL'] !== undefined, 'NATS and OTLP come from the environment');
});

test('deploy/cores.mjs 32: the core services of the 32-core POWER9 box, like core-0..3, the controller waiting for all', () => {
  const base = parse(readFileSync('deploy/docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Obj> };
  const r = spawnSync(process.execPath, ['deploy/cores.mjs', '32'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const extra = parse(r.stdout) as { services: Record<string, Obj> };
  const services: Record<string, Obj> = { ...base.services };
  for (const [n, svc] of Object.entries(extra.services)) services[n] = { ...(services[n] ?? {}), ...svc };
  const cores = Object.entries(services).filter(([n]) => /^core-\d+$/.test(n));
  assert.equal(cores.length, 32);
  assert.equal(coreCount(resolveMachine(resolveScenario('host-ipi-2019').machine)), 32);
  const template = base.services['core-0']!;
  for (const [n, svc] of cores) {
    const cmd = svc['command'] as string[];
    assert.equal(cmd[cmd.indexOf('--core') + 1], n.slice('core-'.length), `${n}'s core number`);
    assert.deepEqual(cmd.filter((_, i) => i !== cmd.indexOf('--core') + 1 && i !== cmd.indexOf('--nats') + 1), (template['command'] as string[]).filter((_, i, t) => i !== t.indexOf('--core') + 1 && i !== t.indexOf('--nats') + 1), `${n} is started like core-0`);
    assert.deepEqual(svc['entrypoint'], template['entrypoint']);
    assert.deepEqual(svc['environment'], template['environment'], `${n}'s environment is core-0's`);
    assert.equal(svc['image'], template['image']);
    assert.deepEqual(cmd[cmd.indexOf('--nats') + 1]!.split(',').sort(), ['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222']);
    assert.ok((services['controller']!['depends_on'] as string[]).includes(n), `the controller waits for ${n}`);
  }
  assert.equal(spawnSync(process.execPath, ['deploy/cores.mjs', '3'], { encoding: 'utf8' }).status, 2, 'fewer cores than the base file has: refused');
});

test('nats configs: three nodes, each routes to all three', () => {
  for (const i of [1, 2, 3]) {
    const conf = readFileSync(`deploy/nats/nats-${i}.conf`, 'utf8');
    assert.match(conf, new RegExp(`server_name: nats-${i}`));
    for (const j of [1, 2, 3]) assert.match(conf, new RegExp(`nats-route://nats-${j}:6222`));
  }
});

test('collector: tail sampling keeps emu.ipi.outcome=ignored; the analyzer gets every span', () => {
  const c = parse(readFileSync('deploy/otel-collector.yaml', 'utf8')) as Obj;
  const ts = (c['processors'] as Obj)['tail_sampling'] as { policies: Array<Obj> };
  const keep = ts.policies.find((p) => p['type'] === 'string_attribute') as {
    string_attribute: { key: string; values: string[] };
  };
  assert.equal(keep.string_attribute.key, 'emu.ipi.outcome');
  assert.deepEqual(keep.string_attribute.values, ['ignored']);
  const pipes = (c['service'] as Obj)['pipelines'] as Record<
    string,
    { processors: string[]; exporters: string[] }
  >;
  assert.ok(!pipes['traces/analyzer']!.processors.includes('tail_sampling'));
  assert.deepEqual(pipes['traces/analyzer']!.exporters, ['otlphttp/analyzer']);
  assert.ok(pipes['traces/jaeger']!.processors.includes('tail_sampling'));
});
