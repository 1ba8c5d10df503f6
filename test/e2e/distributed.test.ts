/**
 * Goal: `ipiscope run` and `ipiscope replay` as a user runs them. A 4-core scenario (pingpong on
 * POWER8: 4 cores x SMT8) runs as 4 core processes over a private nats-server, records every
 * core's inbox, and the replay in one process reproduces its final memory, console and verdict
 * bit for bit. Ctrl-C in the middle of a run leaves no core process and no nats-server behind.
 *
 * Method: the commands are run through a child Node process (the CLI entry registers them as
 * `run` and `replay`; until then the child imports the command objects directly).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { inputsOf, loadInboxes, readRecordFile, writeRecordFile } from '../../services/sim/record-stream.js';
import type { InboxEntry, RunRecord } from '../../services/sim/replay.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testTempDir } from '../harness/temp.js';
import { pidAlive } from '../harness/proc.js';

const DIST = resolve('dist/services/cli');
const SCRIPT =
  `const [c, ...a] = process.argv.slice(1);` +
  `const m = await import(${JSON.stringify(DIST)} + (c === 'run' ? '/cmd-run.js' : '/cmd-replay.js'));` +
  `process.exitCode = await (c === 'run' ? m.runCommand : m.replayCommand).run(a);`;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  assert.ok(line !== undefined, `a JSON line in:\n${out}`);
  return JSON.parse(line) as Record<string, unknown>;
}

test('run a 4-core scenario over NATS, then replay it bit for bit', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-e2e-'));
  try {
    const rec = join(dir, 'pingpong.json');
    const r = cli(['run', 'pingpong', '--ipis', '100', '--record', rec, '--json', '--duration', '60s']);
    assert.equal(r.status, 0, `run failed:\n${r.stdout}\n${r.stderr}`);
    const v = lastJson(r.stdout);
    assert.equal(v.verdict, 'ok');
    assert.equal(v.processes, 4);
    assert.equal(v.end_reason, 'ipis');
    assert.ok((v.ipis_handled as number) >= 100, `handled ${String(v.ipis_handled)}`);
    assert.deepEqual(v.ignored, []);
    // Unpaced, emulated time is on the detectors' clock of distributed runs (100,000 steps a second).
    assert.equal(v.emulated_seconds, Math.round(((v.steps_max as number) / 100_000) * 1000) / 1000);
    // A version-2 record: a header line, then each core's inputs as chunk lines on disk.
    const record = readRecordFile(rec);
    assert.equal(record.cores.length, 4);
    assert.ok(record.cores.every((c) => c.inbox === undefined && c.inboxFile !== undefined), 'the inputs stay on disk until replay reads them');
    assert.ok(record.cores.reduce((s, c) => s + inputsOf(c), 0) > 100, 'the record holds the cores\' inputs');
    assert.equal(loadInboxes(record).cores.reduce((s, c) => s + (c.inbox?.length ?? 0), 0), record.cores.reduce((s, c) => s + inputsOf(c), 0), 'each core\'s count is what its section holds');
    const p = cli(['replay', rec, '--json']);
    assert.equal(p.status, 0, `replay differs:\n${p.stdout}\n${p.stderr}`);
    const q = lastJson(p.stdout);
    assert.equal(q.same, true);
    assert.deepEqual(q.divergences, []);
    assert.equal((q.verdict as Record<string, unknown>).ipis_handled, v.ipis_handled);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run --seeds: the seeds one after the other on the same core processes, a line and a record per seed (each replays), a summary; --expect over all', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-e2e-'));
  try {
    const rec = join(dir, 'pp.json');
    // Every seed ends ok: --expect hang makes the status 1 and names them all.
    const r = cli(['run', 'pingpong', '--seeds', '5,3', '--ipis', '60', '--record', rec, '--json', '--duration', '60s', '--expect', 'hang']);
    assert.equal(r.status, 1, `run --seeds:\n${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 3, r.stdout);
    const [a, b, sum] = lines as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    // In the order given; each judged as a single run is.
    assert.deepEqual([a.seed, b.seed], [5, 3]);
    for (const l of [a, b]) {
      assert.equal(l.verdict, 'ok', JSON.stringify(l));
      assert.equal(l.end_reason, 'ipis');
      assert.ok((l.ipis_handled as number) >= 60, JSON.stringify(l));
      assert.equal(l.ignored, 0);
      assert.equal(l.record, `${rec}.seed-${String(l.seed)}`);
      assert.ok((l.start_ms as number) >= 0 && (l.start_ms as number) <= (l.end_seen_ms as number), JSON.stringify(l));
    }
    assert.equal(sum.swarm, true);
    assert.equal(sum.seeds, 2);
    assert.equal(sum.processes, 4);
    assert.deepEqual(sum.verdicts, { ok: 2 });
    assert.deepEqual(sum.seeds_by_verdict, { ok: [5, 3] });
    assert.equal(sum.expect, 'hang');
    assert.deepEqual(sum.differs, [5, 3]);
    // One set of processes: both records belong to the same run (the id its cores were started with).
    const ra = readRecordFile(`${rec}.seed-5`);
    const rb = readRecordFile(`${rec}.seed-3`);
    assert.equal(ra.runId, sum.run_id);
    assert.equal(rb.runId, sum.run_id);
    assert.deepEqual([(ra.spec as { seed: number }).seed, (rb.spec as { seed: number }).seed], [5, 3]);
    for (const f of [`${rec}.seed-5`, `${rec}.seed-3`]) {
      const p = cli(['replay', f, '--json']);
      assert.equal(p.status, 0, `replay of ${f} differs:\n${p.stdout}\n${p.stderr}`);
      assert.equal(lastJson(p.stdout).same, true);
    }
    assert.ok(!readdirSync(dir).includes('pp.json'), 'no record under the bare name: one per seed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a 16-core run (16 core processes) replays bit for bit from its record', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-e2e-'));
  try {
    // 16 POWER8 cores over two sockets: XICS IPIs across sockets and within them.
    const machine = join(dir, 'm16.yaml');
    writeFileSync(machine, 'name: e2e-16\ncpuModel: power8\nsockets: 2\ncoresPerSocket: 8\nthreadsPerCore: 8\n');
    const cpus = Array.from({ length: 16 }, (_, c) => c * 8).join(',');
    const scenario = join(dir, 'pingpong16.yaml');
    writeFileSync(scenario, [
      'name: pingpong-16', `machine: ${machine}`, 'kernel: v5.4', 'kvm: false',
      'memory: { storeDelayProb: 0.2, storeDelayTicksMax: 50 }',
      `workload: { hostCpus: "${cpus}", hostMix: { crosscall: 1 }, crossCallPool: "${cpus}", crossCallPeers: 2, crossCallTargetsMax: 1 }`,
      'limits: { ipis: 160 }', '',
    ].join('\n'));
    const rec = join(dir, 'pp16.json');
    const r = cli(['run', scenario, '--record', rec, '--json', '--duration', '90s']);
    assert.equal(r.status, 0, `run failed:\n${r.stdout}\n${r.stderr}`);
    const v = lastJson(r.stdout);
    assert.equal(v.verdict, 'ok', r.stdout);
    assert.equal(v.processes, 16);
    assert.equal(v.cores, 16);
    // Tick 0 comes after spawning, before the end was seen, which is before the run's end.
    const startMs = v.start_ms as number;
    assert.ok(startMs > 0 && startMs < (v.end_seen_ms as number) && (v.end_seen_ms as number) <= (v.wall_ms as number), `start_ms ${startMs}, end_seen_ms ${String(v.end_seen_ms)}, wall_ms ${String(v.wall_ms)}`);
    assert.ok((v.ipis_handled as number) >= 160, `handled ${String(v.ipis_handled)}`);
    const record = readRecordFile(rec);
    assert.equal(record.cores.length, 16);
    assert.ok(record.cores.every((c) => inputsOf(c) > 0), 'every core took inputs');
    const p = cli(['replay', rec, '--json']);
    assert.equal(p.status, 0, `replay differs:\n${p.stdout}\n${p.stderr}`);
    const q = lastJson(p.stdout);
    assert.equal(q.same, true);
    assert.equal(q.final_memory_same, true);
    assert.equal(q.verdict_same, true);
    assert.deepEqual(q.divergences, []);
    assert.equal((q.verdict as Record<string, unknown>).ipis_handled, v.ipis_handled);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tampered record is reported as a divergence, not replayed silently', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-e2e-'));
  try {
    const rec = join(dir, 'pp.json');
    const r = cli(['run', 'pingpong', '--ipis', '20', '--record', rec, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const record = loadInboxes(readRecordFile(rec));
    const entry = record.cores.flatMap((c) => c.inbox ?? [])[0];
    assert.ok(entry !== undefined);
    (entry[3] as { clock: number }).clock += 1_000_000;
    writeRecordFile(rec, record);
    const p = cli(['replay', rec, '--json']);
    assert.equal(p.status, 1);
    const q = lastJson(p.stdout);
    assert.equal(q.same, false);
    assert.ok((q.divergences as string[]).length > 0, p.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt record is an input error naming the file and the place, exit 2: never a stack trace, never the same', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipiscope-e2e-'));
  try {
    const rec = join(dir, 'pp.rec');
    const r = cli(['run', 'pingpong', '--ipis', '20', '--record', rec, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const bin = join(process.cwd(), 'bin', 'ipiscope.js');
    const replay = (file: string): { status: number | null; stdout: string; stderr: string } => {
      const p = spawnSync(process.execPath, [bin, 'replay', file, '--json'], { encoding: 'utf8', timeout: 180_000 });
      return { status: p.status, stdout: p.stdout, stderr: p.stderr };
    };
    assert.equal(replay(rec).status, 0, 'the record as written replays');
    type Core = RunRecord['cores'][number] & { drainStep?: number };
    const corrupt = (name: string, edit: (r: RunRecord & { cores: Core[] }) => void): string => {
      const record = loadInboxes(readRecordFile(rec)) as RunRecord & { cores: Core[] };
      edit(record);
      const file = join(dir, `${name}.rec`);
      writeRecordFile(file, record);
      return file;
    };
    const core = (rc: RunRecord & { cores: Core[] }, id: number): Core & { inbox: InboxEntry[] } => rc.cores.find((c) => c.core === id) as Core & { inbox: InboxEntry[] };
    const cases: Array<[string, (r: RunRecord & { cores: Core[] }) => void, RegExp]> = [
      ['out-of-order', (rc) => {
        const inbox = core(rc, 0).inbox;
        const k = inbox.findIndex((e, i) => i >= inbox.length / 2 && (inbox[i - 1]?.[0] ?? 0) > 0);
        (inbox[k] as InboxEntry)[0] = (inbox[k - 1] as InboxEntry)[0] - 1;
      }, /core 0, line \d+ of its inputs, entry \d+ \(input \d+ of the core\): step \d+ comes before step \d+ of the input before it/],
      ['past-the-end', (rc) => {
        const c = core(rc, 1);
        (c.inbox[c.inbox.length - 1] as InboxEntry)[0] = c.endStep + 10;
      }, /core 1, line \d+ of its inputs, entry \d+ \(input \d+ of the core\): step \d+ is after the core's end step \d+/],
      ['end-lowered', (rc) => {
        const c = core(rc, 0);
        assert.ok(c.drainStep !== undefined && c.drainStep > 0, 'a drained run');
        c.endStep = c.drainStep - 1;
      }, /:1: core 0: drain step \d+ after the end step \d+: the record is inconsistent/],
      ['seed', (rc) => {
        (rc.spec as { seed: number }).seed += 1;
      }, /: the record does not replay: .* \(a corrupt record, or one made by another version\)$/m],
    ];
    for (const [name, edit, why] of cases) {
      const file = corrupt(name, edit);
      const p = replay(file);
      assert.equal(p.status, 2, `${name}: ${p.stdout}\n${p.stderr}`);
      assert.ok(p.stderr.startsWith(`ipiscope replay: ${file}`), `${name}: names the file: ${p.stderr}`);
      assert.match(p.stderr, why, name);
      assert.doesNotMatch(p.stderr, /^\s+at /m, `${name}: no stack trace`);
      assert.doesNotMatch(p.stdout, /"same":true/, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Pids of live processes whose parent is `ppid` and whose command line contains `needle`. */
