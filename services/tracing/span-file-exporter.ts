/**
 * `--trace-file FILE`: every exported batch becomes one OTLP/JSON export request on one line of
 * FILE (the span-file format `ipiscope analyze FILE` reads). Writes are synchronous so that a
 * `sim` run, which never yields to the event loop, still writes as it goes and loses nothing.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { HrTime } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Attributes, SpanRecord } from '../analyzer/index.js';
import { UserError } from '../stdx/index.js';

function hrNs(t: HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

// OTLP's SpanKind is the API's plus one (0 is UNSPECIFIED on the wire).
const OTLP_KIND: Record<SpanKind, number> = {
  [SpanKind.INTERNAL]: 1,
  [SpanKind.SERVER]: 2,
  [SpanKind.CLIENT]: 3,
  [SpanKind.PRODUCER]: 4,
  [SpanKind.CONSUMER]: 5,
};

/** An SDK span as the analyzer's SpanRecord (what the OTLP encoders take). */
export function spanRecordOf(s: ReadableSpan): SpanRecord {
  const sc = s.spanContext();
  const r: SpanRecord = {
    traceId: sc.traceId,
    spanId: sc.spanId,
    name: s.name,
    kind: OTLP_KIND[s.kind],
    startNs: hrNs(s.startTime),
    endNs: hrNs(s.endTime),
    attributes: { ...(s.attributes as Attributes) },
    events: s.events.map((e) => ({
      name: e.name,
      timeNs: hrNs(e.time),
      attributes: { ...((e.attributes ?? {}) as Attributes) },
    })),
    links: s.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      attributes: { ...((l.attributes ?? {}) as Attributes) },
    })),
    status:
      s.status.code === SpanStatusCode.UNSET
        ? { code: 0 }
        : { code: s.status.code, ...(s.status.message ? { message: s.status.message } : {}) },
    resource: s.resource.attributes as Attributes,
    scope: {
      name: s.instrumentationScope.name,
      ...(s.instrumentationScope.version ? { version: s.instrumentationScope.version } : {}),
    },
  };
  const parent = s.parentSpanContext;
  if (parent !== undefined) r.parentSpanId = parent.spanId;
  return r;
}

export class SpanFileExporter implements SpanExporter {
  private fd: number | null;
  spanCount = 0;
  lineCount = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new UserError(
        `cannot open trace file ${path} for writing (${(e as Error).message}); check the directory exists and is writable`,
      );
    }
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.fd === null) {
      resultCallback({
        code: ExportResultCode.FAILED,
        error: new Error(`trace file ${this.path} is closed`),
      });
      return;
    }
    if (spans.length > 0) {
      writeSync(this.fd, otlpJsonLine(spans));
      this.spanCount += spans.length;
      this.lineCount++;
    }
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

// A direct ReadableSpan -> OTLP/JSON writer: the same document as
// `writeSpanFileLine(encodeOtlpJson(spans.map(spanRecordOf)))` (a test holds them equal), built as
// one string without the intermediate objects, because in a traced sim run this is the hot part.

/** Nanoseconds of an HrTime as decimal text, without BigInt arithmetic. */
function hrNsText(t: HrTime): string {
  if (t[0] === 0) return String(t[1]);
  return `${t[0]}${String(t[1]).padStart(9, '0')}`;
}

