// Goal: the OTLP decoder reads exactly what OTLP senders write (our encoder and the OTel JS SDK's
// own serializers, protobuf and JSON), follows the OTLP/JSON rules, and turns every malformed
// input into an OtlpDecodeError that names the field, never a crash or a partial result.
// Method: round trips through both encodings, SDK spans compared field by field, a table of
// malformed JSON with the exact reason, and every truncated prefix plus seeded byte corruptions
// of a valid protobuf body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, type Attributes as OtelAttributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import {
  decodeOtlpJson,
  decodeOtlpProtobuf,
  decodeOtlpRequest,
  encodeOtlpJson,
  encodeOtlpProtobuf,
  OtlpDecodeError,
  type Attributes,
  type SpanRecord,
} from '../../../services/analyzer/index.js';
import { Random } from '../../../services/stdx/index.js';
import {
  plainSpan,
  RESOURCE_CORE_1,
  richSpan,
  spanIdOf,
  TRACE_A,
  TRACE_B,
} from './span-fixtures.js';

function sampleSpans(): SpanRecord[] {
  return [
    richSpan(),
    plainSpan(2, { parent: 1 }),
    plainSpan(3, { traceId: TRACE_B, resource: RESOURCE_CORE_1 }),
    { ...plainSpan(4), scope: undefined } as SpanRecord,
  ].map((s) => {
    if (s.scope === undefined) delete s.scope;
    return s;
  });
}

/** Spans sorted the way the encoder groups them: by resource, then scope, in first-seen order. */
function grouped(spans: SpanRecord[]): SpanRecord[] {
  const json = JSON.stringify(encodeOtlpJson(spans));
  return decodeOtlpJson(json);
}

test('protobuf round trip keeps every field and value kind', () => {
  const spans = sampleSpans();
  const decoded = decodeOtlpProtobuf(encodeOtlpProtobuf(spans));
  assert.equal(decoded.length, spans.length);
  assert.deepEqual(decoded, grouped(spans));
  assert.deepEqual(decoded[0], richSpan());
});

test('JSON round trip keeps every field and value kind', () => {
  const spans = sampleSpans();
  const text = JSON.stringify(encodeOtlpJson(spans));
  const decoded = decodeOtlpJson(text);
  assert.deepEqual(decoded[0], richSpan());
  assert.deepEqual(
    decoded.map((s) => s.spanId).sort(),
    spans.map((s) => s.spanId).sort(),
  );
  // Both encodings agree span for span.
  assert.deepEqual(decodeOtlpProtobuf(encodeOtlpProtobuf(spans)), decoded);
});

test('spans of one resource share one resource object and keep request order', () => {
  const spans = [plainSpan(1), plainSpan(2, { resource: RESOURCE_CORE_1 }), plainSpan(3)];
  const decoded = decodeOtlpProtobuf(encodeOtlpProtobuf(spans));
  assert.deepEqual(
    decoded.map((s) => s.name),
    ['span-1', 'span-3', 'span-2'],
  );
  assert.equal(decoded[0]!.resource, decoded[1]!.resource);
  assert.deepEqual(decoded[2]!.resource, RESOURCE_CORE_1);
});

