// Goal: the analyzer reaches the checker's verdicts from spans alone, and explains them. Method:
// synthetic event streams that follow the kernel model's conventions (ipi-synthetic.ts) go both to
// the IgnoredIpiChecker (ground truth) and through the tracer into spans (in memory, then through
// OTLP/JSON and back); the analyzer judges the spans. Explanations are snapshots
// (SNAP_UPDATE=1 rewrites them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { IgnoredIpiChecker } from '../../../services/checker/ignored-ipi.js';
import { createTracing, spanRecordOf } from '../../../services/tracing/index.js';
import {
  analyzeSpans,
  decodeOtlpJson,
  encodeOtlpJson,
  formatAnalysis,
  judgeSpans,
  rebuildEvents,
} from '../../../services/analyzer/index.js';
import type { SpanRecord } from '../../../services/analyzer/index.js';
import { locationNames, MSG, script, S, T, TPC } from './ipi-synthetic.js';
import type { Variant } from './ipi-synthetic.js';

const SETTLE = 1000;

async function spansOf(variant: Variant): Promise<{ spans: SpanRecord[]; truth: string[] }> {
  const s = script(variant);
  const checker = new IgnoredIpiChecker({ messageLocs: [0, 1, 2, 3, 4, 5, 6, 7].map(MSG) });
  s.play(checker);
  const truth = checker.result(s.tick, SETTLE).ignored.map((i) => i.ipi_id);
  const mem = new InMemorySpanExporter();
  const tr = createTracing({
    mode: 'sim',
    locationNames: locationNames(),
    threadsPerCore: TPC,
    seed: 7,
    settleTicks: SETTLE,
    lateTicks: 10_000,
    exporter: mem,
  });
  assert.ok(tr.observer !== null);
  s.play(tr.observer);
  await tr.shutdown({ tickEnd: s.tick });
  // Through the wire format and back, as a span file would carry them.
  const wire = JSON.stringify(
    encodeOtlpJson(mem.getFinishedSpans().map(spanRecordOf)),
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
  );
  return { spans: decodeOtlpJson(wire), truth };
}

const SNAP_DIR = join('test', 'unit', 'analyzer', 'snapshots');

