// Goal: the tracing library's contracts. W3C trace context survives NATS-style headers; a sim
// trace file is a function of the seed (byte for byte); tracing off attaches no observer; sampling
// keeps whole IPI traces or none; the trace file is what `ipiscope analyze` reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  createTracing,
  otlpJsonLine,
  spanRecordOf,
  extractTraceContext,
  injectTraceContext,
  mapCarrier,
  SeededIdGenerator,
  spanContextOf,
  traceparentOf,
} from '../../../services/tracing/index.js';
import {
  encodeOtlpJson,
  judgeSpans,
  readSpanFile,
  runSimTraced,
  writeSpanFileLine,
} from '../../../services/analyzer/index.js';
import { resolveScenario, runSim } from '../../../services/sim/index.js';
import { EventPacker, EventUnpacker } from '../../../services/tracing/event-pack.js';
import type { PackedChunk } from '../../../services/tracing/event-pack.js';
import type { Tracing } from '../../../services/tracing/index.js';
import { locationRoles, spanBuilderReads } from '../../../services/tracing/ipi-observer.js';
import type { MachineEvent } from '../../../services/machine/index.js';
import { locationNames, script, TPC } from '../analyzer/ipi-synthetic.js';
import { testTempDir } from '../../harness/temp.js';

test('NATS header carrier: traceparent in, the same span context out', () => {
  const sc = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
  };
  const h = new Map<string, string>();
  injectTraceContext(mapCarrier(h), sc);
  assert.equal(h.get('traceparent'), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const back = extractTraceContext(mapCarrier(h));
  assert.equal(back?.traceId, sc.traceId);
  assert.equal(back?.spanId, sc.spanId);
  assert.equal(back?.isRemote, true);
  // nats.js answers '' for a missing header: no context, no throw.
  assert.equal(extractTraceContext({ get: () => '', set: () => {}, keys: () => [] }), undefined);
  assert.equal(spanContextOf('00-zz-bad-01'), undefined);
  assert.equal(spanContextOf(traceparentOf(sc))?.spanId, sc.spanId);
});

test('seeded ids: same seed, same ids; valid W3C lengths', () => {
  const a = new SeededIdGenerator(42);
  const b = new SeededIdGenerator(42);
  const c = new SeededIdGenerator(43);
  const ta = [a.generateTraceId(), a.generateSpanId()];
  assert.deepEqual([b.generateTraceId(), b.generateSpanId()], ta);
  assert.notDeepEqual([c.generateTraceId(), c.generateSpanId()], ta);
  assert.match(ta[0] as string, /^[0-9a-f]{32}$/);
  assert.match(ta[1] as string, /^[0-9a-f]{16}$/);
});

test('tracing off: no observer at all', async () => {
  const t = createTracing({ mode: 'off', threadsPerCore: 4 });
  assert.equal(t.observer, null);
  await t.shutdown();
});

test('sampling: a ratio of 0 records no IPI trace, 1 records every one; the run span is always kept', async () => {
  for (const [ratio, expectIpis] of [
    [0, false],
    [0.5, undefined],
    [1, true],
  ] as const) {
    const mem = new InMemorySpanExporter();
    const t = createTracing({
      mode: 'sim',
      locationNames: locationNames(),
      threadsPerCore: TPC,
      sampleRatio: ratio,
      exporter: mem,
    });
    const s = script('message-store-deferred');
    s.play(t.observer!);
    await t.shutdown({ tickEnd: s.tick });
    const ipiSpans = mem.getFinishedSpans().filter((x) => x.attributes['emu.ipi.id'] !== undefined);
    if (expectIpis !== undefined) assert.equal(ipiSpans.length > 0, expectIpis, `ratio ${ratio}`);
    // The analyzer takes a trace without its run span for one cut short.
    const runs = mem.getFinishedSpans().filter((x) => x.name === 'ipiscope.run');
    assert.equal(runs.length, 1, `ratio ${ratio}: the run span is kept`);
  }
});

test('sim trace files are deterministic per seed and read back whole', async () => {
  const dir = testTempDir('ipiscope-trace-');
  const s = resolveScenario('pingpong');
  const files: string[] = [];
  for (const [seed, name] of [
    [1, 'a'],
    [1, 'b'],
    [2, 'c'],
  ] as const) {
    const f = join(dir, `${name}.jsonl`);
    await runSimTraced(s, { seed, ipis: 60 }, { traceFile: f });
    files.push(f);
  }
  const [a, b, c] = files.map((f) => readFileSync(f));
  assert.ok(a !== undefined && b !== undefined && c !== undefined);
  assert.ok(a.equals(b), `seed 1 twice: identical bytes (files in ${dir})`);
  assert.ok(!a.equals(c), 'seed 2 differs');
  const r = await readSpanFile(files[0] as string);
  assert.equal(r.errors.length, 0);
  assert.ok(r.spans.length > 60 * 4);
  assert.ok(r.spans.every((x) => x.startNs <= x.endNs));
});

