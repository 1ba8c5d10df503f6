// Decodes OTLP trace export requests (protobuf or OTLP/JSON, optionally gzip) into SpanRecords.
//
// Policy: all or nothing. A request either decodes completely or is rejected with one
// OtlpDecodeError naming the first problem and where it is (e.g.
// `resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex digits, got 30`). We never
// drop part of a request, so we never need OTLP `partial_success`: a sender whose batch is
// rejected learns it from the 400 and nothing was half-ingested for the checker to misjudge.
import { gunzipSync } from 'node:zlib';
import { UserError } from '../stdx/index.js';
import { otlpSchema } from './otlp-schema.js';

/**
 * An attribute value. OTLP `int_value` becomes a `number` when it is a safe integer and a
 * `bigint` otherwise; `double_value` a `number`; `bytes_value` a `Uint8Array`; `array_value`
 * an array; `kvlist_value` a plain object; an empty AnyValue `null`. Like the OTel JS SDK, the
 * encoder writes an integral `number` as `int_value`, so a double 2.0 comes back as int 2.
 */
export type AttrValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | null
  | AttrValue[]
  | { [key: string]: AttrValue };

export type Attributes = Record<string, AttrValue>;

export interface SpanEvent {
  name: string;
  /** Unix epoch nanoseconds (the emulator may put virtual time here). */
  timeNs: bigint;
  attributes: Attributes;
}

export interface SpanLink {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  attributes: Attributes;
}

export interface SpanStatus {
  /** 0 UNSET, 1 OK, 2 ERROR (other values are kept, OTLP enums are open). */
  code: number;
  /** Absent when empty. */
  message?: string;
}

/** One span as the analyzer sees it, whatever encoding it arrived in. */
export interface SpanRecord {
  /** 32 lowercase hex digits, never all zero. */
  traceId: string;
  /** 16 lowercase hex digits, never all zero. */
  spanId: string;
  /** 16 lowercase hex digits; absent for a root span. */
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 0 UNSPECIFIED, 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  status: SpanStatus;
  /** Attributes of the span's resource (shared by reference between spans of one resource). */
  resource: Attributes;
  /** Absent when the request had no InstrumentationScope; `version` absent when empty. */
  scope?: { name: string; version?: string };
}

export const OTLP_CONTENT_TYPE = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
} as const;

export type OtlpEncoding = keyof typeof OTLP_CONTENT_TYPE;