function snapshot(name: string, text: string): void {
  const file = join(SNAP_DIR, `${name}.txt`);
  if (process.env['SNAP_UPDATE'] === '1' || !existsSync(file)) {
    mkdirSync(SNAP_DIR, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  assert.equal(
    text,
    readFileSync(file, 'utf8'),
    `snapshot ${file} differs (SNAP_UPDATE=1 to accept)`,
  );
}

for (const variant of ['message-store-deferred', 'clear-deferred', 'transport-lost'] as const) {
  test(`${variant}: the analyzer finds the checker's ignored IPI and names the cause`, async () => {
    const { spans, truth } = await spansOf(variant);
    assert.deepEqual(truth, [`${S}:1`], 'ground truth');
    const a = analyzeSpans(spans);
    assert.deepEqual(
      a.summary.ignored.map((i) => i.ipi_id),
      truth,
    );
    assert.equal(a.summary.ipis, 2);
    const ig = a.judged.ignored[0];
    assert.ok(ig !== undefined);
    assert.equal(ig.sender_cpu, S);
    assert.equal(ig.target_cpu, T);
    assert.match(ig.trace_id, /^[0-9a-f]{32}$/);
    const cause = ig.cause ?? '';
    if (variant === 'transport-lost') {
      assert.match(cause, /lost in transport/);
    } else {
      assert.match(cause, /clear overwrote CPU 5's set/);
      assert.match(cause, /not yet visible to CPU 2/);
      assert.match(cause, /KVM exit check read host_ipi == 0/);
      assert.match(ig.diagram ?? '', /local_paca->kvm_hstate\.host_ipi == 0 \/\/ IPI ignored/);
      assert.match(ig.diagram ?? '', /^  --/m);
      assert.match(ig.diagram ?? '', /^  ->/m);
    }
    if (variant === 'message-store-deferred') assert.match(cause, /reordering is on CPU 5's side/);
    if (variant === 'clear-deferred') assert.match(cause, /clear was deferred/);
    assert.deepEqual(
      a.summary.hung.map((h) => [h.cpu, h.waiting_for]),
      [[S, T]],
    );
    snapshot(variant, `${cause}\n\n${ig.diagram ?? ''}\n`);
  });
}

test('clean (v5.4 order): nothing ignored, nothing hung', async () => {
  const { spans, truth } = await spansOf('clean');
  assert.deepEqual(truth, []);
  const a = analyzeSpans(spans);
  assert.equal(a.summary.ignored.length, 0);
  assert.equal(a.summary.handled, 2);
  assert.equal(a.summary.hung.length, 0);
});

test('out of order, duplicated and truncated batches: same verdicts, never a guess', async () => {
  const { spans } = await spansOf('message-store-deferred');
  const shuffled = [...spans].reverse();
  const doubled = [...shuffled, ...spans];
  const j = judgeSpans(doubled);
  assert.deepEqual(
    j.ignored.map((i) => i.ipi_id),
    [`${S}:1`],
  );
  assert.ok(j.eventCountDuplicate > 0);
  // Drop the sender's message store: that IPI becomes incomplete, not handled or ignored.
  const cut = spans.map((s) =>
    s.attributes['emu.ipi.id'] === `${S}:1` && s.name === 'smp_muxed_ipi_message_pass'
      ? {
          ...s,
          events: s.events.filter(
            (e) => !(e.name === 'store' && e.attributes['emu.loc'] === `ipi_message[${T}]`),
          ),
        }
      : s,
  );
  const jc = judgeSpans(cut);
  assert.deepEqual(
    jc.incomplete.map((i) => i.ipi_id),
    [`${S}:1`],
  );
  assert.equal(jc.ignored.length, 0);
  // Only half the spans: no throw.
  judgeSpans(spans.slice(0, Math.floor(spans.length / 2)));
});

test('a trace without its run span stops before the end of the run: said so, never a clean verdict', async () => {
  const { spans } = await spansOf('clean');
  const whole = analyzeSpans(spans);
  assert.equal(whole.summary.complete, true);
  assert.deepEqual(whole.summary.errors, []);
  const cut = analyzeSpans(spans.filter((s) => s.name !== 'ipiscope.run'));
  assert.equal(cut.summary.complete, false);
  assert.match(cut.judged.cutShort ?? '', /no run span \(ipiscope\.run/);
  assert.equal(cut.summary.errors.length, 1);
  assert.match(cut.summary.errors[0]!, /^the trace is incomplete: .*no verdict on the run$/);
  assert.match(formatAnalysis(cut), /^INCOMPLETE TRACE: /m);
  // Input problems found before judging come first.
  assert.deepEqual(analyzeSpans(spans, { inputErrors: ['f:3: bad (line skipped)'] }).summary.errors, ['f:3: bad (line skipped)']);
});

test('a distributed trace: each core process writes its own run span, and a missing one names its core', async () => {
  const mems = [new InMemorySpanExporter(), new InMemorySpanExporter()];
  const ts = mems.map((m, core) =>
    createTracing({ mode: 'live', locationNames: locationNames(), threadsPerCore: TPC, serviceInstanceId: `core-${core}`, core, cores: 2, exporter: m }),
  );
  const s = script('clean');
  for (const ev of s.events) ts[ev.core]!.observer!.event(ev);
  for (const t of ts) await t.shutdown({ tickEnd: s.tick });
  const spans = mems.flatMap((m) => m.getFinishedSpans().map(spanRecordOf));
  assert.equal(spans.filter((x) => x.name === 'ipiscope.run').length, 2);
  assert.equal(judgeSpans(spans).cutShort, undefined);
  const noCore1 = spans.filter((x) => !(x.name === 'ipiscope.run' && x.attributes['emu.core'] === 1));
  assert.match(judgeSpans(noCore1).cutShort ?? '', /no run span \(ipiscope\.run\) of core 1: /);
  // A core process whose spans are not there at all: its run span says how many cores to expect.
  const onlyCore0 = mems[0]!.getFinishedSpans().map(spanRecordOf);
  assert.equal(onlyCore0.find((x) => x.name === 'ipiscope.run')?.attributes['emu.run.cores'], 2);
  assert.match(judgeSpans(onlyCore0).cutShort ?? '', /no run span \(ipiscope\.run\) of core 1: /);
  // Spans of an older ipiscope, whose run spans do not count the cores: those of the cores seen.
  const old = spans.map((x) => (x.name === 'ipiscope.run' ? { ...x, attributes: { ...x.attributes, 'emu.run.cores': undefined as never } } : x));
  assert.equal(judgeSpans(old).cutShort, undefined);
  assert.match(judgeSpans(old.filter((x) => !(x.name === 'ipiscope.run' && x.attributes['emu.core'] === 1))).cutShort ?? '', /of core 1: /);
});

test('every store event carries the logical clock and its coherence version', async () => {
  const { spans } = await spansOf('message-store-deferred');
  const events = spans.flatMap((s) => s.events);
  const stores = events.filter((e) => e.attributes['emu.e'] === 'store');
  assert.equal(stores.length, 5);
  let folded = 0;
  for (const st of stores) {
    assert.equal(typeof st.attributes['emu.clock'], 'number');
    assert.equal(typeof st.attributes['emu.loc'], 'string');
    if (st.attributes['emu.version'] !== undefined) {
      // Ordered while its span was open: the version is on the store's own event.
      folded++;
      for (const k of ['emu.version', 'emu.version.core', 'emu.version.clock', 'emu.version.tick'])
        assert.equal(typeof st.attributes[k], 'number', k);
      continue;
    }
    // Ordered after its span ended: a version event of its own, found by write id.
    const v = events.find(
      (e) =>
        e.attributes['emu.e'] === 'version' && e.attributes['emu.wid'] === st.attributes['emu.wid'],
    );
    assert.ok(v !== undefined, `store ${String(st.attributes['emu.wid'])} meets its version event`);
    assert.equal(typeof v.attributes['emu.version'], 'number');
    assert.equal(typeof v.attributes['emu.clock'], 'number');
  }
  assert.ok(folded >= 3, `most stores carry their version (${folded} of 5)`);
  // The analyzer rebuilds one version machine event per ordered store, folded or not.
  const rebuilt = rebuildEvents(spans).events.map((r) => r.ev);
  for (const st of stores) {
    const wid = st.attributes['emu.wid'];
    assert.ok(
      rebuilt.some((ev) => ev.e === 'version' && ev.wid === wid),
      `version of write ${String(wid)} rebuilt`,
    );
  }
  // The deferred message store is ordered before ppc_msgsnd_sync ends: on the send span, version 3.
  const send = spans.find(
    (s) => s.name === 'smp_muxed_ipi_message_pass' && s.attributes['emu.ipi.id'] === `${S}:1`,
  );
  assert.ok(
    send?.events.some(
      (e) =>
        e.name === 'store' &&
        e.attributes['emu.loc'] === `ipi_message[${T}]` &&
        e.attributes['emu.version'] === 3,
    ),
  );
  const verdict = spans.find((s) => s.name === 'ipi.verdict');
  assert.equal(verdict?.attributes['emu.ipi.outcome'], 'ignored');
  assert.equal(verdict?.status.code, 2);
  assert.ok(spans.some((s) => s.kind === 4 && s.attributes['messaging.system'] === 'nats'));
  assert.ok(spans.some((s) => s.kind === 5 && s.links.length === 1));
  for (const s of spans) assert.match(String(s.resource['service.instance.id']), /^core-\d$/);
});
