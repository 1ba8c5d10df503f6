/**
 * Goal: `ipiscope run --adopt`, the way docker compose runs the stack: the core processes are
 * started by someone else (`node dist/services/core/main.js --run ID --core N --nats URL`), before
 * the controller, and the controller adopts them instead of spawning its own. A missing core is
 * named, and the cores that did come are left waiting (they are not the controller's); a run with
 * the same id that spawns its own cores finds the two processes per core; once a run has used the
 * adopted cores, they are told to exit. Adopted cores may run where the controller cannot see their
 * disk (a container each): their inbox records come over the bus, and the run replays from them.
 *
 * Method: the CLI and the core entry point as child processes, on a private nats-server. The
 * controller's temporary directory and the cores' are two directories of the test. Where the test
 * may (root, with unshare), each core runs in a mount namespace of its own with a fresh tmpfs over
 * both, as in a container: the controller cannot read what a core writes, nor a core the
 * controller's files. (Not over /tmp itself: the repository may live there.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestNats } from '../harness/nats.js';
import { testTempDir } from '../harness/temp.js';
import { childAlive } from '../harness/proc.js';
import { connect } from '@nats-io/transport-node';
import { decodeControlMsg } from '../../services/bus/codec.js';
import { controllerSubject } from '../../services/bus/control.js';
import { natsConnectTarget } from '../../services/bus/nats-url.js';
import { bin, startCli } from '../harness/cli.js';

const coreMain = join(process.cwd(), 'dist', 'services', 'core', 'main.js');

function cli(env: NodeJS.ProcessEnv, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Hides directories `a` and `b` under fresh tmpfs mounts, then runs the command (argv after them). */
const PRIVATE_DIRS = 'mount -t tmpfs tmpfs "$1" && mount -t tmpfs tmpfs "$2" && shift 2 && exec "$@"';

/** Whether a process can get private directories (a mount namespace; needs root and unshare(1)). */
function privateDirsWork(a: string, b: string): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', PRIVATE_DIRS, 'probe', a, b, 'test', '-d', process.cwd()], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/** Waits (at most 60 s) until each of `cores` has sent a heartbeat or registration for `runId`. */
async function heard(url: string, runId: string, cores: number[]): Promise<void> {
  const nc = await connect(natsConnectTarget(url.split(',')));
  const seen = new Set<number>();
  try {
    const sub = nc.subscribe(controllerSubject(runId), {
      callback: (_e, m) => {
        try {
          seen.add(Number(decodeControlMsg(m.data).fields.core));
        } catch {
          // not a control message of ours
        }
      },
    });
    const t0 = Date.now();
    while (!cores.every((c) => seen.has(c)) && Date.now() - t0 < 60_000) await new Promise((res) => setTimeout(res, 100));
    sub.unsubscribe();
  } finally {
    await nc.close();
  }
  assert.ok(cores.every((c) => seen.has(c)), `cores ${cores.join(', ')} did not come up: heard ${[...seen].join(', ')}`);
}

const alive = childAlive;

