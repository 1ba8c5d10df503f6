/**
 * Goal: a NATS that wants a user and password (as most shared deployments do, and as the
 * testcontainers NATS module starts it). `--nats nats://user:password@host:port` works for `run`
 * (the controller and every core process it spawns) and for `ipiscope faults`; the password is
 * never printed, nor put on a core's command line; without credentials the error says so.
 *
 * Method: a private nats-server started with --user/--pass, the CLI as child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NatsServer } from '../../services/bus/nats-launcher.js';
import { testTempDir } from '../harness/temp.js';
import { bin, startCli } from '../harness/cli.js';

const PASSWORD = 'pw:with@signs';

function ipiscope(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The command lines of every process now (to see that no core was given the password). */
function commandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('run and faults with user:password in the NATS URL; never printed, never on a command line', { timeout: 120_000 }, async () => {
  await using server = await new NatsServer({ name: 'auth-nats', args: ['--user', 'ipis', '--pass', PASSWORD] }).start();
  const port = new URL(server.url).port;
  const url = `nats://ipis:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`;

  const refused = ipiscope('run', 'pingpong', '--ipis', '20', '--nats', `nats://127.0.0.1:${port}`);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*(authorization|auth)/i);

  const dir = testTempDir('ipiscope-e2e-auth-');
  const plan = join(dir, 'plan.yaml');
  writeFileSync(plan, 'faults:\n  - { type: duplicate, probability: 0.05 }\n');
  const runId = `e2e-auth-${process.pid}`;
  const run = startCli(['run', 'pingpong', '--ipis', '0', '--duration', '10s', '--run-id', runId, '--nats', url, '--json']);
  assert.ok(await run.stderrHas(`run ${runId} on NATS`), run.stderr());
  const lines = commandLines().filter((l) => l.includes(`--run ${runId}`));
  assert.equal(lines.length, 4, `the four core processes:\n${lines.join('\n')}`);
  for (const l of lines) assert.ok(!l.includes(encodeURIComponent(PASSWORD)) && !l.includes(PASSWORD), `a core's command line shows the password: ${l}`);

  let live = { status: -1, stdout: '', stderr: '' };
  for (let i = 0; i < 20 && live.status !== 0; i++) {
    live = ipiscope('faults', runId, plan, '--nats', url, '--json');
    if (live.status !== 0) await new Promise((res) => setTimeout(res, 200));
  }
  assert.equal(live.status, 0, live.stderr);

  assert.equal(await run.exited, 0, run.stderr());
  const [stdout, stderr] = [run.stdout(), run.stderr()];
  const v = JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  assert.equal(v.verdict, 'ok', String(v.invalid_reason));
  assert.ok((v.ipis_handled as number) > 0);
  assert.ok(((v.faults_injected as Record<string, number>).duplicate ?? 0) > 0, 'the live plan reached the cores');
  assert.match(stderr, new RegExp(`run ${runId} on NATS nats://ipis:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
  for (const out of [stdout, stderr, live.stdout, live.stderr, refused.stderr]) {
    assert.ok(!out.includes(PASSWORD) && !out.includes(encodeURIComponent(PASSWORD)), 'the password was printed');
  }
});