function childrenOf(ppid: number, needle: string): number[] {
  const r = spawnSync('ps', ['-eo', 'pid,ppid,args'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === ppid && f.slice(2).join(' ').includes(needle))
    .map((f) => Number(f[0]));
}

const alive = pidAlive;

/** A 60 s pingpong run in a child process with a temp dir of its own, once its 4 cores run. */
async function runningPingpong(): Promise<{ child: ChildProcess; tmp: string; cores: number[]; nats: number[] }> {
  // The run's own temp dir, so that what it leaves can be seen (its record directory, the server's).
  const tmp = mkdtempSync(join(tmpdir(), 'ipiscope-e2e-tmp-'));
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, 'run', 'pingpong', '--ipis', '0', '--duration', '60s'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp },
  });
  const pid = child.pid as number;
  // Killed during the run, not while its cores are still loading: the run says its NATS URL once
  // every core has registered.
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  let cores: number[] = [];
  const deadline0 = Date.now() + 60_000;
  while ((cores.length < 4 || !/^run \S+ on NATS /m.test(stderr)) && Date.now() < deadline0) {
    await new Promise((r) => setTimeout(r, 100));
    cores = childrenOf(pid, 'services/core/main');
  }
  assert.equal(cores.length, 4, 'four core processes run');
  // Untraced, they start from the bundle `npm run build` made (scripts/bundle-core.mjs).
  assert.equal(childrenOf(pid, 'services/core/main.bundle.js').length, 4, 'the cores start from the core bundle');
  assert.match(stderr, /^run \S+ on NATS /m, 'the run started');
  return { child, tmp, cores, nats: childrenOf(pid, 'nats-server') };
}

