/**
 * Protobuf codec of the bus: envelopes, the machine's `CoreMsg` variants, link repair and control
 * messages, over `Uint8Array`. Pure code: no sockets, no clocks.
 *
 * The schemas are the `.proto` files under `proto/ipiscope/v1/`, loaded once with protobufjs at
 * run time (no generated code to keep fresh). Envelopes and machine messages, the traffic of every
 * hop, go through the table-driven codec compiled from them (`wire.ts`); control and repair
 * messages through protobufjs's reflection. 64-bit fields come back as JS numbers only when they
 * are safe integers, so every `CoreMsg` round-trips exactly and nothing beyond 2^53 is silently
 * rounded.
 *
 * Malformed bytes never crash a receiver: every decoder either returns a well-formed value or
 * throws `BusDecodeError` with the reason.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { CoreMsg, RmwOp } from '../machine/msgs.js';
import { RMW_OPS } from '../machine/msgs.js';
import { assert, assertNever } from '../stdx/assert.js';
import { UserError } from '../stdx/errors.js';
import { FlatCodec, OneofCodec, WireError } from './wire.js';
import type { WireObject } from './wire.js';

/** Bytes from the bus that are not a well-formed message of the expected schema. */
export class BusDecodeError extends UserError {
  override name = 'BusDecodeError';
  /** The failure is certain: these bytes will never decode (as opposed to a timeout). */
  readonly definite = true;
  constructor(
    readonly what: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot decode ${what} from the bus: ${reason}`, options);
  }
}

export const MESSAGE_CLASSES = ['memory', 'ipi', 'control'] as const;
export type MessageClass = (typeof MESSAGE_CLASSES)[number];

/** The link-layer wrapper of every message between two core processes. */
export interface Envelope {
  runId: string;
  srcCore: number;
  dstCore: number;
  /** Per-link sequence number, from 1; 0 in a probe. */
  linkSeq: number;
  msgClass: MessageClass;
  payload: Uint8Array;
  traceparent?: string;
  /** Incarnation of the sending process. */
  senderEpoch: number;
  duplicateInjected: boolean;
  retransmit: boolean;
  /** Numbers on this link the fault plan dropped since the previous transmitted envelope. */
  plannedDrops: number[];
  probe: boolean;
  probeHighSeq: number;
  /** The machine generation the payload belongs to (absent or 0: none, e.g. a probe). */
  generation?: number;
  /** Cumulative acknowledgement of the reverse link: every number up to `ackSeq` that the
   * destination sent in its incarnation `ackEpoch` was delivered (absent or 0: none). */
  ackSeq?: number;
  ackEpoch?: number;
}

export interface RetransmitRequest {
  runId: string;
  srcCore: number;
  dstCore: number;
  senderEpoch: number;
  fromSeq: number;
  toSeq: number;
}

export const RETRANSMIT_STATUSES = ['resent', 'planned_drop', 'pending', 'evicted', 'unknown'] as const;
export type RetransmitStatus = (typeof RETRANSMIT_STATUSES)[number];

export interface RetransmitEntry {
  seq: number;
  status: RetransmitStatus;
  /** The original envelope (encoded), for `resent`. */
  envelope?: Uint8Array;
  /** For `pending`: time until the sender transmits it. */
  pendingMs?: number;
}

export interface RetransmitReply {
  senderEpoch: number;
  /** Highest sequence number the sender has assigned on the link. */
  highSeq: number;
  entries: RetransmitEntry[];
}

export const CONTROL_KINDS = [
  'registerCore',
  'startRun',
  'stopRun',
  'coreResults',
  'faultPlanUpdate',
  'heartbeat',
  'statusRequest',
  'coreStatus',
  'fileChunkRequest',
  'fileChunk',
  'startClock',
] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

/** A control message: its kind and its fields (camelCase, 64-bit ints as numbers). */
export interface ControlMsg {
  kind: ControlKind;
  fields: Record<string, unknown>;
}

/** The class a machine message travels in (fault rules match on it). */
export function messageClassOf(msg: CoreMsg): 'memory' | 'ipi' {
  switch (msg.t) {
    case 'wreq':
    case 'wprop':
    case 'rmwreq':
    case 'rmwresp':
    case 'syncreq':
    case 'syncack':
    case 'fetch':
    case 'fetchresp':
    case 'evict':
      return 'memory';
    case 'dbell':
    case 'mfrr':
      return 'ipi';
    default:
      return assertNever(msg, 'CoreMsg');
  }
}

/** Finds `proto/` by walking up from this module: works from `services/` and from `dist/`. */
export function protoDir(): string {
  const env = process.env.IPISCOPE_PROTO_DIR;
  if (env !== undefined && env !== '') return resolve(env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'ipiscope', 'v1', 'envelope.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new UserError(
    'cannot find the protobuf schemas (proto/ipiscope/v1/*.proto) above ' +
      `${dirname(fileURLToPath(import.meta.url))}; reinstall ipiscope or set IPISCOPE_PROTO_DIR.`,
  );
}

interface Types {
  /** The hot path (every bus hop): envelopes and machine messages. */
  wire: { envelope: FlatCodec; memory: OneofCodec; ipi: OneofCodec };
  control: protobuf.Type;
  retransmitRequest: protobuf.Type;
  retransmitReply: protobuf.Type;
}

let types: Types | undefined;

function load(): Types {
  if (types !== undefined) return types;
  const dir = join(protoDir(), 'ipiscope', 'v1');
  const root = new protobuf.Root();
  root.loadSync(
    ['envelope.proto', 'memory.proto', 'ipi.proto', 'control.proto'].map((f) => join(dir, f)),
    { keepCase: false },
  );
  root.resolveAll();
  types = {
    wire: {
      envelope: new FlatCodec(root.lookupType('ipiscope.v1.Envelope')),
      memory: new OneofCodec(root.lookupType('ipiscope.v1.MemoryMessage')),
      ipi: new OneofCodec(root.lookupType('ipiscope.v1.IpiMessage')),
    },
    control: root.lookupType('ipiscope.v1.ControlMessage'),
    retransmitRequest: root.lookupType('ipiscope.v1.RetransmitRequest'),
    retransmitReply: root.lookupType('ipiscope.v1.RetransmitReply'),
  };
  return types;
}

// Field-level helpers. A decoded 64-bit field is a number or a Long; both must be safe integers.
type Raw = Record<string, unknown>;

function toSafe(x: unknown, what: string, field: string): number {
  let n: number;
  if (x === undefined || x === null) n = 0;
  else if (typeof x === 'number') n = x;
  else if (typeof x === 'object' && typeof (x as { toNumber?: unknown }).toNumber === 'function') {
    n = (x as { toNumber(): number }).toNumber();
  } else throw new BusDecodeError(what, `field ${field} has type ${typeof x}`);
  if (!Number.isSafeInteger(n)) {
    throw new BusDecodeError(what, `field ${field} = ${String(x)} is beyond ±(2^53 - 1)`);
  }
  return n;
}

function triples(xs: number[], what: string, field: string): number[] {
  if (xs.length % 3 !== 0) {
    throw new BusDecodeError(what, `field ${field} has ${xs.length} numbers, not whole triples`);
  }
  return xs;
}

function checkEncodable(n: number, field: string): void {
  assert(Number.isSafeInteger(n), () => `bus field ${field} must be a safe integer, got ${n}`);
}

function checkAll(obj: object, t: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'number') checkEncodable(v, `${t}.${k}`);
    else if (Array.isArray(v)) for (const x of v) checkEncodable(x as number, `${t}.${k}[]`);
  }
}

function decodeWith(type: protobuf.Type | FlatCodec | OneofCodec, bytes: Uint8Array, what: string): Raw {
  try {
    return type.decode(bytes) as unknown as Raw;
  } catch (e) {
    if (type instanceof protobuf.Type || e instanceof WireError) {
      throw new BusDecodeError(what, `malformed protobuf (${(e as Error).message})`, { cause: e });
    }
    throw e;
  }
}

/** The payload bytes of a machine message (a MemoryMessage or IpiMessage, by its class). */
export function encodeCoreMsg(msg: CoreMsg): Uint8Array {
  // The wire codec asserts that every number is a safe integer.
  const w = load().wire;
  const fields = msg as unknown as WireObject;
  if (msg.t === 'rmwreq') {
    const op = RMW_OPS.indexOf(msg.op) + 1;
    assert(op > 0, () => `known rmw op ${msg.op}`);
    return w.memory.encode('rmwreq', { ...fields, op });
  }
  return (messageClassOf(msg) === 'memory' ? w.memory : w.ipi).encode(msg.t, fields);
}

/** `sharers` is optional in the machine's messages and never empty when present. */
function sharersOf(list: number[]): { sharers?: number[] } {
  return list.length > 0 ? { sharers: list } : {};
}

/** Decodes a payload of class `cls`; throws `BusDecodeError` unless it is a well-formed CoreMsg. */
export function decodeCoreMsg(cls: MessageClass, bytes: Uint8Array): CoreMsg {
  const t = load();
  const what = `${cls} message`;
  if (cls === 'control') throw new BusDecodeError(what, 'a control payload is not a CoreMsg');
  const outer = decodeWith(cls === 'memory' ? t.wire.memory : t.wire.ipi, bytes, what);
  const tag = outer.msg;
  if (typeof tag !== 'string') throw new BusDecodeError(what, 'no message in the payload');
  const m = outer[tag] as Raw;
  // The wire codec gives every field, as safe integers (or refuses the bytes).
  const n = (field: string): number => m[field] as number;
  const list = (field: string): number[] => m[field] as number[];
  switch (tag) {
    case 'wreq':
      return {
        t: 'wreq', src: n('src'), thread: n('thread'), wid: n('wid'), loc: n('loc'),
        value: n('value'), lane: n('lane'), prereq: triples(list('prereq'), what, 'wreq.prereq'),
        clock: n('clock'),
      };
    case 'wprop':
      return {
        t: 'wprop', home: n('home'), loc: n('loc'), version: n('version'), value: n('value'),
        wid: n('wid'), writerCore: n('writerCore'), writerThread: n('writerThread'),
        prereq: triples(list('prereq'), what, 'wprop.prereq'), clock: n('clock'),
        ...sharersOf(list('sharers')),
      };
    case 'rmwreq': {
      const opIndex = n('op');
      const op: RmwOp | undefined = RMW_OPS[opIndex - 1];
      if (op === undefined) throw new BusDecodeError(what, `unknown rmw op ${opIndex}`);
      return {
        t: 'rmwreq', src: n('src'), thread: n('thread'), wid: n('wid'), loc: n('loc'), op,
        a: n('a'), b: n('b'), prereq: triples(list('prereq'), what, 'rmwreq.prereq'),
        clock: n('clock'),
      };
    }
    case 'rmwresp':
      return {
        t: 'rmwresp', home: n('home'), thread: n('thread'), wid: n('wid'), loc: n('loc'),
        old: n('old'), oldVersion: n('oldVersion'),
        oldPrereq: triples(list('oldPrereq'), what, 'rmwresp.oldPrereq'), version: n('version'),
        value: n('value'), clock: n('clock'), ...sharersOf(list('sharers')),
      };
    case 'syncreq':
      return {
        t: 'syncreq', src: n('src'), thread: n('thread'), sid: n('sid'),
        entries: list('entries'), clock: n('clock'),
      };
    case 'syncack':
      return { t: 'syncack', src: n('src'), thread: n('thread'), sid: n('sid'), clock: n('clock') };
    case 'fetch':
      return { t: 'fetch', src: n('src'), thread: n('thread'), loc: n('loc'), clock: n('clock') };
    case 'evict':
      return { t: 'evict', src: n('src'), loc: n('loc'), clock: n('clock') };
    case 'fetchresp':
      return {
        t: 'fetchresp', home: n('home'), thread: n('thread'), loc: n('loc'), version: n('version'),
        value: n('value'), prereq: triples(list('prereq'), what, 'fetchresp.prereq'),
        clock: n('clock'), ...sharersOf(list('sharers')),
      };
    case 'dbell':
      return {
        t: 'dbell', src: n('src'), srcThread: n('srcThread'), cpu: n('cpu'), id: n('id'),
        clock: n('clock'),
      };
    case 'mfrr':
      return {
        t: 'mfrr', src: n('src'), srcThread: n('srcThread'), cpu: n('cpu'),
        priority: n('priority'), id: n('id'), clock: n('clock'),
      };
    default:
      throw new BusDecodeError(what, `unexpected message ${tag}`);
  }
}

const CLASS_TO_WIRE: Record<MessageClass, number> = { memory: 1, ipi: 2, control: 3 };

export function encodeEnvelope(e: Envelope): Uint8Array {
  // The wire codec asserts safe integers, and the range of the uint32 fields.
  const wire: Raw = {
    runId: e.runId,
    srcCore: e.srcCore,
    dstCore: e.dstCore,
    linkSeq: e.linkSeq,
    msgClass: CLASS_TO_WIRE[e.msgClass],
    payload: e.payload,
    senderEpoch: e.senderEpoch,
    duplicateInjected: e.duplicateInjected,
    retransmit: e.retransmit,
    plannedDrops: e.plannedDrops,
    probe: e.probe,
    probeHighSeq: e.probeHighSeq,
    generation: e.generation ?? 0,
    ackSeq: e.ackSeq ?? 0,
    ackEpoch: e.ackEpoch ?? 0,
  };
  if (e.traceparent !== undefined) wire.traceparent = e.traceparent;
  return load().wire.envelope.encode(wire);
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const what = 'envelope';
  // The wire codec gives every field, numbers as safe integers (or refuses the bytes).
  const m = decodeWith(load().wire.envelope, bytes, what);
  const cls = MESSAGE_CLASSES[(m.msgClass as number) - 1];
  if (cls === undefined) throw new BusDecodeError(what, `unknown message class ${String(m.msgClass)}`);
  const e: Envelope = {
    runId: m.runId as string,
    srcCore: m.srcCore as number,
    dstCore: m.dstCore as number,
    linkSeq: m.linkSeq as number,
    msgClass: cls,
    payload: m.payload as Uint8Array,
    senderEpoch: m.senderEpoch as number,
    duplicateInjected: m.duplicateInjected as boolean,
    retransmit: m.retransmit as boolean,
    plannedDrops: m.plannedDrops as number[],
    probe: m.probe as boolean,
    probeHighSeq: m.probeHighSeq as number,
  };
  if (m.generation !== 0) e.generation = m.generation as number;
  if (m.ackSeq !== 0) {
    e.ackSeq = m.ackSeq as number;
    e.ackEpoch = m.ackEpoch as number;
  }
  if (m.traceparent !== undefined) e.traceparent = m.traceparent as string;
  if (!e.probe && e.linkSeq === 0) throw new BusDecodeError(what, 'link_seq 0 outside a probe');
  return e;
}

export function encodeRetransmitRequest(r: RetransmitRequest): Uint8Array {
  checkAll(r, 'RetransmitRequest');
  return load().retransmitRequest.encode(r).finish();
}

export function decodeRetransmitRequest(bytes: Uint8Array): RetransmitRequest {
  const what = 'retransmit request';
  const m = decodeWith(load().retransmitRequest, bytes, what);
  const r: RetransmitRequest = {
    runId: typeof m.runId === 'string' ? m.runId : '',
    srcCore: toSafe(m.srcCore, what, 'src_core'),
    dstCore: toSafe(m.dstCore, what, 'dst_core'),
    senderEpoch: toSafe(m.senderEpoch, what, 'sender_epoch'),
    fromSeq: toSafe(m.fromSeq, what, 'from_seq'),
    toSeq: toSafe(m.toSeq, what, 'to_seq'),
  };
  if (r.fromSeq < 1 || r.toSeq < r.fromSeq) {
    throw new BusDecodeError(what, `empty or invalid range ${r.fromSeq}..${r.toSeq}`);
  }
  return r;
}

export function encodeRetransmitReply(r: RetransmitReply): Uint8Array {
  return load()
    .retransmitReply.encode({
      senderEpoch: r.senderEpoch,
      highSeq: r.highSeq,
      entries: r.entries.map((e) => ({
        seq: e.seq,
        status: RETRANSMIT_STATUSES.indexOf(e.status) + 1,
        envelope: e.envelope,
        pendingMs: e.pendingMs ?? 0,
      })),
    })
    .finish();
}

export function decodeRetransmitReply(bytes: Uint8Array): RetransmitReply {
  const what = 'retransmit reply';
  const m = decodeWith(load().retransmitReply, bytes, what);
  const raw = Array.isArray(m.entries) ? (m.entries as Raw[]) : [];
  return {
    senderEpoch: toSafe(m.senderEpoch, what, 'sender_epoch'),
    highSeq: toSafe(m.highSeq, what, 'high_seq'),
    entries: raw.map((e, i) => {
      const status = RETRANSMIT_STATUSES[toSafe(e.status, what, `entries[${i}].status`) - 1];
      if (status === undefined) throw new BusDecodeError(what, `entries[${i}] has no known status`);
      const entry: RetransmitEntry = { seq: toSafe(e.seq, what, `entries[${i}].seq`), status };
      if (status === 'resent') {
        if (!(e.envelope instanceof Uint8Array) || e.envelope.length === 0) {
          throw new BusDecodeError(what, `entries[${i}] is resent without an envelope`);
        }
        entry.envelope = e.envelope;
      }
      if (status === 'pending') entry.pendingMs = toSafe(e.pendingMs, what, `entries[${i}].pending_ms`);
      return entry;
    }),
  };
}

/** Encodes a control message; `fields` use the camelCase names of control.proto. */
export function encodeControlMsg(msg: ControlMsg): Uint8Array {
  const type = load().control;
  const err = type.verify({ [msg.kind]: msg.fields });
  assert(err === null, `control message ${msg.kind}: ${err ?? ''}`);
  return type.encode(type.fromObject({ [msg.kind]: msg.fields })).finish();
}

export function decodeControlMsg(bytes: Uint8Array): ControlMsg {
  const what = 'control message';
  const type = load().control;
  const m = decodeWith(type, bytes, what);
  const kind = CONTROL_KINDS.find((k) => k === m.msg);
  if (kind === undefined) throw new BusDecodeError(what, 'no message in the payload');
  const obj = type.toObject(m as unknown as protobuf.Message, {
    longs: String,
    defaults: true,
    arrays: true,
    objects: true,
  }) as Record<string, Record<string, unknown>>;
  const fields = obj[kind] ?? {};
  // 64-bit fields come out as decimal strings; give them back as numbers when they are safe.
  const sub = type.lookupType(kind.charAt(0).toUpperCase() + kind.slice(1));
  for (const field of sub.fieldsArray) {
    if (!field.long) continue;
    const v = fields[field.name];
    if (typeof v === 'string') fields[field.name] = toSafe(Number(v), what, `${kind}.${field.name}`);
    else if (field.map && typeof v === 'object' && v !== null) {
      const entries = v as Record<string, unknown>;
      for (const key of Object.keys(entries)) {
        entries[key] = toSafe(Number(entries[key]), what, `${kind}.${field.name}.${key}`);
      }
    }
  }
  return { kind, fields };
}
