/**
 * `ipiscope analyze` as a user runs it. Goal: a traced sim run's span file judged by the CLI gives
 * the same ignored IPIs as the machine's own checker, with trace ids and causes; `--listen`
 * receives OTLP over loopback, rejects malformed bodies with 400 and a reason, and prints the
 * summary on SIGINT; the HTML report renders in headless Chromium when one is installed.
 * Method: the CLI in a child process (bin/ipiscope.js when `analyze` is registered, else the
 * command module directly), spans from `runSimTraced` or from the synthetic 2019 interleaving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { commandList } from '../../services/cli/main.js';
import { createTracing, spanRecordOf } from '../../services/tracing/index.js';
import {
  encodeOtlpJson,
  encodeOtlpProtobuf,
  runSimTraced,
  writeSpanFileLine,
} from '../../services/analyzer/index.js';
import { resolveScenario } from '../../services/sim/index.js';
import { locationNames, script, S, TPC } from '../unit/analyzer/ipi-synthetic.js';
import { testTempDir } from '../harness/temp.js';

const registered = commandList().some((c) => c.name === 'analyze');
const bin = join(process.cwd(), 'bin', 'ipiscope.js');
const direct = join(process.cwd(), 'dist', 'services', 'cli', 'cmd-analyze.js');
const runner = `const { analyzeCommand } = await import(${JSON.stringify(direct)}); process.exitCode = await analyzeCommand.run(process.argv.slice(1));`;

function argvOf(args: string[]): string[] {
  return registered
    ? [bin, 'analyze', ...args]
    : ['--input-type=module', '-e', runner, '--', ...args];
}

function analyze(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, argvOf(args), {
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 << 20,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function syntheticFile(dir: string): Promise<string> {
  const mem = new InMemorySpanExporter();
  const t = createTracing({
    mode: 'sim',
    locationNames: locationNames(),
    threadsPerCore: TPC,
    settleTicks: 1000,
    exporter: mem,
  });
  const s = script('message-store-deferred');
  s.play(t.observer!);
  await t.shutdown({ tickEnd: s.tick });
  const f = join(dir, 'synthetic.jsonl');
  writeFileSync(f, writeSpanFileLine(encodeOtlpJson(mem.getFinishedSpans().map(spanRecordOf))));
  return f;
}

test('analyze FILE --json: the last line is the verdict contract; exit 1 when IPIs were ignored', async () => {
  const dir = testTempDir('ipiscope-analyze-');
  const f = await syntheticFile(dir);
  const r = analyze(
    f,
    '--json',
    '--jaeger',
    'http://localhost:16686',
    '--report',
    join(dir, 'report.html'),
  );
  assert.equal(r.status, 1, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
    ipis: number;
    ignored: Array<{
      ipi_id: string;
      sender_cpu: number;
      target_cpu: number;
      msg: number;
      trace_id: string;
      cause: string;
      jaeger: string;
    }>;
    late: unknown[];
  };
  assert.equal(last.ipis, 2);
  assert.deepEqual(
    last.ignored.map((i) => i.ipi_id),
    [`${S}:1`],
  );
  const i = last.ignored[0]!;
  assert.equal(i.msg, 0);
  assert.match(i.trace_id, /^[0-9a-f]{32}$/);
  assert.equal(i.jaeger, `http://localhost:16686/trace/${i.trace_id}`);
  assert.match(i.cause, /host_ipi/);
  assert.deepEqual(last.late, []);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /IPI 5:1/);
  assert.doesNotMatch(
    html,
    /<script|https?:\/\/(?!localhost:16686|www\.w3\.org)/,
    'self-contained: no script, no network',
  );
  const text = analyze(f);
  assert.match(text.stdout, /IGNORED IPI 5:1/);
  assert.match(text.stdout, /STORE DEFERRED DUE TO RE-ORDERING/);
});

test('analyze: a traced v5.4 pingpong run is clean; a bad file line is reported by number and gives no clean verdict', async () => {
  const dir = testTempDir('ipiscope-analyze-');
  const f = join(dir, 'pp.jsonl');
  const { result } = await runSimTraced(
    resolveScenario('pingpong'),
    { seed: 3, ipis: 100, kernel: 'v5.4' },
    { traceFile: f },
  );
  assert.deepEqual(result.ignored, []);
  const clean = analyze(f, '--json');
  assert.equal(clean.status, 0, clean.stderr);
  writeFileSync(f, readFileSync(f, 'utf8') + '{"resourceSpans": [{"scopeSpans": 7}]}\n');
  const r = analyze(f, '--json');
  assert.equal(r.status, 2, 'a damaged input is no clean verdict');
  assert.match(r.stderr, /pp\.jsonl:\d+: .*scopeSpans/);
  const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
    ipis: number;
    ignored: unknown[];
    errors: string[];
    complete: boolean;
  };
  assert.equal(last.ipis, result.ipis_sent);
  assert.deepEqual(last.ignored, []);
  assert.equal(last.errors.length, 1);
  assert.match(last.errors[0]!, /pp\.jsonl:\d+: .*scopeSpans.*\(line skipped\)$/);
  assert.equal(last.complete, true);
});

test('analyze: a file with no spans (empty, foreign JSON, no line readable) is an input error naming it, exit 2', () => {
  const dir = testTempDir('ipiscope-analyze-');
  const files: Array<[string, string, RegExp]> = [
    ['empty.jsonl', '', /it is empty/],
    ['foreign.json', '{"foo":[1,2,3]}\n', /its one line holds no span/],
    ['garbage.jsonl', 'garbage\n[1,2,3]\n', /none of its lines holds a span \(2 could not be read/],
  ];
  for (const [name, text, why] of files) {
    const f = join(dir, name);
    writeFileSync(f, text);
    const r = analyze(f, '--json');
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${name}: no summary`);
    assert.match(r.stderr, new RegExp(`^ipiscope analyze: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no spans to judge: `, 'm'));
    assert.match(r.stderr, why, name);
  }
});

test('analyze: a span file cut short says the trace is incomplete, lists the cut line, exit 2; the whole file exits 1', async () => {
  const dir = testTempDir('ipiscope-analyze-');
  const mem = new InMemorySpanExporter();
  const t = createTracing({ mode: 'sim', locationNames: locationNames(), threadsPerCore: TPC, settleTicks: 1000, exporter: mem });
  const s = script('message-store-deferred');
  s.play(t.observer!);
  await t.shutdown({ tickEnd: s.tick });
  // One span per line, the run span (written last) on the last line.
  const text = mem.getFinishedSpans().map((x) => writeSpanFileLine(encodeOtlpJson([spanRecordOf(x)]))).join('');
  const whole = join(dir, 'whole.jsonl');
  writeFileSync(whole, text);
  assert.equal(analyze(whole, '--json').status, 1, 'the whole file has an ignored IPI');
  let cutAt = Math.floor(text.length / 2);
  if (text[cutAt - 1] === '\n') cutAt += 10;
  const cutLine = text.slice(0, cutAt).split('\n').length;
  const half = join(dir, 'half.jsonl');
  writeFileSync(half, text.slice(0, cutAt));
  const r = analyze(half, '--json');
  assert.equal(r.status, 2, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { complete: boolean; errors: string[] };
  assert.equal(last.complete, false);
  assert.equal(last.errors.length, 2, last.errors.join('\n'));
  assert.ok(last.errors[0]!.startsWith(`${half}:${cutLine}: `) && last.errors[0]!.endsWith('(line skipped)'), last.errors[0]);
  assert.match(last.errors[1]!, /^the trace is incomplete: no run span/);
  const human = analyze(half);
  assert.equal(human.status, 2);
  assert.match(human.stdout, /^INCOMPLETE TRACE: /m);
});

test('analyze FILE FILE: the span files of two core processes are judged together as one trace', async () => {
  const dir = testTempDir('ipiscope-analyze-');
  const files = [0, 1].map((core) => join(dir, `core-${core}.jsonl`));
  const ts = files.map((traceFile, core) =>
    createTracing({ mode: 'live', locationNames: locationNames(), threadsPerCore: TPC, serviceInstanceId: `core-${core}`, core, cores: 2, settleTicks: 1000, traceFile }),
  );
  const s = script('clear-deferred');
  for (const ev of s.events) ts[ev.core]!.observer!.event(ev);
  for (const t of ts) await t.shutdown({ tickEnd: s.tick });
  const r = analyze(...files, '--json');
  assert.equal(r.status, 1, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { ipis: number; ignored: Array<{ ipi_id: string }>; errors: string[]; complete: boolean };
  assert.equal(last.ipis, 2);
  assert.deepEqual(last.ignored.map((i) => i.ipi_id), [`${S}:1`]);
  assert.deepEqual(last.errors, []);
  assert.equal(last.complete, true);
  // Without core 1's file the trace is incomplete: core 0's run span says the machine has 2 cores.
  const one = analyze(files[0]!, '--json');
  assert.equal(one.status, 2, one.stderr);
  assert.match(one.stdout, /"the trace is incomplete: no run span \(ipiscope\.run\) of core 1: /);
});

test('analyze --report in a directory that cannot be written: a usage error before any span is read, exit 2', async () => {
  const dir = testTempDir('ipiscope-analyze-');
  const f = await syntheticFile(dir);
  const notDir = join(dir, 'a-file');
  writeFileSync(notDir, '');
  const cases: Array<[string, RegExp]> = [
    ['/nonexistent-ipiscope-dir/r.html', /--report \/nonexistent-ipiscope-dir\/r\.html: the directory \/nonexistent-ipiscope-dir does not exist/],
    [join(notDir, 'r.html'), /is not a directory/],
    [dir, /is a directory; give a file path/],
  ];
  for (const [report, why] of cases) {
    const r = analyze(f, '--json', '--report', report);
    assert.equal(r.status, 2, `${report}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${report}: nothing judged`);
    assert.match(r.stderr, why);
  }
  // Checked before the spans are read: an empty span file is not even looked at.
  const empty = join(dir, 'empty.jsonl');
  writeFileSync(empty, '');
  const r = analyze(empty, '--report', '/nonexistent-ipiscope-dir/r.html');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--report/);
  assert.doesNotMatch(r.stderr, /no spans/);
  assert.equal(existsSync('/nonexistent-ipiscope-dir'), false, 'no directory made');
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes('probe')), [], 'nothing left behind');
});

function post(
  url: string,
  body: Uint8Array,
  type: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'Content-Type': type, 'Content-Length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('latin1') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('analyze --listen: verdicts as traces complete, 400 with a reason for malformed bodies, summary on SIGINT', async () => {
  const mem = new InMemorySpanExporter();
  const t = createTracing({
    mode: 'sim',
    locationNames: locationNames(),
    threadsPerCore: TPC,
    settleTicks: 1000,
    exporter: mem,
  });
  const s = script('message-store-deferred');
  s.play(t.observer!);
  await t.shutdown({ tickEnd: s.tick });
  const spans = mem.getFinishedSpans().map(spanRecordOf);
  const child = spawn(process.execPath, argvOf(['--listen', '0', '--json']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
  const bad = await post(url, new Uint8Array([0x0a, 0xff, 0xff, 0xff]), 'application/x-protobuf');
  assert.equal(bad.status, 400);
  assert.ok(bad.text.length > 5, 'a reason comes back');
  const badJson = await post(url, Buffer.from('{"resourceSpans": 3}'), 'application/json');
  assert.equal(badJson.status, 400);
  assert.match(badJson.text, /resourceSpans/);
  // Out of order: the second half first, in two protobuf batches.
  const half = Math.floor(spans.length / 2);
  assert.equal(
    (await post(url, encodeOtlpProtobuf(spans.slice(half)), 'application/x-protobuf')).status,
    200,
  );
  assert.equal(
    (await post(url, encodeOtlpProtobuf(spans.slice(0, half)), 'application/x-protobuf')).status,
    200,
  );
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 1, stderr);
  assert.match(stdout, /"line":"IPI 5:1: ignored, trace [0-9a-f]{32}"/);
  const last = JSON.parse(stdout.trim().split('\n').pop() as string) as {
    ipis: number;
    ignored: Array<{ ipi_id: string }>;
  };
  assert.equal(last.ipis, 2);
  assert.deepEqual(
    last.ignored.map((i) => i.ipi_id),
    [`${S}:1`],
  );
  assert.match(stderr, /2 rejected/);
});

test('report.html renders in headless Chromium (screenshot in the temp dir)', async (t) => {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (chromium === undefined) {
    t.skip('no /usr/bin/chromium (apt-get install chromium to run this test)');
    return;
  }
  const dir = testTempDir('ipiscope-report-');
  const f = await syntheticFile(dir);
  const html = join(dir, 'report.html');
  analyze(f, '--report', html);
  const shot = join(dir, 'report.png');
  const r = spawnSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      `--screenshot=${shot}`,
      '--window-size=1200,1600',
      `file://${html}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.ok(existsSync(shot), `no screenshot: ${r.stderr}`);
  assert.ok(statSync(shot).size > 10_000, 'the screenshot has content');
  process.stdout.write(`# report screenshot: ${shot}\n`);
  const dom = spawnSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      '--dump-dom',
      `file://${html}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.match(dom.stdout, /id="verdict"[^>]*>LOST: \d+ IPIs? ignored/);
  assert.match(dom.stdout, /<svg[^>]*aria-label="Lamport diagram"/);
});

test('live tracing exports OTLP/HTTP protobuf to analyze --listen, which judges the run', async () => {
  const child = spawn(process.execPath, argvOf(['--listen', '0', '--json']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
  // Two core processes' worth of tracing, each exporting with the SDK's OTLP protobuf exporter.
  const ts = [0, 1].map((core) =>
    createTracing({
      mode: 'live',
      locationNames: locationNames(),
      threadsPerCore: TPC,
      serviceInstanceId: `core-${core}`,
      otlpUrl: url,
    }),
  );
  const s = script('clear-deferred');
  for (const ev of s.events) ts[ev.core]!.observer!.event(ev);
  for (const t of ts) await t.shutdown({ tickEnd: s.tick });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  child.kill('SIGINT');
  assert.equal(await exited, 1, stderr);
  assert.match(stderr, /[1-9]\d* requests? accepted \([1-9]\d* spans\), 0 rejected/);
  const last = JSON.parse(stdout.trim().split('\n').pop() as string) as {
    ipis: number;
    ignored: Array<{ ipi_id: string; cause: string }>;
  };
  assert.equal(last.ipis, 2);
  assert.deepEqual(
    last.ignored.map((i) => i.ipi_id),
    [`${S}:1`],
  );
  assert.match(last.ignored[0]!.cause, /clear was deferred/);
});

test('sim tracing with --otlp: batches held during the synchronous run reach the receiver at shutdown', async () => {
  const child = spawn(process.execPath, argvOf(['--listen', '0', '--json']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
  const { result, stats } = await runSimTraced(
    resolveScenario('pingpong'),
    { seed: 5, ipis: 50 },
    { otlpUrl: url },
  );
  assert.equal(stats.spanCountDropped, 0);
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  const last = JSON.parse(stdout.trim().split('\n').pop() as string) as {
    ipis: number;
    ignored: unknown[];
  };
  assert.equal(last.ipis, result.ipis_sent);
  assert.deepEqual(last.ignored, []);
});
