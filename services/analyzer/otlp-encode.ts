// The inverse of otlp-decode: SpanRecords to OTLP protobuf bytes or OTLP/JSON, grouped by
// resource and then by scope (in order of first appearance), for tests, benches and span files.
import type { AttrValue, Attributes, OtlpEncoding, SpanRecord } from './otlp-decode.js';
import { otlpSchema } from './otlp-schema.js';

/** OTLP/JSON `AnyValue`, as written by encodeOtlpJson. */
export type OtlpJsonAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | string }
  | { bytesValue: string }
  | { arrayValue: { values: OtlpJsonAnyValue[] } }
  | { kvlistValue: { values: OtlpJsonKeyValue[] } }
  | Record<string, never>;

export interface OtlpJsonKeyValue {
  key: string;
  value: OtlpJsonAnyValue;
}

export interface OtlpJsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpJsonKeyValue[];
  events: { timeUnixNano: string; name: string; attributes: OtlpJsonKeyValue[] }[];
  links: { traceId: string; spanId: string; attributes: OtlpJsonKeyValue[] }[];
  status: { code: number; message?: string };
}

/** An OTLP/JSON `ExportTraceServiceRequest`; JSON-safe (no bigint, no bytes). */
export interface OtlpJsonRequest {
  resourceSpans: {
    resource: { attributes: OtlpJsonKeyValue[] };
    scopeSpans: { scope?: { name: string; version?: string }; spans: OtlpJsonSpan[] }[];
  }[];
}

interface Group {
  resource: Attributes;
  scopes: Map<string, { scope: SpanRecord['scope']; spans: SpanRecord[] }>;
}

function groupSpans(spans: readonly SpanRecord[]): Group[] {
  const byResource = new Map<Attributes, Group>();
  const byResourceKey = new Map<string, Group>();
  for (const span of spans) {
    // Spans decoded together share their resource object; fall back to content for others.
    let group = byResource.get(span.resource);
    if (group === undefined) {
      const key = canonical(span.resource);
      group = byResourceKey.get(key);
      if (group === undefined) {
        group = { resource: span.resource, scopes: new Map() };
        byResourceKey.set(key, group);
      }
      byResource.set(span.resource, group);
    }
    const scopeKey =
      span.scope === undefined ? '' : JSON.stringify([span.scope.name, span.scope.version]);
    let scoped = group.scopes.get(scopeKey);
    if (scoped === undefined) {
      scoped = { scope: span.scope, spans: [] };
      group.scopes.set(scopeKey, scoped);
    }
    scoped.spans.push(span);
  }
  return [...byResourceKey.values()];
}

function canonical(attrs: Attributes): string {
  return JSON.stringify(attrs, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `b64:${Buffer.from(v).toString('base64')}`;
    return v;
  });
}

// ---- JSON

/** SpanRecords as one OTLP/JSON export request (ready for JSON.stringify). */
export function encodeOtlpJson(spans: readonly SpanRecord[]): OtlpJsonRequest {
  return {
    resourceSpans: groupSpans(spans).map((g) => ({
      resource: { attributes: jsonAttributes(g.resource) },
      scopeSpans: [...g.scopes.values()].map(({ scope, spans: ss }) => {
        const spansJson = ss.map(jsonSpan);
        if (scope === undefined) return { spans: spansJson };
        return { scope: { ...scope }, spans: spansJson };
      }),
    })),
  };
}

function jsonSpan(s: SpanRecord): OtlpJsonSpan {
  const out: OtlpJsonSpan = {
    traceId: s.traceId,
    spanId: s.spanId,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startNs.toString(),
    endTimeUnixNano: s.endNs.toString(),
    attributes: jsonAttributes(s.attributes),
    events: s.events.map((e) => ({
      timeUnixNano: e.timeNs.toString(),
      name: e.name,
      attributes: jsonAttributes(e.attributes),
    })),
    links: s.links.map((l) => ({
      traceId: l.traceId,
      spanId: l.spanId,
      attributes: jsonAttributes(l.attributes),
    })),
    status: { ...s.status },
  };
  if (s.parentSpanId !== undefined) out.parentSpanId = s.parentSpanId;
  return out;
}

function jsonAttributes(attrs: Attributes): OtlpJsonKeyValue[] {
  return Object.keys(attrs).map((key) => ({ key, value: jsonAnyValue(attrs[key]!) }));
}

