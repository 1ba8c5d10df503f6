/**
 * Goal: a fault plan changed during a run, as a user does it: `ipiscope run ... --run-id ID --nats
 * URL` in one process, `ipiscope faults ID PLAN --nats URL` from another. The run takes the plan
 * (bus rules on every core, the pause carried out once by the controller), counts every injected
 * fault, loses nothing and stays valid. A malformed plan is refused before anything is sent; an
 * unknown run is said to be unknown.
 *
 * Method: the CLI (bin/ipiscope.js) in child processes, on a private nats-server of the test's own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { encodeControlMsg } from '../../services/bus/codec.js';
import { faultsSubject } from '../../services/bus/nats-transport.js';
import { startTestNats } from '../harness/nats.js';
import { testTempDir } from '../harness/temp.js';
import { bin, startCli } from '../harness/cli.js';
import { natsConnectTarget, redactNatsUrls } from '../../services/bus/nats-url.js';


function ipiscope(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('ipiscope faults changes a running run\'s plan: counted, nothing lost, paused once, valid', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const url = nats.servers.join(',');
  const dir = testTempDir('ipiscope-e2e-faults-');
  const plan = join(dir, 'plan.yaml');
  writeFileSync(plan, [
    'faults:',
    '  - { type: duplicate, probability: 0.05 }',
    '  - { type: latency, class: memory, latency_ms: 1, jitter_ms: 1, distribution: normal }',
    '  - { type: pause, core: 1, at_ms: 0, duration_ms: 200 }',
    '',
  ].join('\n'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'faults:\n  - { type: duplicate, probability: 2 }\n');

  const runId = `e2e-live-${process.pid}`;
  // 30 s: seven CLI commands must be answered while it runs, each a Node start (seconds on a loaded
  // machine); the refusals that need no live run come after it.
  const run = startCli(['run', 'pingpong', '--ipis', '0', '--duration', '30s', '--run-id', runId, '--nats', url, '--json']);
  const { child } = run;
  try {
    // The run says its id and NATS once its cores run.
    assert.ok(await run.stderrHas(`run ${runId} on NATS ${redactNatsUrls(nats.servers)}`), run.stderr());
    assert.match(run.stderr(), new RegExp(`ipiscope faults ${runId} PLAN --nats`), 'the run prints how to reach it');

    // Sent until the machine runs (an answer for generation 0 came between machines).
    let answer: Record<string, unknown> = {};
    for (let i = 0; i < 50 && !(Number(answer.generation) > 0); i++) {
      const r = ipiscope('faults', runId, plan, '--nats', url, '--json');
      assert.equal(r.status, 0, r.stderr);
      answer = JSON.parse(r.stdout) as Record<string, unknown>;
      if (!(Number(answer.generation) > 0)) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(answer.ok, true);
    assert.equal(answer.rules, 3);
    assert.equal(answer.process_faults_scheduled, 1, 'the pause is scheduled');
    // The same plan again: the bus rules are taken again, the pause is not scheduled twice.
    const again = ipiscope('faults', runId, plan, '--nats', url, '--json');
    assert.equal(again.status, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as Record<string, unknown>).process_faults_scheduled, 0);

    // A partition of core 1 (CPU 8, the ping-pong partner) from now on: its at_ms counts from when
    // the run takes the plan, not from the start.
    const part = join(dir, 'part.yaml');
    writeFileSync(part, 'faults:\n  - { type: partition, core: 1, at_ms: 0, heal_after_ms: 300 }\n');
    const p = ipiscope('faults', runId, part, '--nats', url, '--from-now', '--json');
    assert.equal(p.status, 0, p.stderr);
    const pa = JSON.parse(p.stdout) as Record<string, number>;
    assert.ok((pa.at_ms ?? 0) > 0, `taken during the run (${pa.at_ms} ms)`);
    assert.equal(pa.past_due, undefined, 'shifted to now, the partition is still to come');
    // The same plan without --from-now: its partition was over long ago, and the answer says so.
    const late = ipiscope('faults', runId, part, '--nats', url);
    assert.equal(late.status, 0, late.stderr);
    assert.match(late.stderr, /warning: 1 of the plan's partitions were over before the run took the plan \(\d+ ms into it/);

    // While the run goes on: what must be refused.
    const twin = ipiscope('run', 'pingpong', '--ipis', '0', '--duration', '2s', '--run-id', runId, '--nats', url);
    assert.equal(twin.status, 2, 'a second run with the id of a live one is refused');
    assert.match(twin.stderr, new RegExp(`run id ${runId} is in use`));

    // A plan naming a core the run lacks (pingpong: 4 cores): refused with its line, nothing sent.
    const beyond = join(dir, 'beyond.yaml');
    writeFileSync(beyond, 'faults:\n  - { type: latency, latency_ms: 1 }\n  - { type: pause, core: 99, at_ms: 0, duration_ms: 100 }\n');
    const nope = ipiscope('faults', runId, beyond, '--nats', url);
    assert.equal(nope.status, 2, nope.stderr);
    assert.match(nope.stderr, /beyond\.yaml:3: faults\[1\] \(pause\)\.core: core 99 does not exist; the run has 4 cores \(0-3\)/);

    // A malformed plan published on the subject by another tool: refused by the controller (its
    // answer says why) and by every core alike, so the run goes on as it was (checked at the end).
    const nc = await connect(natsConnectTarget(nats.servers));
    try {
      const junk = encodeControlMsg({ kind: 'faultPlanUpdate', fields: { runId, planVersion: Date.now() + 1, faultPlanJson: '{"faults":[{"type":"frob"}]}' } });
      const a = JSON.parse(new TextDecoder().decode((await nc.request(faultsSubject(runId), junk, { timeout: 5000 })).data)) as Record<string, unknown>;
      assert.equal(a.ok, false);
      assert.match(String(a.error), /frob|type/);
    } finally {
      await nc.close();
    }

    const code = await run.exited;
    const [stdout, stderr] = [run.stdout(), run.stderr()];
    assert.equal(code, 0, stderr);
    const v = JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(v.verdict, 'ok', String(v.invalid_reason));
    assert.match(stderr, /fault plan update refused, the plan in force stays/);
    const injected = v.faults_injected as Record<string, number>;
    const bus = v.bus as Record<string, number>;
    assert.equal(injected.pause, 1, 'paused once');
    assert.ok((injected.duplicate ?? 0) > 0, `duplicates injected: ${JSON.stringify(injected)}`);
    assert.ok((injected.latency ?? 0) > 0, `latency injected: ${JSON.stringify(injected)}`);
    assert.equal(bus.duplicatesInjected, injected.duplicate, 'every injected duplicate was seen as one');
    assert.equal(bus.duplicatesUnplannedDropped, 0);
    assert.equal(bus.delivered, bus.sent, 'nothing lost');
    const updates = v.fault_plan_updates as Array<Record<string, number>>;
    assert.equal(updates.length, 4, 'the plan, again, from now, and the late one');
    assert.ok((injected.partition ?? 0) > 0, `the partition held messages: ${JSON.stringify(injected)}`);
    assert.equal(updates[0]?.version, answer.version);
    assert.ok((updates[0]?.at_ms ?? -1) >= 0);

    // Refused with no live run needed: a malformed plan (before anything is sent), an unknown run.
    const refused = ipiscope('faults', runId, bad, '--nats', url);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /bad\.yaml/);
    assert.match(refused.stderr, /probability/);
    const unknown = ipiscope('faults', 'no-such-run', plan, '--nats', url);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no run no-such-run listens/);
  } finally {
    if (child.exitCode === null) child.kill('SIGINT');
    await run.exited;
  }
});
