/**
 * Goal: the docker compose stack's own commands work together, without a Docker engine. The core
 * services' commands, the controller's command and its environment are read from
 * deploy/docker-compose.yml and deploy/.env and run as local processes: a 3-node NATS cluster
 * stands for nats-1..3, `ipiscope analyze --listen` for the collector and the analyzer (the
 * collector only forwards spans). The controller adopts the cores, the run is traced over OTLP,
 * the analyzer judges its IPIs, and the cores exit at the end, as the containers would.
 *
 * What it cannot show: that the images build and the containers reach each other by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startTestNatsCluster } from '../harness/nats.js';
import { testTempDir } from '../harness/temp.js';
import { childAlive } from '../harness/proc.js';

const root = process.cwd();
const bin = join(root, 'bin', 'ipiscope.js');

type Service = { command?: string[]; entrypoint?: string[]; environment?: Record<string, string> };

const alive = childAlive;

test('compose, run as local processes: the controller adopts the core services, traces to the analyzer, the cores exit', { timeout: 180_000 }, async () => {
  const env = Object.fromEntries(
    readFileSync('deploy/.env', 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const services = (parse(readFileSync('deploy/docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> }).services;
  await using cluster = await startTestNatsCluster(3);
  const nodeUrl = (name: string): string => {
    const i = Number(/^nats-(\d)$/.exec(name)?.[1]) - 1;
    assert.ok(i >= 0 && i < 3, `compose names ${name}, which the cluster stands for`);
    return cluster.url(i);
  };
  const dir = testTempDir('ipiscope-e2e-compose-');
  // The analyzer stands for otel-collector:4318 and for the analyzer service behind it.
  const analyzer = spawn(process.execPath, [bin, 'analyze', '--listen', '0', '--json', '--report', join(dir, 'report.html')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let aOut = '';
  let aErr = '';
  analyzer.stdout?.on('data', (d: Buffer) => (aOut += d.toString()));
  analyzer.stderr?.on('data', (d: Buffer) => (aErr += d.toString()));
  const otlp = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the analyzer did not listen: ${aErr}`)), 30_000);
    analyzer.stderr?.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(aErr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
  // Compose's names and variables, resolved for local processes.
  const local = (s: string): string =>
    s
      .replace(/\$\{([A-Z_]+)\}/g, (_, k: string) => env[k] ?? '')
      .replace(/nats:\/\/(nats-\d):4222/g, (_, n: string) => nodeUrl(n))
      .replace('http://otel-collector:4318/v1/traces', otlp);
  const cores: ChildProcess[] = [];
  try {
    for (const [name, svc] of Object.entries(services).filter(([n]) => /^core-\d+$/.test(n))) {
      const entry = svc.entrypoint ?? [];
      assert.deepEqual(entry, ['node', 'dist/services/core/main.js'], `${name}'s entrypoint`);
      cores.push(spawn(process.execPath, [join(root, entry[1] as string), ...(svc.command ?? []).map(local)], { stdio: 'ignore' }));
    }
    assert.equal(cores.length, 4);
    const ctl = services['controller'] as Service;
    const ctlEnv = Object.fromEntries(Object.entries(ctl.environment ?? {}).map(([k, v]) => [k, local(v)]));
    const cmd = (ctl.command ?? []).map(local);
    assert.equal(cmd[0], 'bin/ipiscope.js');
    // Shorter than the stack's 30 s (IPISCOPE_DURATION): the only change to compose's command.
    const d = cmd.indexOf('--duration');
    assert.ok(d > 0 && cmd[d + 1] === env['IPISCOPE_DURATION'], 'the run\'s bound comes from .env');
    const w = cmd.indexOf('--warm-up');
    assert.ok(w > 0 && cmd[w + 1] === env['IPISCOPE_WARM_UP'] && env['IPISCOPE_WARM_UP'] === '0', 'the warm-up comes from .env, none by default');
    cmd[d + 1] = '8s';
    const r = spawnSync(process.execPath, [join(root, cmd[0] as string), ...cmd.slice(1)], { encoding: 'utf8', timeout: 150_000, env: { ...process.env, ...ctlEnv } });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(v.verdict, 'ok', String(v.invalid_reason));
    assert.equal(v.processes, 4);
    assert.ok((v.ipis_handled as number) > 0);
    const trace = v.trace as Record<string, unknown> | undefined;
    assert.equal(trace, undefined, 'an OTLP-only run writes no span file to judge');
    const deadline = Date.now() + 10_000;
    while (cores.some(alive) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(cores.filter(alive).map((c) => c.pid), [], 'the core services end with the run');
    // The analyzer judged the run's IPIs from the spans the cores sent it.
    const exited = new Promise<number | null>((res) => analyzer.once('exit', (code) => res(code)));
    analyzer.kill('SIGINT');
    await exited;
    const last = JSON.parse(aOut.trim().split('\n').pop() as string) as { ipis: number; ignored: unknown[]; late: unknown[] };
    assert.ok(last.ipis >= (v.ipis_handled as number), `the analyzer judged ${last.ipis} IPIs of ${String(v.ipis_handled)} handled\n${aErr}`);
    assert.deepEqual(last.ignored, []);
    // Each core keeps its own clock: a latency is counted on the target's, never as the difference
    // of two cores' ticks (which once called about half of these IPIs late by 100,000 ticks).
    assert.deepEqual(last.late, []);
    assert.ok(existsSync(join(dir, 'report.html')), 'the report is written on stop');
  } finally {
    for (const c of cores) if (alive(c)) c.kill('SIGKILL');
    if (alive(analyzer)) analyzer.kill('SIGKILL');
  }
});