test('Ctrl-C during a run leaves no core process, no nats-server and no temporary directory behind', { timeout: 120_000 }, async () => {
  const { child, tmp, cores, nats } = await runningPingpong();
  assert.equal(nats.length, 1, 'the run started its private nats-server');
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  const code = await exited;
  assert.notEqual(code, 0, 'an interrupted run does not claim success');
  const all = [...cores, ...nats];
  const deadline = Date.now() + 5000;
  while (all.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(all.filter(alive), [], 'no core process and no nats-server of the run survives');
  try {
    assert.deepEqual(readdirSync(tmp), [], 'the run removed its temporary directories on the way out');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a controller killed outright (SIGKILL) leaves no core process behind: spawned cores watch their parent', { timeout: 120_000 }, async () => {
  const { child, tmp, cores, nats } = await runningPingpong();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
  try {
    const deadline = Date.now() + 5000;
    while (cores.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(cores.filter(alive), [], 'the cores saw their parent go and exited');
  } finally {
    // The private nats-server has no such guard (it is not ours): the test ends it.
    for (const p of [...cores, ...nats]) if (alive(p)) process.kill(p, 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a core killed by the fault plan: invalid with the reason, no wait for the dead process, a record that says it cannot be replayed', { timeout: 120_000 }, () => {
  const dir = testTempDir('ipiscope-e2e-');
  const plan = join(dir, 'kill.yaml');
  writeFileSync(plan, 'faults:\n  - { type: kill, core: 1, at_ms: 1500 }\n');
  const rec = join(dir, 'kill.rec');
  const r = cli(['run', 'pingpong', '--ipis', '0', '--duration', '10s', '--faults', plan, '--record', rec, '--json']);
  assert.equal(r.status, 2, r.stderr);
  const v = lastJson(r.stdout);
  assert.equal(v.verdict, 'invalid');
  assert.match(String(v.invalid_reason), /^core 1 was killed by the fault plan \d+ ms into the run \(its at_ms: 1500\): its threads, its homes and its links are gone/);
  // The stop deadline (20 s) is not spent waiting for the results of the process it killed.
  assert.ok((v.wall_ms as number) < 20_000, `wall ${String(v.wall_ms)} ms`);
  // Through the CLI's entry point, which turns the input error into a message and exit 2.
  const p = spawnSync(process.execPath, [resolve('bin/ipiscope.js'), 'replay', rec], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(p.status, 2, p.stderr);
  assert.match(p.stderr, /holds no inputs of core 1: a run that lost a core process cannot be replayed/);
});

test('a core killed while the controller is asking it for its status: the plan\'s reason, not a core that stopped answering', { timeout: 120_000 }, () => {
  // The pause holds core 1 from 1,000 ms, so a status wave is waiting on it when the kill comes:
  // that wave then fails on the dead core (CI saw it once without the pause).
  const dir = testTempDir('ipiscope-e2e-');
  const plan = join(dir, 'kill-mid-wave.yaml');
  writeFileSync(plan, 'faults:\n  - { type: pause, core: 1, at_ms: 1000, duration_ms: 3000 }\n  - { type: kill, core: 1, at_ms: 1500 }\n');
  const r = cli(['run', 'pingpong', '--ipis', '0', '--duration', '10s', '--faults', plan, '--json']);
  assert.equal(r.status, 2, r.stderr);
  const v = lastJson(r.stdout);
  assert.equal(v.verdict, 'invalid');
  assert.match(String(v.invalid_reason), /^core 1 was killed by the fault plan \d+ ms into the run \(its at_ms: 1500\)/);
});

test('a traced storm (not drained) is judged by the analyzer with the settle time of its verdict: the same ignored set', { timeout: 120_000 }, () => {
  // v3.19 storms in about 3 runs of 4 (then it ends at once, not drained); one that does not runs
  // its 10 s and is drained. Either way the analyzer's set from the spans equals the run's.
  const dir = testTempDir('ipiscope-e2e-');
  const r = cli(['run', 'offline-doorbell-2015', '--kernel', 'v3.19', '--duration', '10s', '--trace-file', join(dir, 'storm.spans'), '--json']);
  const v = lastJson(r.stdout);
  assert.ok(v.verdict === 'storm' || v.verdict === 'ok', `${r.stderr}\n${String(v.verdict)}`);
  assert.equal(v.drained, v.verdict !== 'storm');
  const t = v.trace as { agrees: boolean; only_run: string[]; only_trace: string[]; spans: number };
  assert.ok(t.spans > 0);
  assert.equal(t.agrees, true, `only in the run: ${t.only_run.join(' ')}; only in the trace: ${t.only_trace.join(' ')}`);
});