/** A malformed OTLP request: `where` names the place (a field path, `body`, `content-type`). */
export class OtlpDecodeError extends UserError {
  override name = 'OtlpDecodeError';
  constructor(
    readonly where: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${where}: ${reason}`, options);
  }
}

/** Nesting bound for array/kvlist attribute values, so hostile input cannot exhaust the stack. */
export const ANY_VALUE_DEPTH_MAX = 32;

const SPAN_KIND_BY_NAME: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

const STATUS_CODE_BY_NAME: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

/** The encoding for a `Content-Type` header value, or undefined when it is not OTLP. */
export function otlpEncodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  if (contentType === undefined) return undefined;
  const semi = contentType.indexOf(';');
  const media = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (media === OTLP_CONTENT_TYPE.protobuf) return 'protobuf';
  if (media === OTLP_CONTENT_TYPE.json) return 'json';
  return undefined;
}

export interface DecodeOtlpRequestOptions {
  /** The request's `Content-Type`; must name protobuf or JSON. */
  contentType: string | undefined;
  /** The request's `Content-Encoding`: absent, `identity` or `gzip`. */
  contentEncoding?: string | undefined;
  /** Bound on the decompressed size of a gzip body, in bytes. Default 64 MiB. */
  bodyBytesMax?: number;
}

/** Decodes one OTLP/HTTP request body, whole or not at all. */
export function decodeOtlpRequest(body: Uint8Array, opts: DecodeOtlpRequestOptions): SpanRecord[] {
  const encoding = otlpEncodingOf(opts.contentType);
  if (encoding === undefined) {
    throw new OtlpDecodeError(
      'content-type',
      `unsupported ${JSON.stringify(opts.contentType ?? '')}; ` +
        `send ${OTLP_CONTENT_TYPE.protobuf} or ${OTLP_CONTENT_TYPE.json}`,
    );
  }
  const plain = decodeContentEncoding(body, opts.contentEncoding, opts.bodyBytesMax ?? 64 << 20);
  return encoding === 'protobuf' ? decodeOtlpProtobuf(plain) : decodeOtlpJson(plain);
}

/** Undoes `Content-Encoding` (identity or gzip), bounded by `bytesMax` of output. */
export function decodeContentEncoding(
  body: Uint8Array,
  contentEncoding: string | undefined,
  bytesMax: number,
): Uint8Array {
  const ce = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (ce === 'identity' || ce === '') return body;
  if (ce !== 'gzip') {
    throw new OtlpDecodeError('content-encoding', `unsupported ${JSON.stringify(ce)}; use gzip`);
  }
  try {
    return gunzipSync(body, { maxOutputLength: bytesMax });
  } catch (e) {
    const tooLarge = (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new OtlpDecodeError(
      'body',
      tooLarge ? `gzip body inflates beyond ${bytesMax} bytes` : `bad gzip: ${errorText(e)}`,
      { cause: e },
    );
  }
}

// ---- protobuf

interface PbLong {
  low: number;
  high: number;
}
type PbInt64 = number | PbLong;
interface PbAnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: PbInt64;
  doubleValue?: number;
  arrayValue?: { values: PbAnyValue[] } | null;
  kvlistValue?: { values: PbKeyValue[] } | null;
  bytesValue?: Uint8Array;
}
interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId: Uint8Array;
  name: string;
  kind: number;
  startTimeUnixNano: PbInt64;
  endTimeUnixNano: PbInt64;
  attributes: PbKeyValue[];
  events: { timeUnixNano: PbInt64; name: string; attributes: PbKeyValue[] }[];
  links: { traceId: Uint8Array; spanId: Uint8Array; attributes: PbKeyValue[] }[];
  status?: { code: number; message: string } | null;
}
interface PbRequest {
  resourceSpans: {
    resource?: { attributes: PbKeyValue[] } | null;
    scopeSpans: {
      scope?: { name: string; version: string } | null;
      spans: PbSpan[];
    }[];
  }[];
}

/** Decodes a binary `ExportTraceServiceRequest`. */
export function decodeOtlpProtobuf(bytes: Uint8Array): SpanRecord[] {
  let req: PbRequest;
  try {
    req = otlpSchema().ExportTraceServiceRequest.decode(bytes) as unknown as PbRequest;
  } catch (e) {
    throw new OtlpDecodeError(
      'body',
      `not a protobuf ExportTraceServiceRequest (${errorText(e)})`,
      { cause: e },
    );
  }
  const out: SpanRecord[] = [];
  req.resourceSpans.forEach((rs, ri) => {
    const rWhere = `resourceSpans[${ri}]`;
    const resource = pbAttributes(rs.resource?.attributes ?? [], () => `${rWhere}.resource`);
    rs.scopeSpans.forEach((ss, si) => {
      const sWhere = () => `${rWhere}.scopeSpans[${si}]`;
      const scope = ss.scope ? scopeOf(ss.scope.name, ss.scope.version) : undefined;
      ss.spans.forEach((s, pi) => {
        out.push(pbSpan(s, resource, scope, () => `${sWhere()}.spans[${pi}]`));
      });
    });
  });
  return out;
}

function pbSpan(
  s: PbSpan,
  resource: Attributes,
  scope: SpanRecord['scope'],
  where: () => string,
): SpanRecord {
  const span: SpanRecord = {
    traceId: pbId(s.traceId, 16, () => `${where()}.traceId`),
    spanId: pbId(s.spanId, 8, () => `${where()}.spanId`),
    name: s.name,
    kind: s.kind,
    startNs: u64(s.startTimeUnixNano),
    endNs: u64(s.endTimeUnixNano),
    attributes: pbAttributes(s.attributes, () => `${where()}.attributes`),
    events: s.events.map((e, i) => ({
      name: e.name,
      timeNs: u64(e.timeUnixNano),
      attributes: pbAttributes(e.attributes, () => `${where()}.events[${i}].attributes`),
    })),
    links: s.links.map((l, i) => ({
      traceId: pbId(l.traceId, 16, () => `${where()}.links[${i}].traceId`),
      spanId: pbId(l.spanId, 8, () => `${where()}.links[${i}].spanId`),
      attributes: pbAttributes(l.attributes, () => `${where()}.links[${i}].attributes`),
    })),
    status: statusOf(s.status?.code ?? 0, s.status?.message ?? ''),
    resource,
  };
  if (s.parentSpanId.length > 0) {
    span.parentSpanId = pbId(s.parentSpanId, 8, () => `${where()}.parentSpanId`);
  }
  if (scope !== undefined) span.scope = scope;
  return span;
}

function pbId(bytes: Uint8Array, length: number, where: () => string): string {
  if (bytes.length !== length) {
    throw new OtlpDecodeError(where(), `expected ${length} bytes, got ${bytes.length}`);
  }
  // protobufjs hands out Buffer slices on Node; wrap only what is not one.
  const buf = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hex = buf.toString('hex');
  if (isAllZero(hex)) throw new OtlpDecodeError(where(), 'all-zero id is invalid');
  return hex;
}

function pbAttributes(kvs: PbKeyValue[], where: () => string): Attributes {
  const out: Attributes = {};
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i]!;
    setAttr(out, kv.key, pbAnyValue(kv.value, 0, () => `${where()}[${i}].value`));
  }
  return out;
}

function pbAnyValue(
  v: PbAnyValue | null | undefined,
  depth: number,
  where: () => string,
): AttrValue {
  if (v === null || v === undefined) return null;
  switch (v.value) {
    case undefined:
      return null;
    case 'stringValue':
      return v.stringValue!;
    case 'boolValue':
      return v.boolValue!;
    case 'intValue':
      return intAttr(BigInt.asIntN(64, u64(v.intValue!)));
    case 'doubleValue':
      return v.doubleValue!;
    case 'bytesValue':
      return new Uint8Array(v.bytesValue!);
    case 'arrayValue': {
      checkDepth(depth, where);
      const values = v.arrayValue?.values ?? [];
      return values.map((x, i) => pbAnyValue(x, depth + 1, () => `${where()}.arrayValue[${i}]`));
    }
    case 'kvlistValue': {
      checkDepth(depth, where);
      const out: { [key: string]: AttrValue } = {};
      const values = v.kvlistValue?.values ?? [];
      values.forEach((kv, i) => {
        setAttr(out, kv.key, pbAnyValue(kv.value, depth + 1, () => `${where()}.kvlistValue[${i}]`));
      });
      return out;
    }
    default:
      throw new OtlpDecodeError(where(), `unknown AnyValue field ${JSON.stringify(v.value)}`);
  }
}

function u64(v: PbInt64): bigint {
  if (typeof v === 'number') return BigInt(v);
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

// ---- JSON

type JsonObject = Record<string, unknown>;

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (text or UTF-8 bytes): hex ids, enums as
 * integers or names, 64-bit integers as decimal strings or numbers, lowerCamelCase keys (the
 * proto field names are accepted too), unknown fields ignored, `null` as absent.
 */
export function decodeOtlpJson(input: string | Uint8Array): SpanRecord[] {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (e) {
      throw new OtlpDecodeError('body', 'JSON body is not valid UTF-8', { cause: e });
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new OtlpDecodeError('body', `invalid JSON (${errorText(e)})`, { cause: e });
  }
  return decodeOtlpJsonValue(doc);
}

/** Like decodeOtlpJson, for an already parsed JSON value. */
export function decodeOtlpJsonValue(doc: unknown): SpanRecord[] {
  const req = jObject(doc, 'body', true);
  const out: SpanRecord[] = [];
  const rsList = jArray(field(req, 'resourceSpans', 'resource_spans'), 'resourceSpans');
  rsList.forEach((rsRaw, ri) => {
    const rWhere = `resourceSpans[${ri}]`;
    const rs = jObject(rsRaw, rWhere, true);
    const res = jObject(rs['resource'], `${rWhere}.resource`, false);
    const resource = res ? jAttributes(res['attributes'], `${rWhere}.resource.attributes`) : {};
    const ssKey = `${rWhere}.scopeSpans`;
    jArray(field(rs, 'scopeSpans', 'scope_spans'), ssKey).forEach((ssRaw, si) => {
      const sWhere = `${ssKey}[${si}]`;
      const ss = jObject(ssRaw, sWhere, true);
      const sc = jObject(ss['scope'], `${sWhere}.scope`, false);
      const scope = sc
        ? scopeOf(
            jString(sc['name'], `${sWhere}.scope.name`),
            jString(sc['version'], `${sWhere}.scope.version`),
          )
        : undefined;
      jArray(ss['spans'], `${sWhere}.spans`).forEach((sRaw, pi) => {
        out.push(jSpan(sRaw, resource, scope, `${sWhere}.spans[${pi}]`));
      });
    });
  });
  return out;
}

function jSpan(
  raw: unknown,
  resource: Attributes,
  scope: SpanRecord['scope'],
  where: string,
): SpanRecord {
  const s = jObject(raw, where, true);
  const st = jObject(s['status'], `${where}.status`, false);
  const span: SpanRecord = {
    traceId: jId(field(s, 'traceId', 'trace_id'), 32, `${where}.traceId`),
    spanId: jId(field(s, 'spanId', 'span_id'), 16, `${where}.spanId`),
    name: jString(s['name'], `${where}.name`),
    kind: jEnum(s['kind'], SPAN_KIND_BY_NAME, `${where}.kind`),
    startNs: jInt64(
      field(s, 'startTimeUnixNano', 'start_time_unix_nano'),
      `${where}.startTimeUnixNano`,
      false,
    ),
    endNs: jInt64(
      field(s, 'endTimeUnixNano', 'end_time_unix_nano'),
      `${where}.endTimeUnixNano`,
      false,
    ),
    attributes: jAttributes(s['attributes'], `${where}.attributes`),
    events: jArray(s['events'], `${where}.events`).map((eRaw, i) => {
      const w = `${where}.events[${i}]`;
      const e = jObject(eRaw, w, true);
      return {
        name: jString(e['name'], `${w}.name`),
        timeNs: jInt64(field(e, 'timeUnixNano', 'time_unix_nano'), `${w}.timeUnixNano`, false),
        attributes: jAttributes(e['attributes'], `${w}.attributes`),
      };
    }),
    links: jArray(s['links'], `${where}.links`).map((lRaw, i) => {
      const w = `${where}.links[${i}]`;
      const l = jObject(lRaw, w, true);
      return {
        traceId: jId(field(l, 'traceId', 'trace_id'), 32, `${w}.traceId`),
        spanId: jId(field(l, 'spanId', 'span_id'), 16, `${w}.spanId`),
        attributes: jAttributes(l['attributes'], `${w}.attributes`),
      };
    }),
    status: st
      ? statusOf(
          jEnum(st['code'], STATUS_CODE_BY_NAME, `${where}.status.code`),
          jString(st['message'], `${where}.status.message`),
        )
      : { code: 0 },
    resource,
  };
  const parent = field(s, 'parentSpanId', 'parent_span_id');
  if (parent !== undefined && parent !== null && parent !== '') {
    span.parentSpanId = jId(parent, 16, `${where}.parentSpanId`);
  }
  if (scope !== undefined) span.scope = scope;
  return span;
}

function field(o: JsonObject, camel: string, snake: string): unknown {
  const v = o[camel];
  return v === undefined ? o[snake] : v;
}

function jObject(v: unknown, where: string, required: true): JsonObject;
function jObject(v: unknown, where: string, required: false): JsonObject | undefined;
function jObject(v: unknown, where: string, required: boolean): JsonObject | undefined {
  if (v === undefined || v === null) {
    if (required) throw new OtlpDecodeError(where, 'expected an object, got ' + jType(v));
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new OtlpDecodeError(where, `expected an object, got ${jType(v)}`);
  }
  return v as JsonObject;
}

function jArray(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpDecodeError(where, `expected an array, got ${jType(v)}`);
  return v;
}

function jString(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new OtlpDecodeError(where, `expected a string, got ${jType(v)}`);
  return v;
}

const HEX_RE = /^[0-9a-fA-F]*$/;

function jId(v: unknown, digits: number, where: string): string {
  if (typeof v !== 'string') {
    throw new OtlpDecodeError(where, `expected ${digits} hex digits, got ${jType(v)}`);
  }
  if (v.length !== digits) {
    throw new OtlpDecodeError(where, `expected ${digits} hex digits, got ${v.length} characters`);
  }
  if (!HEX_RE.test(v)) {
    throw new OtlpDecodeError(where, `expected ${digits} hex digits, got ${JSON.stringify(v)}`);
  }
  const hex = v.toLowerCase();
  if (isAllZero(hex)) throw new OtlpDecodeError(where, 'all-zero id is invalid');
  return hex;
}

function jEnum(v: unknown, byName: Readonly<Record<string, number>>, where: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
      throw new OtlpDecodeError(where, `expected an enum integer, got ${v}`);
    }
    return v;
  }
  if (typeof v === 'string' && Object.hasOwn(byName, v)) return byName[v]!;
  throw new OtlpDecodeError(
    where,
    `expected an integer or one of ${Object.keys(byName).join(', ')}, got ${JSON.stringify(v)}`,
  );
}

const INT_RE = /^-?[0-9]+$/;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function jInt64(v: unknown, where: string, signed: boolean): bigint {
  if (v === undefined || v === null) return 0n;
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new OtlpDecodeError(where, `expected an integer, got ${v}`);
    n = BigInt(v);
  } else if (typeof v === 'string' && INT_RE.test(v)) {
    n = BigInt(v);
  } else {
    throw new OtlpDecodeError(
      where,
      `expected an integer as a decimal string or number, got ${jType(v)} ${JSON.stringify(v)}`,
    );
  }
  const [min, max] = signed ? [I64_MIN, I64_MAX] : [0n, U64_MAX];
  if (n < min || n > max) {
    throw new OtlpDecodeError(where, `${n} is out of range for ${signed ? 'int64' : 'uint64'}`);
  }
  return n;
}

function jDouble(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new OtlpDecodeError(where, `expected a number, got ${jType(v)} ${JSON.stringify(v)}`);
}

const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

function jBytes(v: unknown, where: string): Uint8Array {
  if (typeof v !== 'string' || !BASE64_RE.test(v)) {
    throw new OtlpDecodeError(where, `expected base64 bytes, got ${jType(v)}`);
  }
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function jAttributes(v: unknown, where: string): Attributes {
  const out: Attributes = {};
  jArray(v, where).forEach((kvRaw, i) => {
    const kv = jObject(kvRaw, `${where}[${i}]`, true);
    const key = jString(kv['key'], `${where}[${i}].key`);
    setAttr(out, key, jAnyValue(kv['value'], 0, `${where}[${i}].value`));
  });
  return out;
}

const ANY_VALUE_FIELDS = [
  ['stringValue', 'string_value'],
  ['boolValue', 'bool_value'],
  ['intValue', 'int_value'],
  ['doubleValue', 'double_value'],
  ['arrayValue', 'array_value'],
  ['kvlistValue', 'kvlist_value'],
  ['bytesValue', 'bytes_value'],
] as const;

function jAnyValue(raw: unknown, depth: number, where: string): AttrValue {
  const o = jObject(raw, where, false);
  if (o === undefined) return null;
  let which: (typeof ANY_VALUE_FIELDS)[number][0] | undefined;
  let value: unknown;
  for (const [camel, snake] of ANY_VALUE_FIELDS) {
    const x = field(o, camel, snake);
    if (x === undefined || x === null) continue;
    if (which !== undefined) {
      throw new OtlpDecodeError(where, `AnyValue sets both ${which} and ${camel}`);
    }
    which = camel;
    value = x;
  }
  switch (which) {
    case undefined:
      return null;
    case 'stringValue':
      return jString(value, `${where}.stringValue`);
    case 'boolValue':
      if (typeof value !== 'boolean') {
        throw new OtlpDecodeError(`${where}.boolValue`, `expected a boolean, got ${jType(value)}`);
      }
      return value;
    case 'intValue':
      return intAttr(jInt64(value, `${where}.intValue`, true));
    case 'doubleValue':
      return jDouble(value, `${where}.doubleValue`);
    case 'bytesValue':
      return jBytes(value, `${where}.bytesValue`);
    case 'arrayValue': {
      checkDepth(depth, () => where);
      const w = `${where}.arrayValue`;
      const a = jObject(value, w, true);
      return jArray(a['values'], `${w}.values`).map((x, i) =>
        jAnyValue(x, depth + 1, `${w}.values[${i}]`),
      );
    }
    case 'kvlistValue': {
      checkDepth(depth, () => where);
      const w = `${where}.kvlistValue`;
      const l = jObject(value, w, true);
      const out: { [key: string]: AttrValue } = {};
      jArray(l['values'], `${w}.values`).forEach((kvRaw, i) => {
        const kv = jObject(kvRaw, `${w}.values[${i}]`, true);
        const key = jString(kv['key'], `${w}.values[${i}].key`);
        setAttr(out, key, jAnyValue(kv['value'], depth + 1, `${w}.values[${i}].value`));
      });
      return out;
    }
  }
}

function jType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

// ---- shared

function scopeOf(name: string, version: string): NonNullable<SpanRecord['scope']> {
  return version === '' ? { name } : { name, version };
}

function statusOf(code: number, message: string): SpanStatus {
  return message === '' ? { code } : { code, message };
}

function intAttr(n: bigint): number | bigint {
  const safe = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
  return safe ? Number(n) : n;
}

/** Sets a key without letting `__proto__` reach the prototype setter. Later duplicates win. */
function setAttr(out: { [key: string]: AttrValue }, key: string, value: AttrValue): void {
  if (key === '__proto__') {
    const desc = { value, enumerable: true, writable: true, configurable: true };
    Object.defineProperty(out, key, desc);
  } else {
    out[key] = value;
  }
}

function checkDepth(depth: number, where: () => string): void {
  if (depth >= ANY_VALUE_DEPTH_MAX) {
    throw new OtlpDecodeError(where(), `attribute value nested deeper than ${ANY_VALUE_DEPTH_MAX}`);
  }
}

function isAllZero(hex: string): boolean {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) !== 48) return false;
  return true;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
