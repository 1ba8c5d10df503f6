// Goal: the OTLP/HTTP receiver accepts what OTLP exporters send (protobuf, JSON, gzip, the OTel
// SDK's own exporter), answers in the request's encoding, and rejects everything else with the
// right status and a reason: 400 malformed or truncated, 413 oversized (declared or streamed),
// 415 unknown types, 404/405 elsewhere; batches in any causal order are all accepted.
// Method: a real receiver on a free loopback port, plain node:http requests, its counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  decodeOtlpStatus,
  encodeOtlpJson,
  encodeOtlpProtobuf,
  startOtlpReceiver,
  type SpanRecord,
  type StartedOtlpReceiver,
} from '../../../services/analyzer/index.js';
import { plainSpan, richSpan, spanIdOf, TRACE_B } from './span-fixtures.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function post(
  url: string,
  body: Uint8Array | undefined,
  headers: Record<string, string | number>,
  method = 'POST',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const PB = { 'Content-Type': 'application/x-protobuf' };
const JSON_CT = { 'Content-Type': 'application/json' };

async function withReceiver(
  maxBodyBytes: number,
  body: (r: StartedOtlpReceiver, received: SpanRecord[][]) => Promise<void>,
): Promise<void> {
  const received: SpanRecord[][] = [];
  await using receiver = await startOtlpReceiver({
    port: 0,
    maxBodyBytes,
    onSpans: (spans) => {
      received.push(spans);
    },
  });
  assert.equal(receiver.host, '127.0.0.1');
  assert.ok(receiver.port > 0);
  await body(receiver, received);
}

test('accepts protobuf, JSON and gzip, answering in the request encoding', async () => {
  await withReceiver(1 << 20, async (r, received) => {
    const spans = [richSpan(), plainSpan(2, { parent: 1 })];
    const pb = encodeOtlpProtobuf(spans);
    const json = Buffer.from(JSON.stringify(encodeOtlpJson(spans)));

    const a = await post(r.url, pb, PB);
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/x-protobuf');
    assert.equal(a.body.length, 0); // an empty ExportTraceServiceResponse

    const b = await post(r.url, json, { 'Content-Type': 'application/json; charset=utf-8' });
    assert.equal(b.status, 200);
    assert.equal(b.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(b.body.toString()), {});

    const c = await post(r.url, gzipSync(pb), { ...PB, 'Content-Encoding': 'gzip' });
    assert.equal(c.status, 200);
    const d = await post(r.url, gzipSync(json), { ...JSON_CT, 'Content-Encoding': 'gzip' });
    assert.equal(d.status, 200);

    assert.equal(received.length, 4);
    for (const batch of received) assert.deepEqual(batch, spans);
    const s = r.stats();
    assert.equal(s.requestCount, 4);
    assert.equal(s.requestCountAccepted, 4);
    assert.equal(s.spanCount, 8);
    assert.equal(s.rejectCount, 0);
  });
});

test('rejects malformed JSON and protobuf with 400 and a Status naming the place', async () => {
  await withReceiver(1 << 20, async (r, received) => {
    const badJson = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'abc', spanId: spanIdOf(1) }] }] }],
    });
    const a = await post(r.url, Buffer.from(badJson), JSON_CT);
    assert.equal(a.status, 400);
    assert.equal(a.headers['content-type'], 'application/json');
    assert.deepEqual(decodeOtlpStatus('json', a.body), {
      code: 3,
      message:
        'resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits, got 3 characters',
    });

    const garbage = Buffer.from([0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const b = await post(r.url, garbage, PB);
    assert.equal(b.status, 400);
    assert.equal(b.headers['content-type'], 'application/x-protobuf');
    const status = decodeOtlpStatus('protobuf', b.body);
    assert.equal(status.code, 3);
    assert.match(status.message, /^body: not a protobuf ExportTraceServiceRequest/);

    const pb = encodeOtlpProtobuf([richSpan()]);
    const c = await post(r.url, pb.subarray(0, pb.length - 7), PB);
    assert.equal(c.status, 400);
    assert.match(decodeOtlpStatus('protobuf', c.body).message, /^body: not a protobuf/);

    const d = await post(r.url, Buffer.from('not gzip'), { ...PB, 'Content-Encoding': 'gzip' });
    assert.equal(d.status, 400);
    assert.match(decodeOtlpStatus('protobuf', d.body).message, /^body: bad gzip/);

    assert.equal(received.length, 0, 'nothing of a rejected request reaches the analyzer');
    assert.deepEqual(r.stats().rejectCountByStatus, { 400: 4 });
  });
});

