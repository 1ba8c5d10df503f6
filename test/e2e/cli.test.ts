/**
 * The CLI as a user runs it: `bin/ipiscope.js` in a child process. Checks the help, the litmus
 * command's JSON contract and determinism, and how bad input is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandList } from '../../services/cli/main.js';
import { testTempDir } from '../harness/temp.js';
import { resolveScenario, runSim } from '../../services/sim/index.js';

const bin = join(process.cwd(), 'bin', 'ipiscope.js');

function ipiscope(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('ipiscope --help lists every subcommand with an example', () => {
  const r = ipiscope('--help');
  assert.equal(r.status, 0);
  const names = commandList().map((c) => c.name);
  assert.ok(names.includes('litmus') && names.includes('bench'));
  for (const c of commandList()) {
    assert.match(r.stdout, new RegExp(`^  ${c.name} `, 'm'), `${c.name} missing from --help`);
    assert.ok(r.stdout.includes(c.example), `example of ${c.name} missing`);
  }
  // No command at all is a usage error: the help goes where errors go.
  const none = ipiscope();
  assert.equal(none.status, 2);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /^Usage: ipiscope <command>/m);
});

test('bench prints a figure with its bar, and as JSON with the bar field', () => {
  const human = ipiscope('bench', 'doorbell.rtt_us');
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /^doorbell\.rtt_us +[0-9.]+ us +\(bar_us 20\)$/m);
  const json = ipiscope('bench', 'doorbell.rtt_us', '--json');
  assert.equal(json.status, 0, json.stderr);
  const f = JSON.parse(json.stdout.trim()) as { bench: string; value: number; unit: string; bar_us: number };
  assert.equal(f.bench, 'doorbell.rtt_us');
  assert.equal(f.unit, 'us');
  assert.equal(f.bar_us, 20);
  assert.ok(f.value > 0);
});

test('litmus --json: one object per test per line, with the contract fields, byte-identical per seed', () => {
  const args = ['litmus', 'test/litmus/MP.litmus', 'test/litmus/SB+syncs.litmus', '--runs', '3000', '--seed', '42', '--json'];
  const a = ipiscope(...args);
  const b = ipiscope(...args);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout, 'same seed, different output');
  const lines = a.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  for (const o of lines) {
    assert.equal(typeof o.name, 'string');
    assert.equal(o.runs, 3000);
    assert.equal(typeof o.hits, 'number');
    const outcomes = o.outcomes as Record<string, number>;
    assert.equal(Object.values(outcomes).reduce((s, n) => s + n, 0), 3000);
  }
  assert.equal(lines[0]?.name, 'MP');
  assert.ok((lines[0]?.hits as number) > 0, 'MP relaxed outcome not observed');
  assert.equal(lines[1]?.name, 'SB+syncs');
  assert.equal(lines[1]?.hits, 0);
  const c = ipiscope(...args.slice(0, -3), '--seed', '43', '--json');
  assert.notEqual(c.stdout, a.stdout, 'another seed gave the same histogram');
});

test('a malformed litmus file: a clear error with file and line, exit 2, the other files still run', () => {
  const dir = testTempDir('ipiscope-e2e-');
  const bad = join(dir, 'bad.litmus');
  writeFileSync(bad, 'PPC bad\n{\n0:r2=x;\n}\n P0 ;\n frob r1,0(r2) ;\nexists (0:r1=1)\n');
  const r = ipiscope('litmus', bad, 'test/litmus/MP.litmus', '--runs', '50', '--json');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.litmus:6: /);
  assert.match(r.stderr, /frob/);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0] as string) as { name: string }).name, 'MP');
});

test('bad flags and commands are usage errors that name the problem', () => {
  const r = ipiscope('litmus', 'test/litmus/MP.litmus', '--placment', 'smt');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--placment/);
  assert.match(r.stderr, /--placement/);
  const p = ipiscope('litmus', 'test/litmus/MP.litmus', '--placement', 'numa');
  assert.equal(p.status, 2);
  assert.match(p.stderr, /cores/);
  const u = ipiscope('frobnicate');
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown command 'frobnicate'/);
  // bisect: seed lists as sim takes them (an empty entry is an error, not seed 0); versions named.
  const b = ipiscope('bisect', 'host-ipi-2019', '--good', 'v5.4', '--bad', 'v5.3', '--seeds', '1,,2');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--seeds "1,,2": "" is not a seed or a range/);
  const g = ipiscope('bisect', 'host-ipi-2019', '--good', 'v9', '--bad', 'v5.3');
  assert.equal(g.status, 2);
  assert.match(g.stderr, /--good v9 is not a kernel version; give one of v3\.5, v3\.6/);
  // watchdog_thresh: the kernel's range of a soft-lockup threshold we can report (1-60 s).
  for (const cmd of ['sim', 'run']) {
    const w = ipiscope(cmd, 'host-ipi-2019', '--watchdog-thresh', '0');
    assert.equal(w.status, 2, `${cmd}: ${w.stderr}`);
    assert.match(w.stderr, /--watchdog-thresh: must be an integer from 1 to 60 \(got "0"\)/);
    const h = ipiscope(cmd, 'wake-list-2012', '--hung-task-timeout', '0');
    assert.equal(h.status, 2, h.stderr);
    assert.match(h.stderr, /--hung-task-timeout: must be an integer from 1 to 600 \(got "0"\)/);
    // The kernel selection of sim, in run too.
    const kp = ipiscope(cmd, 'pingpong', '--kernel', 'v3.6', '--patches', '9fb1b36ca123');
    assert.equal(kp.status, 2, kp.stderr);
    assert.match(kp.stderr, /give --kernel or --patches, not both/);
    const rv = ipiscope(cmd, 'pingpong', '--kernel', 'v3.5', '--revert', '755563bc79c7');
    assert.equal(rv.status, 2, rv.stderr);
    assert.match(rv.stderr, /--revert 755563bc79c7: patch 755563bc79c7 is not in v3\.5/);
  }
  // run --seeds: sim's seed lists; not traced; --seed or --seeds (before anything starts).
  const rs = ipiscope('run', 'pingpong', '--seeds', '1,,2');
  assert.equal(rs.status, 2, rs.stderr);
  assert.match(rs.stderr, /--seeds "1,,2": "" is not a seed or a range/);
  const rt = ipiscope('run', 'pingpong', '--seeds', '1-2', '--trace-file', 'spans.jsonl');
  assert.equal(rt.status, 2, rt.stderr);
  assert.match(rt.stderr, /--seeds: a swarm is not traced; trace one seed of it with --seed N --trace-file F/);
  const rb = ipiscope('run', 'pingpong', '--seeds', '1-2', '--seed', '3');
  assert.equal(rb.status, 2, rb.stderr);
  assert.match(rb.stderr, /--seed.*--seeds|--seeds.*--seed/);
  const re = ipiscope('run', 'pingpong', '--expect', 'lost');
  assert.equal(re.status, 2, re.stderr);
  assert.match(re.stderr, /--expect/);
});

test('litmus --mode nats: each run a machine of real core processes over a private nats-server; Forbidden never, SB relaxed', () => {
  const r = ipiscope('litmus', '--mode', 'nats', 'test/litmus/SB+syncs.litmus', 'test/litmus/IRIW+syncs.litmus', 'test/litmus/SB.litmus', '--runs', '30', '--json');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((o) => o.name), ['SB+syncs', 'IRIW+syncs', 'SB']);
  for (const o of lines) {
    assert.equal(o.mode, 'nats');
    assert.equal(o.runs, 30);
    assert.equal(o.invalid, 0, `${String(o.name)}: ${String(o.invalid_reason)}`);
    assert.equal(Object.values(o.outcomes as Record<string, number>).reduce((a, b) => a + b, 0), 30);
  }
  assert.equal(lines[0]?.hits, 0, 'SB+syncs: the forbidden outcome over NATS');
  assert.equal(lines[1]?.hits, 0, 'IRIW+syncs: the forbidden outcome over NATS (4 core processes)');
  assert.ok((lines[2]?.hits as number) > 0, `SB: the relaxed outcome is allowed and the bus is not SC; 30 runs gave ${JSON.stringify(lines[2]?.outcomes)}`);
});

test('litmus --mode nats: a thread spinning on a lock while the release crosses the bus stays within the default instruction bound', () => {
  const r = ipiscope('litmus', '--mode', 'nats', 'test/fixtures/litmus-extra/ATOM-isync-lock.litmus', '--runs', '60', '--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  assert.equal(o.invalid, 0, String(o.invalid_reason));
  assert.equal(o.hits, 0, 'the lock lost an increment');
});

test('litmus: a test that accesses no location at run time is an input error in both modes; the next test runs; exit 2', () => {
  const dir = testTempDir('ipiscope-e2e-');
  const bad = join(dir, 'uninit.litmus');
  // r2 is never set: the store goes to address 0, which is no location.
  writeFileSync(bad, 'PPC uninit\n{ x=0; }\n P0 ;\n li r1,1 ;\n stw r1,0(r2) ;\nexists (x=1)\n');
  for (const mode of ['sim', 'nats']) {
    const r = ipiscope('litmus', '--mode', mode, bad, 'test/litmus/MP.litmus', '--runs', '5', '--json');
    assert.equal(r.status, 2, `${mode}: ${r.stderr}`);
    assert.match(r.stderr, /uninit\.litmus:5: thread P0: stw accesses address 0, which is no location/, mode);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((o) => o.name), ['MP'], mode);
    assert.equal(lines[0]?.invalid, 0, `${mode}: the next test on the same processes: ${String(lines[0]?.invalid_reason)}`);
    assert.equal(Object.values(lines[0]?.outcomes as Record<string, number>).reduce((a, b) => a + b, 0), 5);
  }
});

test('litmus: with no valid run there is no verdict; --instr-max lets a longer loop finish', () => {
  const dir = testTempDir('ipiscope-e2e-');
  const loop = join(dir, 'count.litmus');
  writeFileSync(loop, 'PPC count\n{ }\n P0 ;\n li r1,0 ;\n L: addi r1,r1,1 ;\n cmpwi r1,5000 ;\n blt L ;\nforall (0:r1=5000)\n');
  const r = ipiscope('litmus', loop, '--runs', '3');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^Undetermined$/m);
  assert.doesNotMatch(r.stdout, /^Ok$/m);
  assert.match(r.stdout, /Observation count Undetermined 0 0/);
  assert.match(r.stdout, /ran past 10000 instructions \(a loop that never exits, or one longer than --instr-max\)/);
  const j = JSON.parse(ipiscope('litmus', loop, '--runs', '3', '--json').stdout.trim()) as Record<string, unknown>;
  assert.equal(j.verdict, 'Undetermined');
  const ok = ipiscope('litmus', loop, '--runs', '3', '--instr-max', '20000', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const o = JSON.parse(ok.stdout.trim()) as Record<string, unknown>;
  assert.equal(o.verdict, 'Ok');
  assert.equal(o.hits, 3);
});

test('run --faults: a plan naming a core the machine lacks is refused with its line before anything starts', () => {
  const dir = testTempDir('ipiscope-e2e-');
  const plan = join(dir, 'beyond.yaml');
  writeFileSync(plan, 'version: 1\nfaults:\n  - { type: latency, latency_ms: 1 }\n  - { type: drop, dst: 42, probability: 0.1 }\n');
  const r = ipiscope('run', 'pingpong', '--duration', '2s', '--faults', plan);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /beyond\.yaml:4: faults\[1\] \(drop\)\.dst: core 42 does not exist; the run has 4 cores \(0-3\)/);
  assert.doesNotMatch(r.stderr, /core processes/, 'no process was started');
});

test('run --faults drop on memory traffic: lost on the wire, repaired, the machine goes on (never wedged and judged ok)', () => {
  const dir = testTempDir('ipiscope-e2e-');
  const plan = join(dir, 'drop.yaml');
  writeFileSync(plan, 'version: 1\nfaults:\n  - { type: drop, class: memory, probability: 0.1 }\n');
  const r = ipiscope('run', 'pingpong', '--ipis', '100', '--duration', '60s', '--faults', plan, '--json');
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { verdict: string; end_reason: string; ipis_handled: number; bus: Record<string, number>; faults_injected: Record<string, number> };
  assert.equal(v.verdict, 'ok');
  assert.equal(v.end_reason, 'ipis');
  assert.ok(v.ipis_handled >= 100);
  assert.ok((v.faults_injected.drop ?? 0) > 10, `drops injected: ${JSON.stringify(v.faults_injected)}`);
  assert.equal(v.bus.lostOnWire, v.faults_injected.drop, 'every dropped memory message was lost on the wire only');
  assert.equal(v.bus.repairedByRetransmit, v.bus.lostOnWire, 'and came by repair');
  assert.equal(v.bus.plannedDrops ?? 0, 0);
  // And by link: pingpong's two links carry them all.
  const byLink = (v as unknown as { faults_by_link: Record<string, Record<string, number>> }).faults_by_link;
  assert.deepEqual(Object.keys(byLink).sort(), ['0->1', '1->0']);
  assert.equal(Object.values(byLink).reduce((a, k) => a + (k.drop ?? 0), 0), v.faults_injected.drop);
});

test('run --tick-us: the emulated seconds are counted on the paced clock (the detectors\' one), not the unpaced one', () => {
  const r = ipiscope('run', 'pingpong', '--tick-us', '1000', '--duration', '2s', '--json');
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { steps_max: number; emulated_seconds: number; time_scale: { ticks_per_second: number } };
  assert.equal(v.time_scale.ticks_per_second, 20_000, 'pingpong keeps its own clock when paced');
  assert.equal(v.emulated_seconds, Math.round((v.steps_max / 20_000) * 1000) / 1000);
});

test('run --ticks-max: a bound on emulated time, as sim\'s; the run ends past it (not at the duration), drained, and says what an ok covers', () => {
  // Paced at 1 ms per tick, 1,500 ticks take 1.5 s of the 60 s bound.
  const r = ipiscope('run', 'pingpong', '--tick-us', '1000', '--ticks-max', '1500', '--duration', '60s', '--json');
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { verdict: string; end_reason: string; drained: boolean; steps_max: number; wall_ms: number };
  assert.equal(v.verdict, 'ok');
  assert.equal(v.end_reason, 'steps-max');
  assert.equal(v.drained, true);
  assert.ok(v.steps_max >= 1500, `the furthest core passed the bound (${v.steps_max})`);
  const h = ipiscope('run', 'pingpong', '--tick-us', '1000', '--ticks-max', '1500', '--duration', '60s');
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /verdict: OK \(steps-max\)/);
  assert.match(h.stdout, /ok means: no IPI was ignored and no CPU hung in the [\d.]+ emulated s that ran/);
  const z = ipiscope('run', 'pingpong', '--ticks-max', '0');
  assert.equal(z.status, 2, z.stderr);
  assert.match(z.stderr, /--ticks-max/);
});

test('sim: --sample without tracing is refused; spans an OTLP endpoint never took are reported, the verdict stands', () => {
  const s = ipiscope('sim', 'pingpong', '--sample', '0.5');
  assert.equal(s.status, 2);
  assert.match(s.stderr, /--sample needs --trace-file or --otlp/);
  // Port 9 (discard) on loopback: nothing listens, every export fails.
  const r = ipiscope('sim', 'pingpong', '--ipis', '30', '--otlp', 'http://127.0.0.1:9/v1/traces', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: (\d+) of \1 spans were not delivered to http:\/\/127\.0\.0\.1:9\/v1\/traces/);
  const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  assert.equal(v.verdict, 'ok');
  assert.ok((v.trace_spans_dropped as number) > 0);
});

test('litmus and run: a NATS nobody serves, or --nats without the nats mode, is a clear error (exit 2)', () => {
  const l = ipiscope('litmus', '--mode', 'nats', '--nats', 'nats://127.0.0.1:9', 'test/litmus/MP.litmus', '--runs', '2');
  assert.equal(l.status, 2);
  assert.match(l.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:9/);
  assert.doesNotMatch(l.stderr, /at .*node_modules/, 'no stack trace');
  const r = ipiscope('run', 'pingpong', '--nats', 'nats://127.0.0.1:9', '--ipis', '5');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:9/);
  const s = ipiscope('litmus', '--nats', 'nats://127.0.0.1:4222', 'test/litmus/MP.litmus', '--runs', '2');
  assert.equal(s.status, 2);
  assert.match(s.stderr, /--nats: only with --mode nats/);
});

test('sim --seeds: a swarm over worker threads, per-seed lines as the single runs give them, a summary, --expect over all', () => {
  const strip = (l: string): Record<string, unknown> => {
    const { wall_ms: _w, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return rest;
  };
  const a = ipiscope('sim', 'host-ipi-2019', '--kernel', 'v5.3', '--seeds', '3,5-6', '--expect', 'hang', '--json');
  assert.equal(a.status, 0, a.stderr);
  const lines = a.stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  const perSeed = lines.slice(0, 3).map(strip);
  assert.deepEqual(perSeed.map((o) => o.seed), [3, 5, 6], 'in seed order');
  const summary = JSON.parse(lines[3] as string) as Record<string, unknown>;
  assert.equal(summary.swarm, true);
  assert.deepEqual(summary.verdicts, { hang: 3 });
  assert.deepEqual(summary.differs, []);
  // The same seed alone gives the same run.
  const one = JSON.parse(ipiscope('sim', 'host-ipi-2019', '--kernel', 'v5.3', '--seed', '5', '--json').stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  const five = perSeed[1] as Record<string, unknown>;
  for (const k of ['verdict', 'ipis_sent', 'ipis_handled', 'ticks', 'emulated_seconds']) assert.deepEqual(five[k], one[k], k);
  assert.equal(five.ignored, (one.ignored as unknown[]).length);
  assert.equal((five.first_ignored as Record<string, unknown>).ipi_id, (one.ignored as Array<Record<string, unknown>>)[0]?.ipi_id);
  assert.equal((five.first_ignored as Record<string, unknown>).name, 'CALL_FUNCTION');
  // One worker or several: the same lines.
  const b = ipiscope('sim', 'host-ipi-2019', '--kernel', 'v5.3', '--seeds', '3,5-6', '--jobs', '1', '--json');
  assert.deepEqual(b.stdout.trim().split('\n').slice(0, 3).map(strip), perSeed);
  // --expect over the swarm: every seed that differs is named, exit 1.
  const c = ipiscope('sim', 'host-ipi-2019', '--kernel', 'v5.3', '--seeds', '3,5', '--expect', 'ok');
  assert.equal(c.status, 1);
  assert.match(c.stdout, /not ok: seeds 3, 5/);
  for (const [args, msg] of [
    [['--seeds', '5-3'], /not a range/],
    [['--seeds', '1,x'], /"x" is not a seed/],
    [['--seeds', '1-3', '--seed', '2'], /--seed or --seeds/],
    [['--jobs', '2'], /--jobs: only with --seeds/],
  ] as const) {
    const r = ipiscope('sim', 'pingpong', ...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, msg);
  }
});

test('sim --trace-file --json: the ignored IPI carries its trace id, and the analyzer agrees with the machine', () => {
  const dir = testTempDir('ipiscope-cli-trace-');
  const file = join(dir, 'h.jsonl');
  const r = ipiscope('sim', 'host-ipi-2019', '--kernel', 'v5.3', '--seed', '3', '--trace-file', file, '--json');
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
    verdict: string;
    ipis_sent: number;
    ignored: Array<{ ipi_id: string; trace_id: string }>;
    trace: { ipis: number; ignored: string[]; agrees: boolean };
  };
  assert.equal(v.verdict, 'hang');
  assert.ok(v.ignored.length > 0);
  for (const i of v.ignored) assert.match(i.trace_id, /^[0-9a-f]{32}$/, `${i.ipi_id} has a trace id`);
  assert.equal(v.trace.agrees, true);
  assert.equal(v.trace.ipis, v.ipis_sent);
  assert.deepEqual(v.trace.ignored, v.ignored.map((i) => i.ipi_id).sort());
  const a = ipiscope('analyze', file, '--json');
  const an = JSON.parse(a.stdout.trim().split('\n').pop() as string) as { ignored: Array<{ ipi_id: string; trace_id: string }> };
  assert.deepEqual(an.ignored.map((i) => [i.ipi_id, i.trace_id]), v.ignored.map((i) => [i.ipi_id, i.trace_id]));
});

test('run --record where it cannot be written: a usage error naming the path before anything starts, exit 2, no directory made', () => {
  const dir = testTempDir('ipiscope-cli-record-');
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const cases: Array<[string, RegExp]> = [
    [join(file, 'r.rec'), /--record \S+a-file\/r\.rec: \S+a-file is not a directory/],
    ['/nonexistent-ipiscope-dir/sub/r.rec', /--record \/nonexistent-ipiscope-dir\/sub\/r\.rec: the directory \/nonexistent-ipiscope-dir\/sub does not exist/],
    // Node's recursive mkdir never returns on /proc: the controller spun there after the run.
    ['/proc/nope/r.rec', /--record \/proc\/nope\/r\.rec: the directory \/proc\/nope does not exist/],
    [dir, /--record \S+ is a directory/],
  ];
  for (const [rec, why] of cases) {
    const r = spawnSync(process.execPath, [bin, 'run', 'pingpong', '--ipis', '20', '--duration', '20s', '--record', rec], { encoding: 'utf8', timeout: 90_000, killSignal: 'SIGKILL' });
    assert.equal(r.status, 2, `${rec}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    assert.equal(r.stdout, '', `${rec}: nothing ran`);
  }
  assert.equal(existsSync('/nonexistent-ipiscope-dir'), false, 'the missing directory was not made');
});

test('sim --trace-file into a directory that does not exist: a usage error before the run, exit 2', () => {
  const r = ipiscope('sim', 'pingpong', '--ipis', '50', '--trace-file', '/nonexistent-ipiscope-dir/t.jsonl');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot open trace file \/nonexistent-ipiscope-dir\/t\.jsonl/);
  assert.equal(r.stdout, '', 'nothing ran');
});

test('a scenario file naming CPUs its machine lacks: sim, sim --seeds and run refuse it before anything starts, with file, line and field (exit 2)', () => {
  const dir = testTempDir('ipiscope-e2e-scenario-');
  const file = join(dir, 's.yaml');
  writeFileSync(file, 'name: s\nmachine: power9\nkernel: v5.3\nworkload:\n  hostCpus: "0-3,200"\n');
  const message = `${file}:5: field workload.hostCpus: CPU 200 does not exist on power9 (CPUs 0-15)`;
  for (const args of [['sim', file, '--seed', '1'], ['sim', file, '--seeds', '1-2'], ['run', file, '--duration', '5s']]) {
    const t0 = Date.now();
    const r = ipiscope(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `ipiscope ${args[0]}: ${message}\n`, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
    // `run` refuses before it starts a nats-server or a core process (a start takes seconds).
    assert.ok(Date.now() - t0 < 10_000, `${args.join(' ')} took ${Date.now() - t0} ms`);
  }
});

test('sim --no-demux-read-relaxed turns the scenario\'s ablation off, --demux-read-relaxed on; unset keeps the scenario\'s', () => {
  const last = (r: { status: number; stdout: string; stderr: string }): Record<string, unknown> => {
    assert.equal(r.status, 0, r.stderr);
    const { wall_ms: _w, ...v } = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
    return v;
  };
  const inProcess = (name: string, demuxReadRelaxed: boolean): Record<string, unknown> => {
    const { console: _c, proc_interrupts: _p, explanation: _e, wall_ms: _w, ...v } = runSim(resolveScenario(name), { kernel: 'v5.3', seed: 37, demuxReadRelaxed });
    return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
  };
  const args = ['--kernel', 'v5.3', '--seed', '37', '--json'];
  const clearOn = inProcess('host-ipi-2019-clear', true);
  const clearOff = inProcess('host-ipi-2019-clear', false);
  assert.notDeepEqual(clearOn, clearOff, 'seed 37 runs differently with and without the ablation');
  assert.deepEqual(last(ipiscope('sim', 'host-ipi-2019-clear', ...args)), clearOn);
  assert.deepEqual(last(ipiscope('sim', 'host-ipi-2019-clear', ...args, '--no-demux-read-relaxed')), clearOff);
  assert.deepEqual(last(ipiscope('sim', 'host-ipi-2019', ...args, '--demux-read-relaxed')), { ...inProcess('host-ipi-2019', true) });
  // A swarm's workers get the same switch.
  const swarm = ipiscope('sim', 'host-ipi-2019-clear', '--kernel', 'v5.3', '--seeds', '37', '--no-demux-read-relaxed', '--json');
  assert.equal(swarm.status, 0, swarm.stderr);
  const seed = JSON.parse(swarm.stdout.split('\n')[0] as string) as Record<string, unknown>;
  assert.equal(seed.ipis_sent, clearOff.ipis_sent);
  assert.equal(seed.ticks, clearOff.ticks);
});

test('a reader that stops early (| head -1): the CLI exits quietly, no EPIPE stack trace, status 141 as for SIGPIPE', async () => {
  // As `ipiscope sim host-ipi-2019 --kernel v5.3 --seeds 1-3 --jobs 1 | head -1`: the pipe is
  // closed after the first line, and the next seed's line (seconds later) meets it closed.
  const child = spawn(process.execPath, [bin, 'sim', 'host-ipi-2019', '--kernel', 'v5.3', '--seeds', '1-3', '--jobs', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('\n')) child.stdout.destroy();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [status] = (await once(child, 'exit')) as [number | null];
  assert.match(stdout, /^seed +1 +HANG/);
  assert.equal(stderr, '');
  assert.equal(status, 141);
});

test('IPISCOPE_SEED is --seed\'s default: not read, nor checked, when --seeds is given', () => {
  const run = (env: Record<string, string>, ...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, 'sim', 'pingpong', '--ipis', '50', '--json', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const swarm = run({ IPISCOPE_SEED: '-3' }, '--seeds', '1');
  assert.equal(swarm.status, 0, swarm.stderr);
  assert.equal((JSON.parse(swarm.stdout.split('\n')[0] as string) as { seed: number }).seed, 1);
  const one = run({ IPISCOPE_SEED: '-3' });
  assert.equal(one.status, 2);
  assert.match(one.stderr, /IPISCOPE_SEED: must be an integer >= 0 \(got "-3"\)/);
  assert.equal((JSON.parse(run({ IPISCOPE_SEED: '4' }).stdout.trim().split('\n').pop() as string) as { seed: number }).seed, 4);
});

test('replay: a paced record made by an earlier version (57d650c, whose hops counted the drain\'s) is still the same run', () => {
  // Made by `run test/fixtures/scenarios/host-ipi-paced.yaml --duration 2s --seed 3 --record` at
  // 57d650c. Hops are now counted up to the drain (`hop_ticks.to_drain`); a record without that
  // mark is compared with every message's hops, as it was judged.
  const r = ipiscope('replay', 'test/fixtures/records/host-ipi-paced.57d650c.rec', '--json');
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { same: boolean; verdict_same: boolean; final_memory_same: boolean; verdict: { verdict: string; time_scale: { hop_ticks: Record<string, unknown> } } };
  assert.equal(v.same, true, r.stdout);
  assert.equal(v.verdict_same, true);
  assert.equal(v.final_memory_same, true);
  assert.equal(v.verdict.verdict, 'ok');
  assert.equal('to_drain' in v.verdict.time_scale.hop_ticks, false, 'judged as it was recorded');
  assert.equal(v.verdict.time_scale.hop_ticks.messages, 1431);
});