test('gzip bodies decode through decodeOtlpRequest; unknown types and encodings are named', () => {
  const spans = [richSpan()];
  const pb = encodeOtlpProtobuf(spans);
  const viaGzip = decodeOtlpRequest(gzipSync(pb), {
    contentType: 'application/x-protobuf',
    contentEncoding: 'gzip',
  });
  assert.deepEqual(viaGzip, spans);
  const json = Buffer.from(JSON.stringify(encodeOtlpJson(spans)));
  assert.deepEqual(
    decodeOtlpRequest(gzipSync(json), {
      contentType: 'application/json; charset=utf-8',
      contentEncoding: 'GZIP',
    }),
    spans,
  );
  assert.throws(
    () => decodeOtlpRequest(pb, { contentType: 'text/plain' }),
    (e: unknown) =>
      e instanceof OtlpDecodeError && /^content-type: unsupported "text\/plain"/.test(e.message),
  );
  assert.throws(
    () => decodeOtlpRequest(pb, { contentType: 'application/x-protobuf', contentEncoding: 'br' }),
    (e: unknown) => e instanceof OtlpDecodeError && e.where === 'content-encoding',
  );
  assert.throws(
    () => decodeOtlpRequest(pb, { contentType: 'application/x-protobuf', contentEncoding: 'gzip' }),
    (e: unknown) => e instanceof OtlpDecodeError && /^body: bad gzip/.test(e.message),
  );
  assert.throws(
    () =>
      decodeOtlpRequest(gzipSync(Buffer.alloc(4096)), {
        contentType: 'application/x-protobuf',
        contentEncoding: 'gzip',
        bodyBytesMax: 1024,
      }),
    (e: unknown) => e instanceof OtlpDecodeError && /inflates beyond 1024 bytes/.test(e.message),
  );
});

test('OTLP/JSON: enum names, int64 numbers, snake_case, upper-case hex, unknown fields', () => {
  const text = JSON.stringify({
    futureField: { anything: [1, 2] },
    resource_spans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'c' } }] },
        scope_spans: [
          {
            scope: { name: 's', version: null, unknown: 1 },
            spans: [
              {
                trace_id: TRACE_A.toUpperCase(),
                spanId: spanIdOf(5).toUpperCase(),
                parentSpanId: '',
                name: 'n',
                kind: 'SPAN_KIND_CONSUMER',
                startTimeUnixNano: 17,
                end_time_unix_nano: '18446744073709551615',
                attributes: [
                  { key: 'i', value: { intValue: 42 } },
                  { key: 'd', value: { doubleValue: 'NaN' } },
                  { key: 'e', value: { doubleValue: '2.5' } },
                  { key: 'n', value: null },
                ],
                status: { code: 'STATUS_CODE_OK' },
                droppedAttributesCount: 3,
                flags: 257,
              },
            ],
          },
        ],
      },
    ],
  });
  const [span, ...rest] = decodeOtlpJson(text);
  assert.equal(rest.length, 0);
  assert.deepEqual(span, {
    traceId: TRACE_A,
    spanId: spanIdOf(5),
    name: 'n',
    kind: 5,
    startNs: 17n,
    endNs: (1n << 64n) - 1n,
    attributes: { i: 42, d: NaN, e: 2.5, n: null },
    events: [],
    links: [],
    status: { code: 1 },
    resource: { 'service.name': 'c' },
    scope: { name: 's' },
  });
  assert.deepEqual(decodeOtlpJson('{}'), []);
  assert.deepEqual(decodeOtlpJson('{"resourceSpans":[]}'), []);
});

const GOOD_SPAN = {
  traceId: TRACE_A,
  spanId: spanIdOf(1),
  name: 'ok',
  kind: 1,
  startTimeUnixNano: '1',
  endTimeUnixNano: '2',
};

function requestWith(span: unknown, spanIndex = 0): string {
  const spans: unknown[] = [];
  for (let i = 0; i < spanIndex; i++) spans.push(GOOD_SPAN);
  spans.push(span);
  return JSON.stringify({
    resourceSpans: [{ scopeSpans: [{ spans: [GOOD_SPAN] }, { spans }] }],
  });
}

const AT = 'resourceSpans[0].scopeSpans[1].spans[0]';