test('answers 413 to bodies over the limit, declared or streamed, and stays usable', async () => {
  const limit = 64 * 1024;
  await withReceiver(limit, async (r, received) => {
    const big = Buffer.alloc(limit + 1, 0x0a);
    const a = await post(r.url, big, PB);
    assert.equal(a.status, 413);
    assert.match(decodeOtlpStatus('protobuf', a.body).message, /exceeds 65536 bytes/);

    // No Content-Length: the receiver must count as it reads and stop at the limit.
    const streamed = await new Promise<Reply>((resolve, reject) => {
      const req = request(r.url, { method: 'POST', headers: PB }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x0a);
      let sent = 0;
      let answered = false;
      req.on('response', () => {
        answered = true;
        req.end();
      });
      const pump = (): void => {
        while (!answered && sent < 64 * limit) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });
    assert.equal(streamed.status, 413);

    // A gzip bomb is bounded by the inflated size.
    const bomb = gzipSync(Buffer.alloc(limit * 4));
    assert.ok(bomb.length < limit);
    const c = await post(r.url, bomb, { ...PB, 'Content-Encoding': 'gzip' });
    assert.equal(c.status, 413);

    const ok = await post(r.url, encodeOtlpProtobuf([plainSpan(1)]), PB);
    assert.equal(ok.status, 200);
    assert.equal(received.length, 1);
    assert.deepEqual(r.stats().rejectCountByStatus, { 413: 3 });
  });
});

test('answers 415, 404 and 405 with a plain reason', async () => {
  await withReceiver(1 << 20, async (r) => {
    const body = encodeOtlpProtobuf([plainSpan(1)]);
    const a = await post(r.url, body, { 'Content-Type': 'text/plain' });
    assert.equal(a.status, 415);
    assert.match(a.body.toString(), /unsupported Content-Type "text\/plain"/);
    const b = await post(r.url, body, { ...PB, 'Content-Encoding': 'br' });
    assert.equal(b.status, 415);
    assert.match(b.body.toString(), /unsupported Content-Encoding "br"/);
    const c = await post(r.url.replace('/v1/traces', '/v1/metrics'), body, PB);
    assert.equal(c.status, 404);
    assert.match(c.body.toString(), /no route \/v1\/metrics/);
    const d = await post(r.url, undefined, {}, 'GET');
    assert.equal(d.status, 405);
    assert.equal(d.headers['allow'], 'POST');
    const e = await post(r.url, undefined, {});
    assert.equal(e.status, 415);
    assert.deepEqual(r.stats().rejectCountByStatus, { 404: 1, 405: 1, 415: 3 });
  });
});

test('accepts children before parents, within and across requests', async () => {
  await withReceiver(1 << 20, async (r, received) => {
    // A tree: 0 is the root, 1..3 its children, 4..6 grandchildren. Sent leaves first.
    const tree = [
      plainSpan(0),
      plainSpan(1, { parent: 0 }),
      plainSpan(2, { parent: 0 }),
      plainSpan(3, { parent: 0 }),
      plainSpan(4, { parent: 1 }),
      plainSpan(5, { parent: 2 }),
      plainSpan(6, { parent: 3, traceId: TRACE_B }),
    ];
    const batches = [[tree[6]!, tree[4]!], [tree[5]!, tree[1]!], [tree[3]!], [tree[2]!, tree[0]!]];
    for (const [i, batch] of batches.entries()) {
      const encoded =
        i % 2 === 0
          ? { body: encodeOtlpProtobuf(batch), headers: PB }
          : { body: Buffer.from(JSON.stringify(encodeOtlpJson(batch))), headers: JSON_CT };
      const reply = await post(r.url, encoded.body, encoded.headers);
      assert.equal(reply.status, 200);
    }
    const all = received.flat();
    assert.equal(all.length, tree.length);
    assert.deepEqual(
      all.map((s) => s.spanId).sort(),
      tree.map((s) => s.spanId).sort(),
    );
    assert.equal(r.stats().spanCount, tree.length);
  });
});

test('answers 500 when the analyzer fails on a batch, and counts it', async () => {
  await using r = await startOtlpReceiver({
    port: 0,
    maxBodyBytes: 1 << 20,
    onSpans: async () => {
      throw new Error('checker overloaded');
    },
  });
  const a = await post(r.url, encodeOtlpProtobuf([plainSpan(1)]), PB);
  assert.equal(a.status, 500);
  assert.match(decodeOtlpStatus('protobuf', a.body).message, /checker overloaded/);
  assert.equal(r.stats().spanCount, 0);
});

test('the OTel SDK OTLP/protobuf exporter delivers to the receiver', async () => {
  await withReceiver(1 << 20, async (r, received) => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    const tracer = provider.getTracer('ipiscope.tracing');
    tracer.startSpan('a').end();
    tracer.startSpan('b').end();
    await provider.forceFlush();
    const exporter = new OTLPTraceExporter({ url: r.url });
    const result = await new Promise<{ code: ExportResultCode; error?: Error }>((resolve) =>
      exporter.export(memory.getFinishedSpans(), resolve),
    );
    assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
    await exporter.shutdown();
    await provider.shutdown();
    assert.deepEqual(
      received.flat().map((s) => s.name),
      ['a', 'b'],
    );
  });
});

test('close is idempotent and frees the port', async () => {
  const r = await startOtlpReceiver({ port: 0, maxBodyBytes: 1024, onSpans: () => {} });
  await r.close();
  await r.close();
  await assert.rejects(post(r.url, Buffer.alloc(0), PB), /ECONNREFUSED/);
});