function jsonAnyValue(v: AttrValue): OtlpJsonAnyValue {
  if (v === null) return {};
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'bigint':
      return { intValue: v.toString() };
    case 'number':
      if (Number.isInteger(v)) return { intValue: v.toString() };
      return { doubleValue: Number.isFinite(v) ? v : String(v) };
    default:
      if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
      if (Array.isArray(v)) return { arrayValue: { values: v.map(jsonAnyValue) } };
      return { kvlistValue: { values: jsonAttributes(v) } };
  }
}

// ---- protobuf

/** SpanRecords as one binary OTLP `ExportTraceServiceRequest`. */
export function encodeOtlpProtobuf(spans: readonly SpanRecord[]): Uint8Array {
  const req = {
    resourceSpans: groupSpans(spans).map((g) => ({
      resource: { attributes: pbAttributes(g.resource) },
      scopeSpans: [...g.scopes.values()].map(({ scope, spans: ss }) => ({
        scope: scope === undefined ? null : { name: scope.name, version: scope.version ?? '' },
        spans: ss.map(pbSpan),
      })),
    })),
  };
  return otlpSchema().ExportTraceServiceRequest.encode(req).finish();
}

function pbSpan(s: SpanRecord): object {
  return {
    traceId: hexBytes(s.traceId),
    spanId: hexBytes(s.spanId),
    parentSpanId: s.parentSpanId === undefined ? new Uint8Array(0) : hexBytes(s.parentSpanId),
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: long64(s.startNs, true),
    endTimeUnixNano: long64(s.endNs, true),
    attributes: pbAttributes(s.attributes),
    events: s.events.map((e) => ({
      timeUnixNano: long64(e.timeNs, true),
      name: e.name,
      attributes: pbAttributes(e.attributes),
    })),
    links: s.links.map((l) => ({
      traceId: hexBytes(l.traceId),
      spanId: hexBytes(l.spanId),
      attributes: pbAttributes(l.attributes),
    })),
    status: { code: s.status.code, message: s.status.message ?? '' },
  };
}

function pbAttributes(attrs: Attributes): object[] {
  return Object.keys(attrs).map((key) => ({ key, value: pbAnyValue(attrs[key]!) }));
}

function pbAnyValue(v: AttrValue): object {
  if (v === null) return {};
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'bigint':
      return { intValue: long64(v, false) };
    case 'number':
      return Number.isInteger(v) ? { intValue: long64(BigInt(v), false) } : { doubleValue: v };
    default:
      if (v instanceof Uint8Array) return { bytesValue: v };
      if (Array.isArray(v)) return { arrayValue: { values: v.map(pbAnyValue) } };
      return { kvlistValue: { values: pbAttributes(v) } };
  }
}

// protobufjs writes 64-bit fields from any {low, high} pair (its LongBits.from), so we skip
// building a long.js instance.
function long64(n: bigint, unsigned: boolean): { low: number; high: number; unsigned: boolean } {
  const bits = BigInt.asUintN(64, n);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0, unsigned };
}

function hexBytes(hex: string): Uint8Array {
  return Buffer.from(hex, 'hex');
}

// ---- responses

/** The success body, `ExportTraceServiceResponse` without partial_success, in `encoding`. */
export function encodeOtlpResponse(encoding: OtlpEncoding): Uint8Array {
  if (encoding === 'json') return Buffer.from('{}');
  return otlpSchema().ExportTraceServiceResponse.encode({}).finish();
}

/** An OTLP/HTTP error body: `google.rpc.Status` in `encoding` (3 = INVALID_ARGUMENT). */
export function encodeOtlpStatus(
  encoding: OtlpEncoding,
  code: number,
  message: string,
): Uint8Array {
  if (encoding === 'json') return Buffer.from(JSON.stringify({ code, message }));
  return otlpSchema().Status.encode({ code, message }).finish();
}

/** Reads a `google.rpc.Status` body written by encodeOtlpStatus. */
export function decodeOtlpStatus(
  encoding: OtlpEncoding,
  body: Uint8Array,
): { code: number; message: string } {
  if (encoding === 'json') {
    const o = JSON.parse(Buffer.from(body).toString('utf8')) as { code?: number; message?: string };
    return { code: o.code ?? 0, message: o.message ?? '' };
  }
  const m = otlpSchema().Status.decode(body) as unknown as { code: number; message: string };
  return { code: m.code, message: m.message };
}