const BAD_JSON: [name: string, input: string, message: string][] = [
  ['not JSON', '{"resourceSpans": [', 'body: invalid JSON'],
  ['top level is an array', '[]', 'body: expected an object, got an array'],
  [
    'resourceSpans not an array',
    '{"resourceSpans": {}}',
    'resourceSpans: expected an array, got an object',
  ],
  [
    'short trace id',
    requestWith({ ...GOOD_SPAN, traceId: TRACE_A.slice(2) }, 3),
    'resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex digits, got 30 characters',
  ],
  [
    'non-hex span id',
    requestWith({ ...GOOD_SPAN, spanId: 'zz' + spanIdOf(1).slice(2) }),
    `${AT}.spanId: expected 16 hex digits, got "zz`,
  ],
  [
    'base64 trace id (proto3 JSON, not OTLP/JSON)',
    requestWith({ ...GOOD_SPAN, traceId: Buffer.from(TRACE_A, 'hex').toString('base64') }),
    `${AT}.traceId: expected 32 hex digits, got 24 characters`,
  ],
  [
    'all-zero span id',
    requestWith({ ...GOOD_SPAN, spanId: '0'.repeat(16) }),
    `${AT}.spanId: all-zero id is invalid`,
  ],
  [
    'missing trace id',
    requestWith({ ...GOOD_SPAN, traceId: undefined }),
    `${AT}.traceId: expected 32 hex digits, got undefined`,
  ],
  [
    'bad parent id',
    requestWith({ ...GOOD_SPAN, parentSpanId: 'abc' }),
    `${AT}.parentSpanId: expected 16 hex digits, got 3 characters`,
  ],
  [
    'unknown kind name',
    requestWith({ ...GOOD_SPAN, kind: 'SPAN_KIND_MAGIC' }),
    `${AT}.kind: expected an integer or one of SPAN_KIND_UNSPECIFIED`,
  ],
  [
    'fractional timestamp',
    requestWith({ ...GOOD_SPAN, startTimeUnixNano: 1.5 }),
    `${AT}.startTimeUnixNano: expected an integer, got 1.5`,
  ],
  [
    'negative timestamp',
    requestWith({ ...GOOD_SPAN, endTimeUnixNano: '-1' }),
    `${AT}.endTimeUnixNano: -1 is out of range for uint64`,
  ],
  [
    'timestamp as words',
    requestWith({ ...GOOD_SPAN, endTimeUnixNano: 'soon' }),
    `${AT}.endTimeUnixNano: expected an integer as a decimal`,
  ],
  [
    'span is a string',
    requestWith('span'),
    `${AT}: expected an object, got string`,
  ],
  [
    'attribute value with two fields',
    requestWith({ ...GOOD_SPAN, attributes: [attr({ stringValue: 'a', boolValue: true })] }),
    `${AT}.attributes[0].value: AnyValue sets both stringValue and boolValue`,
  ],
  [
    'int attribute out of int64 range',
    requestWith({ ...GOOD_SPAN, attributes: [attr({ intValue: '9223372036854775808' })] }),
    `${AT}.attributes[0].value.intValue: 9223372036854775808 is out of range for int64`,
  ],
  [
    'bool attribute as string',
    requestWith({ ...GOOD_SPAN, attributes: [{ key: 'k', value: { boolValue: 'true' } }] }),
    `${AT}.attributes[0].value.boolValue: expected a boolean, got string`,
  ],
  [
    'bytes attribute not base64',
    requestWith({ ...GOOD_SPAN, attributes: [{ key: 'k', value: { bytesValue: '%%' } }] }),
    `${AT}.attributes[0].value.bytesValue: expected base64 bytes`,
  ],
  [
    'bad link id',
    requestWith({ ...GOOD_SPAN, links: [{ traceId: TRACE_B, spanId: 'x' }] }),
    `${AT}.links[0].spanId: expected 16 hex digits, got 1 characters`,
  ],
  [
    'bad event time',
    requestWith({ ...GOOD_SPAN, events: [{ name: 'e', timeUnixNano: true }] }),
    `${AT}.events[0].timeUnixNano: expected an integer as a decimal`,
  ],
  [
    'unknown status code name',
    requestWith({ ...GOOD_SPAN, status: { code: 'STATUS_CODE_MEH' } }),
    `${AT}.status.code: expected an integer or one of STATUS_CODE_UNSET`,
  ],
  [
    'attribute nesting beyond the bound',
    requestWith({
      ...GOOD_SPAN,
      attributes: [{ key: 'k', value: nestedArrayValue(40) }],
    }),
    'attribute value nested deeper than 32',
  ],
];