test('an interrupt taken in the middle of a send does not take the send over', async () => {
  // pingpong: each CPU often takes its partner's IPI between its message store and its own MFRR
  // write, and the handler writes its own MFRR (the reset to 0xff). That write is not the send.
  const f = join(testTempDir('ipiscope-trace-nest-'), 'pp.jsonl');
  await runSimTraced(resolveScenario('pingpong'), { seed: 1, ipis: 400 }, { traceFile: f });
  const r = await readSpanFile(f);
  const j = judgeSpans(r.spans);
  assert.ok(j.ipis.length >= 400);
  const handled = j.ipis.filter((i) => i.judgement === 'handled' || i.judgement === 'late');
  assert.ok(handled.length >= 390);
  // Every IPI's trace holds its own send, to its own target, and the interrupt it raised there.
  const unsent = handled.filter((i) => i.send_tick < 0 || i.via !== 'mfrr');
  assert.deepEqual(unsent.map((i) => i.ipi_id), [], 'IPIs whose trace lacks their MFRR write');
  const unraised = handled.filter((i) => i.raise_tick < i.send_tick);
  assert.deepEqual(unraised.map((i) => i.ipi_id), [], 'IPIs whose trace lacks the interrupt at the target');
  // The send spans hold no MFRR write to another CPU than the IPI's target.
  for (const s of r.spans) {
    if (s.name !== 'smp_muxed_ipi_message_pass') continue;
    for (const e of s.events) {
      if (e.attributes['emu.e'] !== 'ipi_send') continue;
      assert.equal(Number(e.attributes['emu.target']), Number(s.attributes['emu.ipi.target_cpu']), `send span of IPI ${String(s.attributes['emu.ipi.id'])}`);
    }
  }
});

test('offloaded sim tracing (worker thread) writes the same file, byte for byte, as in-process', async () => {
  const dir = testTempDir('ipiscope-trace-off-');
  const s = resolveScenario('host-ipi-2019');
  const opts = { kernel: 'v5.3', seed: 3, ticksMax: 40_000 };
  const files: string[] = [];
  const counts: number[] = [];
  const tracings: Tracing[] = [];
  for (const offload of [true, false]) {
    const f = join(dir, `${offload ? 'worker' : 'inproc'}.jsonl`);
    let inProcess: boolean | undefined;
    const r = runSim(s, {
      ...opts,
      observerFor: (names) => {
        const t = createTracing({ mode: 'sim', traceFile: f, locationNames: names, threadsPerCore: 4, seed: 3, nsPerTick: 1e6, settleTicks: 5000, offload });
        inProcess = t.ipiObserver !== null;
        tracings.push(t);
        return t.observer!;
      },
    });
    const t = tracings.pop()!;
    assert.equal(inProcess, !offload, 'offloaded tracing has no in-process span builder');
    await t.shutdown({ tickEnd: r.ticks });
    files.push(f);
    counts.push(t.stats().spanCount);
  }
  const [w, i] = files.map((f) => readFileSync(f));
  assert.ok(w !== undefined && i !== undefined);
  assert.ok(w.length > 1_000_000, 'a real trace');
  assert.ok(w.equals(i), `worker and in-process files differ (in ${dir})`);
  assert.equal(counts[0], counts[1]);
});

test('packed events come back as they went in (the filtered ones are dropped)', () => {
  // Location 1 is an IPI message word, 2 a csd flag, 0 and 3 have no role.
  const { role } = locationRoles(['x', 'ipi_message[5]', 'cfd[5].csd[9].flags', 'y']);
  const chunks: PackedChunk[] = [];
  const p = new EventPacker((ev) => spanBuilderReads(ev, role), (c) => chunks.push(c));
  const base = { core: 1, cpu: 5, clock: 77, tick: 9 };
  const kept: MachineEvent[] = [
    { e: 'store', ...base, loc: 1, wid: 2 ** 40 + 3, value: 0x01000000, lane: 0 },
    { e: 'version', ...base, loc: 2, wid: 12, version: 4, value: 1 },
    { e: 'load', ...base, loc: 2, value: 0, version: 4, own: true },
    { e: 'rmw', ...base, loc: 1, op: 'xchg', old: 5, oldVersion: 2, value: 0, version: 3, wid: 8 },
    { e: 'barrier', ...base, kind: 'sync', phase: 'end' },
    { e: 'barrier', ...base, kind: 'msgsync', phase: 'begin' },
    { e: 'ipi_send', ...base, via: 'msgsnd', target: 17, id: 4 },
    { e: 'irq_raise', ...base, source: 'hdbell', id: 4 },
    { e: 'irq_take', ...base, source: 'hdbell' },
    { e: 'irq_return', ...base, source: 'hdbell' },
    { e: 'tp', ...base, name: 'doorbell_entry', attrs: { a: 1, b: 'x', c: true } },
    { e: 'thread_end', ...base, tick: 11 },
  ];
  const dropped: MachineEvent[] = [
    { e: 'store', ...base, loc: 0, wid: 1, value: 1, lane: -1 },
    { e: 'rmw', ...base, loc: 2, op: 'add', old: 5, oldVersion: 2, value: 6, version: 3, wid: 8 },
    { e: 'barrier', ...base, kind: 'lwsync', phase: 'begin' },
    { e: 'barrier', ...base, kind: 'sync', phase: 'begin' },
    { e: 'nap', ...base, tick: 30 },
  ];
  for (const ev of [...dropped, ...kept]) p.event(ev);
  p.flush();
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0]?.tickMax, 30, 'the tick high-water mark counts filtered events too');
  const back: MachineEvent[] = [];
  new EventUnpacker().unpack(chunks[0] as PackedChunk, (ev) => back.push(ev));
  assert.deepEqual(back, kept);
});

