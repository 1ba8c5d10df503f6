/**
 * Goal: `ipiscope run --trace-file` traces a distributed run across its processes. Every core
 * process writes its own spans (`service.instance.id` = `core-<n>`), an IPI's trace continues from
 * the sender's process into the target's through a W3C `traceparent` in the NATS headers (the
 * producer span in one core's resource, the consumer span in another's, its parent), the
 * controller merges the cores' span files into FILE, and `ipiscope analyze FILE` judges every IPI
 * of the run with the run's own ignored set (its ground truth); the run's verdict carries the
 * trace id of each ignored IPI.
 *
 * Method: pingpong (CPUs 0 and 8 cross-calling, 4 core processes, XICS IPIs on v3.6) with a
 * watchdog of 1 emulated s, over a private nats-server of the test harness, through the CLI.
 * The fault plan drops 20% of the IPI messages from core 1 to core 0 (seeded: the same one every
 * time): the first one dropped is lost, CPU 8 waits for CPU 0 forever, the run ends as a hang and
 * its verdict names that IPI ignored; the IPIs before it were handled across the bus. A test
 * subscriber on the same NATS sees the machine messages with their headers. A few seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { readSpanFile } from '../../../services/analyzer/index.js';
import { startTestNats } from '../../harness/nats.js';
import { natsConnectTarget } from '../../../services/bus/nats-url.js';

const BIN = resolve('bin/ipiscope.js');

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('error', fail);
    c.on('close', (status) => {
      clearTimeout(t);
      done({ status, stdout, stderr });
    });
  });
}

function lastJson(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  assert.ok(line !== undefined, `a JSON line in:\n${out}`);
  return JSON.parse(line) as Record<string, unknown>;
}

const SCENARIO = `# pingpong with a short watchdog (1 emulated s): a lost IPI ends the run as a hang within seconds.
name: pingpong-trace
machine: power8
kernel: v3.6
kvm: false
workload:
  hostCpus: "0,8"
  hostMix: { crosscall: 1 }
  crossCallPool: "0,8"
  crossCallPeers: 1
  crossCallTargetsMax: 1
detectors:
  watchdogThreshSecs: 1
limits:
  ipis: 10000
`;

const PRODUCER = 4;
const CONSUMER = 5;

test('run --trace-file: spans of every core process, IPI traces across processes through NATS headers, judged like the run', { timeout: 60_000 }, async () => {
  await using nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-run-trace-'));
  const nc = await connect(natsConnectTarget(nats.servers));
  try {
    // Machine messages of every run on this NATS: ipiscope.<run>.core.<n>.
    const headers: string[] = [];
    let machineMsgs = 0;
    nc.subscribe('ipiscope.*.core.*', {
      callback: (err, m) => {
        if (err !== null) return;
        machineMsgs++;
        const tp = m.headers?.get('traceparent') ?? '';
        if (tp !== '') headers.push(tp);
      },
    });
    await nc.flush();
    const scenario = join(dir, 'pingpong-trace.yaml');
    writeFileSync(scenario, SCENARIO);
    const faults = join(dir, 'drop.json');
    writeFileSync(faults, JSON.stringify({ faults: [{ type: 'drop', src: 1, dst: 0, class: 'ipi', probability: 0.2 }] }));
    const file = join(dir, 'run.spans.jsonl');
    const r = await cli(['run', scenario, '--nats', nats.servers.join(','), '--ipis', '300', '--duration', '20s', '--faults', faults, '--trace-file', file, '--json']);
    assert.equal(r.status, 1, `a hang exits 1:\n${r.stdout}\n${r.stderr}`);
    const v = lastJson(r.stdout);
    assert.equal(v.verdict, 'hang', r.stdout);
    assert.equal(v.drained, true);
    const ignored = v.ignored as Array<{ ipi_id: string; trace_id: string }>;
    assert.equal(ignored.length, 1, 'the dropped IPI is ignored');
    assert.match(ignored[0]!.trace_id, /^[0-9a-f]{32}$/, 'the verdict carries its trace id');
    const ipisSent = v.ipis_sent as number;
    assert.ok(ipisSent >= 3, `IPIs sent: ${ipisSent}`);
    const trace = v.trace as { parts: number; missing: number[]; agrees: boolean; ipis: number };
    assert.equal(trace.parts, 4, 'one span file per core process, merged');
    assert.deepEqual(trace.missing, []);
    assert.equal(trace.agrees, true);
    assert.equal(trace.ipis, ipisSent);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.part')), [], 'the parts are removed');

    // The spans: every core process's resource, and hops across processes.
    const sf = await readSpanFile(file);
    assert.deepEqual(sf.errors, []);
    const spans = sf.spans;
    const inst = (s: (typeof spans)[number]): string => String(s.resource?.['service.instance.id']);
    const instances = new Set(spans.map(inst));
    assert.deepEqual([...instances].sort(), ['core-0', 'core-1', 'core-2', 'core-3'], 'every core process traced (its run span at least)');
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const hops = spans.filter((s) => {
      if (s.kind !== CONSUMER || s.parentSpanId === undefined) return false;
      const p = byId.get(s.parentSpanId);
      return p !== undefined && p.kind === PRODUCER && p.traceId === s.traceId && inst(p) !== inst(s);
    });
    assert.ok(hops.length >= 2, `IPI hops across processes: ${hops.length}`);
    const hop = hops[0]!;
    const producer = byId.get(hop.parentSpanId!)!;
    assert.equal(producer.attributes['messaging.system'], 'nats');
    assert.equal(hop.attributes['messaging.system'], 'nats');
    assert.match(String(producer.name), /^publish /);
    assert.ok(hops.some((h) => inst(h) === 'core-0') && hops.some((h) => inst(h) === 'core-1'), 'hops both ways');
    // The consumer's parent came through a traceparent in the NATS headers.
    assert.ok(machineMsgs > 0 && headers.length > 0, `traceparent headers on ${headers.length} of ${machineMsgs} machine messages`);
    for (const h of headers) assert.match(h, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.ok(headers.includes(`00-${hop.traceId}-${producer.spanId}-01`), 'the hop\'s producer context was in a NATS header');

    // `ipiscope analyze FILE --json`: every IPI of the run judged, the run's ignored set.
    const a = await cli(['analyze', file, '--json']);
    assert.equal(a.status, 1, `analyze exits 1 when it finds an ignored IPI:\n${a.stderr}`);
    const an = lastJson(a.stdout) as { ipis: number; ignored: Array<{ ipi_id: string; trace_id: string; cause: string }> };
    assert.equal(an.ipis, ipisSent);
    assert.deepEqual(an.ignored.map((i) => i.ipi_id).sort(), ignored.map((i) => i.ipi_id).sort());
    assert.equal(an.ignored[0]!.trace_id, ignored[0]!.trace_id);
    assert.match(an.ignored[0]!.cause, /lost in\s+transport/);
  } finally {
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(!existsSync(dir));
});