function attr(value: unknown): unknown {
  return { key: 'k', value };
}

function nestedArrayValue(depth: number): unknown {
  let v: unknown = { stringValue: 'leaf' };
  for (let i = 0; i < depth; i++) v = { arrayValue: { values: [v] } };
  return v;
}

for (const [name, input, message] of BAD_JSON) {
  test(`malformed JSON is rejected with its place: ${name}`, () => {
    assert.throws(
      () => decodeOtlpJson(input),
      (e: unknown) => {
        assert.ok(e instanceof OtlpDecodeError, `expected OtlpDecodeError, got ${String(e)}`);
        assert.ok(e.message.includes(message), `message ${JSON.stringify(e.message)}`);
        return true;
      },
    );
  });
}

test('protobuf with a wrong id length or a bad parent names the field', () => {
  const good = richSpan();
  const cases: [SpanRecord, string][] = [
    [{ ...good, traceId: TRACE_A.slice(0, 30) }, '.traceId: expected 16 bytes, got 15'],
    [{ ...good, parentSpanId: 'abcd' }, '.parentSpanId: expected 8 bytes, got 2'],
    [
      { ...good, links: [{ traceId: TRACE_B, spanId: '00'.repeat(8), attributes: {} }] },
      '.links[0].spanId: all-zero id is invalid',
    ],
  ];
  for (const [span, message] of cases) {
    const bytes = encodeOtlpProtobuf([plainSpan(7), span]);
    assert.throws(
      () => decodeOtlpProtobuf(bytes),
      (e: unknown) =>
        e instanceof OtlpDecodeError &&
        e.message.startsWith('resourceSpans[0].scopeSpans[1].spans[0]') &&
        e.message.endsWith(message.slice(message.indexOf(':'))) &&
        e.message.includes(message.split(':')[0]!),
    );
  }
});

test('every truncated prefix of a protobuf body decodes or throws OtlpDecodeError', () => {
  const body = encodeOtlpProtobuf(sampleSpans());
  let rejected = 0;
  for (let n = 0; n < body.length; n++) {
    try {
      decodeOtlpProtobuf(body.subarray(0, n));
    } catch (e) {
      assert.ok(e instanceof OtlpDecodeError, `prefix ${n}/${body.length}: ${String(e)}`);
      rejected++;
    }
  }
  // Most prefixes cut a field in half; a protobuf reader must notice.
  assert.ok(rejected > body.length / 2, `only ${rejected} of ${body.length} prefixes rejected`);
  assert.equal(decodeOtlpProtobuf(body).length, 4);
});

test('seeded byte corruptions of a protobuf body decode or throw OtlpDecodeError', () => {
  const seed = Number(process.env['IPISCOPE_SEED'] ?? 20240611);
  const random = new Random(seed, 'otlp-corrupt');
  const body = encodeOtlpProtobuf(sampleSpans());
  for (let iter = 0; iter < 3000; iter++) {
    const copy = Uint8Array.from(body);
    const flips = 1 + random.int(4);
    for (let f = 0; f < flips; f++) copy[random.int(copy.length)] = random.int(256);
    try {
      for (const span of decodeOtlpProtobuf(copy)) {
        assert.match(span.traceId, /^[0-9a-f]{32}$/);
        assert.match(span.spanId, /^[0-9a-f]{16}$/);
      }
    } catch (e) {
      assert.ok(e instanceof OtlpDecodeError, `seed ${seed} iteration ${iter}: ${String(e)}`);
    }
  }
});

test('JSON bodies cut at every length decode or throw OtlpDecodeError', () => {
  const text = JSON.stringify(encodeOtlpJson([richSpan()]));
  for (let n = 0; n < text.length; n++) {
    assert.throws(() => decodeOtlpJson(text.slice(0, n)), OtlpDecodeError, `prefix ${n}`);
  }
  assert.throws(
    () => decodeOtlpJson(new Uint8Array([0x7b, 0xff, 0x7d])),
    /body: JSON body is not valid UTF-8/,
  );
});