test('the trace-file writer writes exactly what the analyzer encoders write', async () => {
  const mem = new InMemorySpanExporter();
  const t = createTracing({
    mode: 'sim',
    locationNames: locationNames(),
    threadsPerCore: TPC,
    exporter: mem,
  });
  const s = script('clear-deferred');
  s.play(t.observer!);
  await t.shutdown({ tickEnd: s.tick });
  const spans = mem.getFinishedSpans();
  assert.ok(spans.length > 10);
  assert.equal(otlpJsonLine(spans), writeSpanFileLine(encodeOtlpJson(spans.map(spanRecordOf))));
});

test('live: the doorbell hop carries the IPI trace across processes in a traceparent', async () => {
  // Two observers, one per core "process"; each sees only its own core's events.
  const memA = new InMemorySpanExporter();
  const memB = new InMemorySpanExporter();
  const a = createTracing({
    mode: 'live',
    locationNames: locationNames(),
    threadsPerCore: TPC,
    serviceInstanceId: 'core-1',
    exporter: memA,
  });
  const b = createTracing({
    mode: 'live',
    locationNames: locationNames(),
    threadsPerCore: TPC,
    serviceInstanceId: 'core-0',
    exporter: memB,
  });
  const s = script('message-store-deferred');
  for (const ev of s.events) {
    if (ev.core === 1) a.observer!.event(ev);
    if (ev.e === 'ipi_send' && ev.cpu === 5) {
      const tp = a.ipiObserver!.traceparentFor({
        t: 'dbell',
        src: 1,
        srcThread: 1,
        cpu: ev.target,
        id: ev.id,
        clock: ev.clock,
      });
      assert.ok(tp !== undefined, 'the transport gets a traceparent for the doorbell');
      b.ipiObserver!.noteIncoming(
        { t: 'dbell', src: 1, srcThread: 1, cpu: ev.target, id: ev.id, clock: ev.clock },
        tp,
      );
    }
    if (ev.core === 0) b.observer!.event(ev);
  }
  await a.shutdown();
  await b.shutdown();
  const send = memA
    .getFinishedSpans()
    .find((x) => x.name === 'smp_muxed_ipi_message_pass' && x.attributes['emu.ipi.id'] === '5:1');
  assert.ok(send !== undefined);
  const consumers = memB
    .getFinishedSpans()
    .filter(
      (x) => x.kind === 4 /* CONSUMER */ && x.spanContext().traceId === send.spanContext().traceId,
    );
  assert.equal(consumers.length, 1, 'the target core continues the IPI trace');
  assert.equal(consumers[0]!.resource.attributes['service.instance.id'], 'core-0');
  assert.equal(consumers[0]!.attributes['messaging.system'], 'nats');
});

test('live: one observer per core, the analyzer still judges the run from all their spans', async () => {
  const { analyzeSpans } = await import('../../../services/analyzer/index.js');
  const mems = [new InMemorySpanExporter(), new InMemorySpanExporter()];
  const ts = mems.map((m, core) =>
    createTracing({
      mode: 'live',
      locationNames: locationNames(),
      threadsPerCore: TPC,
      serviceInstanceId: `core-${core}`,
      exporter: m,
    }),
  );
  const s = script('message-store-deferred');
  for (const ev of s.events) ts[ev.core]!.observer!.event(ev);
  for (const t of ts) await t.shutdown();
  const spans = mems.flatMap((m) => m.getFinishedSpans().map(spanRecordOf));
  const a = analyzeSpans(spans, { tickEnd: s.tick, settleTicks: 1000 });
  assert.equal(a.summary.ipis, 2);
  assert.deepEqual(
    a.summary.ignored.map((i) => i.ipi_id),
    ['5:1'],
  );
  assert.match(a.summary.ignored[0]!.cause, /clear overwrote CPU 5's set/);
});