test('run --adopt: cores started elsewhere first, adopted; a missing one named; they exit after the run', { timeout: 120_000 }, async () => {
  await using nats = await startTestNats();
  const url = nats.servers.join(',');
  const runId = `e2e-adopt-${process.pid}`;
  const cores = new Map<number, ChildProcess>();
  const dir = testTempDir('ipiscope-e2e-adopt-');
  const ctlTmp = join(dir, 'controller-tmp');
  const coreTmp = join(dir, 'core-tmp');
  mkdirSync(ctlTmp);
  mkdirSync(coreTmp);
  const ctlEnv = { ...process.env, TMPDIR: ctlTmp };
  const ipiscope = (...args: string[]): { status: number; stdout: string; stderr: string } => cli(ctlEnv, args);
  const isolated = privateDirsWork(ctlTmp, coreTmp);
  if (!isolated) process.stderr.write('adopt test: no mount namespaces here (not root, or no unshare): the cores share the controller\'s file system\n');
  const startCore = (n: number): void => {
    // Started detached (no stdin, as a container runtime does): a core that is adopted watches no parent.
    const argv = [coreMain, '--run', runId, '--core', String(n), '--nats', url, '--seed', '1', '--preload-tracing'];
    const env = { ...process.env, TMPDIR: coreTmp };
    cores.set(n, isolated
      ? spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', PRIVATE_DIRS, 'core', ctlTmp, coreTmp, process.execPath, ...argv], { stdio: 'ignore', env })
      : spawn(process.execPath, argv, { stdio: 'ignore', env }));
  };
  try {
    const usage = ipiscope('run', 'pingpong', '--adopt', '--nats', url);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--adopt: give --run-id/);

    for (const n of [0, 1, 3]) startCore(n);
    // They load the tracing modules before they register (--preload-tracing): seconds on a busy
    // machine. The adoption below is to miss core 2 only, so it starts once the others are up.
    await heard(url, runId, [0, 1, 3]);
    const short = ipiscope('run', 'pingpong', '--ipis', '100', '--adopt', '--adopt-timeout', '3s', '--run-id', runId, '--nats', url, '--json');
    assert.equal(short.status, 2);
    assert.match(short.stderr, /only 3 of 4 cores registered .*\(missing: 2\)/);
    assert.match(short.stderr, new RegExp(`--run ${runId} --core N`));
    assert.ok([...cores.values()].every(alive), 'the cores that came are left waiting');

    // The same id without --adopt: the controller spawns its own cores, and the waiting ones would
    // take their messages too. Two processes for one core are caught, never run together.
    const twins = ipiscope('run', 'pingpong', '--ipis', '100', '--run-id', runId, '--nats', url, '--json');
    assert.equal(twins.status, 2, `${twins.stdout}\n${twins.stderr}`);
    assert.match(twins.stderr, /two processes answer for core [013](, [013])* of run/);
    assert.ok([...cores.values()].every(alive), 'the waiting cores are still there');

    // Process faults need processes of our own: refused up front with --adopt, and a live plan
    // that has them is taken for its bus rules only, with a warning.
    const plan = join(dir, 'plan.yaml');
    writeFileSync(plan, 'faults:\n  - { type: duplicate, probability: 0.05 }\n  - { type: pause, core: 1, at_ms: 0, duration_ms: 100 }\n  - { type: partition, core: 1, at_ms: 500, heal_after_ms: 300 }\n');
    const refused = ipiscope('run', 'pingpong', '--adopt', '--run-id', runId, '--nats', url, '--faults', plan);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /pause\/kill\/restart need core processes this controller starts/);

    // The cores started seconds ago: a partition at 500 ms counts from the start of the run, not of
    // their processes (it once fell before the run and cut nothing). The live plan below keeps it.
    const part = join(dir, 'part.yaml');
    writeFileSync(part, 'faults:\n  - { type: partition, core: 1, at_ms: 500, heal_after_ms: 300 }\n');
    startCore(2);
    const run = startCli(['run', 'pingpong', '--ipis', '0', '--duration', '10s', '--adopt', '--run-id', runId, '--nats', url, '--faults', part, '--record', join(dir, 'adopted.rec'), '--trace-file', join(dir, 'adopted.spans'), '--json'], ctlEnv);
    assert.ok(await run.stderrHas(`run ${runId} on NATS`), run.stderr());
    let live = { status: -1, stdout: '', stderr: '' };
    for (let i = 0; i < 30; i++) {
      live = ipiscope('faults', runId, plan, '--nats', url, '--json');
      if (live.status === 0 && Number((JSON.parse(live.stdout) as Record<string, unknown>).generation) > 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(live.status, 0, live.stderr);
    assert.equal((JSON.parse(live.stdout) as Record<string, unknown>).process_faults_not_applicable, 1);
    assert.match(live.stderr, /warning: .*adopted its core processes/);
    assert.equal(await run.exited, 0, run.stderr());
    const v = JSON.parse(run.stdout().trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(v.verdict, 'ok', String(v.invalid_reason));
    assert.equal(v.processes, 4);
    const injected = v.faults_injected as Record<string, number>;
    assert.ok((injected.duplicate ?? 0) > 0, JSON.stringify(injected));
    assert.equal(injected.pause, undefined, 'nothing paused an adopted core');
    assert.ok((injected.partition ?? 0) > 0, `the partition fell in the run: ${JSON.stringify(injected)}`);
    const deadline = Date.now() + 10_000;
    while ([...cores.values()].some(alive) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual([...cores.entries()].filter(([, p]) => alive(p)).map(([n]) => n), [], 'adopted cores exit once their run is over');
    assert.deepEqual(readdirSync(coreTmp), [], 'the cores wrote their records in their own directory, and removed it on exit');

    // The inbox records came over the bus (FileChunk): the run replays from them bit for bit.
    const replay = ipiscope('replay', join(dir, 'adopted.rec'), '--json');
    // So did their span files: every IPI of the run judged from them.
    const judged = ipiscope('analyze', join(dir, 'adopted.spans'), '--json');
    assert.equal(judged.status, 0, judged.stderr);
    const an = JSON.parse(judged.stdout.trim().split('\n').pop() as string) as { ipis: number; ignored: unknown[]; late: unknown[] };
    assert.equal(an.ipis, v.ipis_sent);
    assert.deepEqual([an.ignored, an.late], [[], []]);
    assert.equal(replay.status, 0, `replay differs:\n${replay.stdout}\n${replay.stderr}`);
    const rv = JSON.parse(replay.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(rv.same, true);
    assert.deepEqual(rv.divergences, []);
    assert.equal((rv.verdict as Record<string, unknown>).ipis_handled, v.ipis_handled);
  } finally {
    for (const p of cores.values()) if (alive(p)) p.kill('SIGKILL');
  }
});