// ---- the OTel JS SDK as the sender

function otlpKindOf(kind: SpanKind): number {
  // The API's SpanKind starts at INTERNAL = 0; OTLP reserves 0 for UNSPECIFIED.
  return kind + 1;
}

function nsOf([s, ns]: [number, number]): bigint {
  return BigInt(s) * 1_000_000_000n + BigInt(ns);
}

function attrsOf(a: OtelAttributes): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(a)) {
    if (v !== undefined) out[k] = v as Attributes[string];
  }
  return out;
}

function expectedFromSdk(s: ReadableSpan): SpanRecord {
  const ctx = s.spanContext();
  const rec: SpanRecord = {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    name: s.name,
    kind: otlpKindOf(s.kind),
    startNs: nsOf(s.startTime),
    endNs: nsOf(s.endTime),
    attributes: attrsOf(s.attributes),
    events: s.events.map((e) => ({
      name: e.name,
      timeNs: nsOf(e.time),
      attributes: attrsOf(e.attributes ?? {}),
    })),
    links: s.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      attributes: attrsOf(l.attributes ?? {}),
    })),
    status:
      s.status.message === undefined || s.status.message === ''
        ? { code: s.status.code }
        : { code: s.status.code, message: s.status.message },
    resource: attrsOf(s.resource.attributes),
    scope: s.instrumentationScope.version
      ? { name: s.instrumentationScope.name, version: s.instrumentationScope.version }
      : { name: s.instrumentationScope.name },
  };
  const parent = s.parentSpanContext?.spanId;
  if (parent !== undefined) rec.parentSpanId = parent;
  return rec;
}

async function sdkSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'ipiscope-core', 'emu.core': 2 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('ipiscope.tracing', '0.1.0');
  const other = tracer.startSpan('publish emu.core.1.ipi', { kind: SpanKind.PRODUCER });
  other.end();
  const root = tracer.startSpan('doorbell send', {
    kind: SpanKind.PRODUCER,
    attributes: { 'emu.core': 2, 'emu.ratio': 0.5, 'emu.kinds': ['a', 'b'], 'emu.ok': true },
    links: [{ context: other.spanContext(), attributes: { 'messaging.system': 'nats' } }],
  });
  root.addEvent('store', { 'emu.coherence.version': 7, 'emu.location': 'paca.host_ipi' });
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'ignored' });
  const { trace, context } = await import('@opentelemetry/api');
  const child = tracer.startSpan(
    'doorbell receive',
    { kind: SpanKind.CONSUMER },
    trace.setSpan(context.active(), root),
  );
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  root.end();
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

test('the OTel SDK protobuf serializer output decodes to the same spans', async () => {
  const spans = await sdkSpans();
  assert.equal(spans.length, 3);
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  assert.ok(bytes);
  const decoded = decodeOtlpProtobuf(bytes);
  assert.deepEqual(decoded, spans.map(expectedFromSdk));
  const send = decoded.find((s) => s.name === 'doorbell send');
  const receive = decoded.find((s) => s.name === 'doorbell receive');
  assert.ok(send && receive);
  assert.equal(send.parentSpanId, undefined);
  assert.equal(receive.parentSpanId, send.spanId);
  assert.deepEqual(send.status, { code: 2, message: 'ignored' });
  assert.equal(send.links.length, 1);
  assert.deepEqual(send.attributes['emu.kinds'], ['a', 'b']);
});

test('the OTel SDK JSON serializer output decodes to the same spans', async () => {
  const spans = await sdkSpans();
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  assert.ok(bytes);
  const decoded = decodeOtlpJson(bytes);
  assert.deepEqual(decoded, spans.map(expectedFromSdk));
  assert.deepEqual(decoded, decodeOtlpProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!));
});