function anyJson(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${stringValueJson(v)}}`;
    case 'boolean':
      return `{"boolValue":${v}}`;
    case 'number':
      if (Number.isInteger(v)) return `{"intValue":"${v}"}`;
      return Number.isFinite(v) ? `{"doubleValue":${v}}` : `{"doubleValue":"${v}"}`;
    case 'bigint':
      return `{"intValue":"${v}"}`;
    default:
      if (Array.isArray(v)) return `{"arrayValue":{"values":[${v.map(anyJson).join(',')}]}}`;
      return '{}';
  }
}

/** Per attribute key, the JSON up to its value's type tag: `{"key":"k","value":{"`. */
const keyJson = new Map<string, string>();
/** JSON of short string values seen before (location names, kinds, ids repeat). */
const stringJson = new Map<string, string>();

function stringValueJson(v: string): string {
  let j = stringJson.get(v);
  if (j !== undefined) return j;
  // Most values are plain identifiers and names: skip JSON.stringify when nothing needs escaping.
  j = /^[\w .:,\-[\]>()/=]*$/.test(v) ? `"${v}"` : JSON.stringify(v);
  if (v.length <= 64 && stringJson.size < 65_536) stringJson.set(v, j);
  return j;
}

function attrsJson(attrs: Record<string, unknown> | undefined): string {
  if (attrs === undefined) return '[]';
  let out = '[';
  let first = true;
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined) continue;
    let kj = keyJson.get(k);
    if (kj === undefined) {
      kj = `{"key":${JSON.stringify(k)},"value":{"`;
      if (keyJson.size < 10_000) keyJson.set(k, kj);
    }
    if (!first) out += ',';
    first = false;
    // The common cases inline (integers, strings); the rest through anyJson.
    if (typeof v === 'number' && Number.isInteger(v)) out += `${kj}intValue":"${v}"}}`;
    else if (typeof v === 'string') out += `${kj}stringValue":${stringValueJson(v)}}}`;
    else out += `${kj.slice(0, -2)}${anyJson(v)}}`;
  }
  return `${out}]`;
}

function spanJson(s: ReadableSpan): string {
  const sc = s.spanContext();
  const parent = s.parentSpanContext;
  let events = '';
  for (const e of s.events) {
    events += `${events === '' ? '' : ','}{"timeUnixNano":"${hrNsText(e.time)}","name":${JSON.stringify(e.name)},"attributes":${attrsJson(e.attributes)}}`;
  }
  let links = '';
  for (const l of s.links) {
    links += `${links === '' ? '' : ','}{"traceId":"${l.context.traceId}","spanId":"${l.context.spanId}","attributes":${attrsJson(l.attributes)}}`;
  }
  const st =
    s.status.code === SpanStatusCode.UNSET
      ? '{"code":0}'
      : `{"code":${s.status.code}${s.status.message ? `,"message":${JSON.stringify(s.status.message)}` : ''}}`;
  return (
    `{"traceId":"${sc.traceId}","spanId":"${sc.spanId}","name":${JSON.stringify(s.name)},"kind":${OTLP_KIND[s.kind]},` +
    `"startTimeUnixNano":"${hrNsText(s.startTime)}","endTimeUnixNano":"${hrNsText(s.endTime)}","attributes":${attrsJson(s.attributes)},` +
    `"events":[${events}],"links":[${links}],"status":${st}${parent !== undefined ? `,"parentSpanId":"${parent.spanId}"` : ''}}`
  );
}

/** One span-file line (OTLP/JSON export request + newline) for SDK spans, grouped by resource. */
export function otlpJsonLine(spans: readonly ReadableSpan[]): string {
  const groups = new Map<object, ReadableSpan[]>();
  for (const s of spans) {
    let g = groups.get(s.resource);
    if (g === undefined) groups.set(s.resource, (g = []));
    g.push(s);
  }
  const rs: string[] = [];
  for (const g of groups.values()) {
    const first = g[0] as ReadableSpan;
    const scopes = new Map<string, ReadableSpan[]>();
    for (const s of g) {
      const key = `${s.instrumentationScope.name}\u0000${s.instrumentationScope.version ?? ''}`;
      let l = scopes.get(key);
      if (l === undefined) scopes.set(key, (l = []));
      l.push(s);
    }
    const ss: string[] = [];
    for (const l of scopes.values()) {
      const sc = (l[0] as ReadableSpan).instrumentationScope;
      const scope = `{"name":${JSON.stringify(sc.name)}${sc.version ? `,"version":${JSON.stringify(sc.version)}` : ''}}`;
      ss.push(`{"scope":${scope},"spans":[${l.map(spanJson).join(',')}]}`);
    }
    rs.push(
      `{"resource":{"attributes":${attrsJson(first.resource.attributes as Record<string, unknown>)}},"scopeSpans":[${ss.join(',')}]}`,
    );
  }
  return `{"resourceSpans":[${rs.join(',')}]}\n`;
}
