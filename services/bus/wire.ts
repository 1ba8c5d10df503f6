/**
 * The hot path of the bus codec: protobuf wire encoding and decoding of envelopes and machine
 * messages, compiled once from the protobufjs reflection of `proto/` (the schemas stay the only
 * source of field numbers and types). Every bus hop encodes and decodes a message twice (the
 * payload, then its envelope), on the critical path of every cross-core exchange: protobufjs's
 * generic objects, `Long`s and per-call wrappers cost a cross-call with wait over NATS a sixth of
 * its round trip. These messages hold only numbers, booleans, strings, bytes and packed lists of
 * numbers, so a table per message type is enough.
 *
 * The bytes are protobuf's: protobufjs reads what this writes and this reads what protobufjs
 * writes (packed or not), as the codec tests check. Numbers are JS numbers: an encoder asserts safe
 * integers (its caller's duty); a decoder refuses a 64-bit value beyond 2^53 with the field's name
 * rather than round it. Malformed bytes throw `WireError`, never anything else.
 */
import protobuf from 'protobufjs';
import { assert } from '../stdx/assert.js';

export class WireError extends Error {
  override name = 'WireError';
}

type Kind = 'uint' | 'sint' | 'bool' | 'string' | 'bytes' | 'packedUint' | 'packedSint' | 'message';

interface FieldSpec {
  name: string;
  /** The schema's own name, for errors. */
  protoName: string;
  id: number;
  kind: Kind;
  /** proto3 `optional`: written when defined, absent when not read. */
  optional: boolean;
  /** The largest value the field holds (uint32 and enums: 2^32 - 1). */
  max: number;
  /** For `message` (a oneof case): the case's own codec. */
  sub?: FlatCodec;
}

/** A decoded message: camelCase field names, as protobufjs's own objects. */
export type WireObject = Record<string, unknown>;

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function kindOf(f: protobuf.Field): Kind {
  if (f.resolvedType instanceof protobuf.Type) return 'message';
  const enumLike = f.resolvedType instanceof protobuf.Enum;
  switch (enumLike ? 'uint32' : f.type) {
    case 'uint32':
    case 'uint64':
      return f.repeated ? 'packedUint' : 'uint';
    case 'sint64':
    case 'sint32':
      return f.repeated ? 'packedSint' : 'sint';
    case 'bool':
      assert(!f.repeated, () => `${f.fullName}: repeated bool is not used on the bus`);
      return 'bool';
    case 'string':
      assert(!f.repeated, () => `${f.fullName}: repeated string is not used on the bus`);
      return 'string';
    case 'bytes':
      assert(!f.repeated, () => `${f.fullName}: repeated bytes is not used on the bus`);
      return 'bytes';
    default:
      throw new Error(`${f.fullName}: the wire codec has no ${f.type} fields`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: into one scratch buffer, copied out per message.

let buf = new Uint8Array(1 << 16);
let pos = 0;

function room(n: number): void {
  if (pos + n <= buf.length) return;
  const bigger = new Uint8Array(Math.max(buf.length * 2, pos + n));
  bigger.set(buf.subarray(0, pos));
  buf = bigger;
}

/** A non-negative integer up to 2^54 (exact: division by 128 is exact on doubles). */
function writeVarint(n: number): void {
  room(10);
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
}

function writeSint(n: number): void {
  // Zigzag; an odd value past 2^53 is not a double, so the largest magnitudes go through BigInt.
  if (Math.abs(n) < 2 ** 52) {
    writeVarint(n >= 0 ? 2 * n : -2 * n - 1);
    return;
  }
  const b = BigInt(n);
  let z = b >= 0n ? b << 1n : (-b << 1n) - 1n;
  room(10);
  while (z >= 0x80n) {
    buf[pos++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  buf[pos++] = Number(z);
}

function writeTag(id: number, wireType: number): void {
  writeVarint(id * 8 + wireType);
}

const utf8 = new TextEncoder();

/** The last string written and its bytes: every envelope of a run carries the same run id. */
let lastString = '';
let lastStringBytes = new Uint8Array(0);

function stringBytes(s: string): Uint8Array {
  if (s !== lastString) {
    lastStringBytes = utf8.encode(s);
    lastString = s;
  }
  return lastStringBytes;
}

/** A length-delimited field whose body is written by `body` (a packed list, a message). */
function writeLenPrefixed(id: number, body: () => void): void {
  writeTag(id, LEN);
  // Reserve one length byte, which fits most bodies; move the body when it needs more.
  room(1);
  const at = pos++;
  body();
  const len = pos - at - 1;
  if (len < 0x80) {
    buf[at] = len;
    return;
  }
  const bodyCopy = buf.slice(at + 1, pos);
  pos = at;
  writeVarint(len);
  room(len);
  buf.set(bodyCopy, pos);
  pos += len;
}

/** A length-delimited field whose length is known. */
function writeBytes(id: number, b: Uint8Array): void {
  writeTag(id, LEN);
  writeVarint(b.length);
  room(b.length);
  buf.set(b, pos);
  pos += b.length;
}

function writeNumber(n: number, signed: boolean): void {
  if (signed) writeSint(n);
  else writeVarint(n);
}

function checkInt(n: unknown, f: FieldSpec, signed: boolean): number {
  assert(typeof n === 'number' && Number.isSafeInteger(n), () => `bus field ${f.name} must be a safe integer, got ${String(n)}`);
  assert(signed || (n >= 0 && n <= f.max), () => `bus field ${f.name} holds 0..${f.max}, got ${n}`);
  return n;
}

function writeField(f: FieldSpec, v: unknown): void {
  switch (f.kind) {
    case 'uint':
    case 'sint': {
      const signed = f.kind === 'sint';
      const n = checkInt(v ?? 0, f, signed);
      if (n === 0 && !f.optional) return;
      writeTag(f.id, VARINT);
      writeNumber(n, signed);
      return;
    }
    case 'bool':
      if (v !== true && !f.optional) return;
      writeTag(f.id, VARINT);
      writeVarint(v === true ? 1 : 0);
      return;
    case 'string': {
      const s = (v ?? '') as string;
      assert(typeof s === 'string', () => `bus field ${f.name} is a string`);
      if (s === '' && !f.optional) return;
      writeBytes(f.id, stringBytes(s));
      return;
    }
    case 'bytes': {
      const b = (v ?? new Uint8Array(0)) as Uint8Array;
      assert(b instanceof Uint8Array, () => `bus field ${f.name} is bytes`);
      if (b.length === 0 && !f.optional) return;
      writeBytes(f.id, b);
      return;
    }
    case 'packedUint':
    case 'packedSint': {
      const xs = (v ?? []) as number[];
      assert(Array.isArray(xs), () => `bus field ${f.name} is a list`);
      if (xs.length === 0) return;
      const signed = f.kind === 'packedSint';
      writeLenPrefixed(f.id, () => {
        for (const x of xs) writeNumber(checkInt(x, f, signed), signed);
      });
      return;
    }
    case 'message':
      throw new Error(`${f.name}: a oneof case is written by its oneof`);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

class Reader {
  at: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }

  /** A varint as a double: exact up to 2^53, rounded beyond (10 bytes at most). */
  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new WireError(`truncated varint at byte ${this.at}`);
      const b = this.bytes[this.at++] as number;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    throw new WireError(`varint longer than 10 bytes at byte ${this.at}`);
  }

  /** A uint32 field: the low 32 bits of the varint, as protobuf readers take them. */
  varint32(): number {
    const start = this.at;
    this.varint();
    let n = 0;
    for (let i = 0; i < 5 && start + i < this.at; i++) n += ((this.bytes[start + i] as number) & 0x7f) * 2 ** (7 * i);
    return n % 2 ** 32;
  }

  /** A zigzag varint, exact whenever the value is a safe integer. */
  sint(): number {
    const start = this.at;
    const z = this.varint();
    if (z <= Number.MAX_SAFE_INTEGER) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    // Past 2^53 the double lost the low bit: decode the bytes again, exactly.
    let big = 0n;
    for (let i = this.at - 1; i >= start; i--) big = (big << 7n) | BigInt((this.bytes[i] as number) & 0x7f);
    big &= (1n << 64n) - 1n;
    return Number(big & 1n ? -((big + 1n) >> 1n) : big >> 1n);
  }

  /** The end of a length-delimited field that starts here. */
  lenEnd(): number {
    const len = this.varint();
    const end = this.at + len;
    if (end > this.end) throw new WireError(`length ${len} at byte ${this.at} runs past the end (${this.end})`);
    return end;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case I64:
        this.advance(8);
        return;
      case LEN:
        this.at = this.lenEnd();
        return;
      case I32:
        this.advance(4);
        return;
      default:
        throw new WireError(`wire type ${wireType} at byte ${this.at}`);
    }
  }

  private advance(n: number): void {
    if (this.at + n > this.end) throw new WireError(`truncated field at byte ${this.at}`);
    this.at += n;
  }
}

const utf8Decoder = new TextDecoder('utf-8');

/** The last string read and its bytes (the run id of every envelope). */
let lastRead = '';
let lastReadBytes = new Uint8Array(0);

function readString(bytes: Uint8Array): string {
  if (bytes.length === lastReadBytes.length) {
    let same = true;
    for (let i = 0; i < bytes.length && same; i++) same = bytes[i] === lastReadBytes[i];
    if (same) return lastRead;
  }
  lastRead = utf8Decoder.decode(bytes);
  lastReadBytes = bytes.slice();
  return lastRead;
}

/** Decoded numbers are safe integers, or the message is refused (never rounded). */
function safe(f: FieldSpec, n: number): number {
  if (!Number.isSafeInteger(n)) throw new WireError(`field ${f.protoName} = ${n} is beyond ±(2^53 - 1)`);
  return n;
}

/** One number of field `f` (a scalar or an element of its list): uint32 as its low 32 bits. */
function readNumber(r: Reader, f: FieldSpec, signed: boolean): number {
  if (signed) return safe(f, r.sint());
  return f.max === 0xffffffff ? r.varint32() : safe(f, r.varint());
}

function wantWire(f: FieldSpec, wireType: number, want: number): void {
  if (wireType !== want) throw new WireError(`field ${f.name} (${f.id}) has wire type ${wireType}, not ${want}`);
}

function readField(r: Reader, f: FieldSpec, wireType: number, out: WireObject): void {
  switch (f.kind) {
    case 'uint':
    case 'sint':
      wantWire(f, wireType, VARINT);
      out[f.name] = readNumber(r, f, f.kind === 'sint');
      return;
    case 'bool':
      wantWire(f, wireType, VARINT);
      out[f.name] = r.varint() !== 0;
      return;
    case 'string': {
      wantWire(f, wireType, LEN);
      const end = r.lenEnd();
      out[f.name] = readString(r.bytes.subarray(r.at, end));
      r.at = end;
      return;
    }
    case 'bytes': {
      wantWire(f, wireType, LEN);
      const end = r.lenEnd();
      out[f.name] = r.bytes.subarray(r.at, end);
      r.at = end;
      return;
    }
    case 'packedUint':
    case 'packedSint': {
      const list = out[f.name] as number[];
      const signed = f.kind === 'packedSint';
      if (wireType === VARINT) {
        // An unpacked element (a writer may use either form).
        list.push(readNumber(r, f, signed));
        return;
      }
      wantWire(f, wireType, LEN);
      const end = r.lenEnd();
      const inner = new Reader(r.bytes, r.at, end);
      while (inner.at < end) list.push(readNumber(inner, f, signed));
      r.at = end;
      return;
    }
    case 'message':
      throw new Error(`${f.name}: a oneof case is read by its oneof`);
  }
}

// ---------------------------------------------------------------------------------------------
// Codecs

/** A message of scalars, strings, bytes and packed numbers. */
export class FlatCodec {
  private readonly fields: FieldSpec[];
  private readonly byId = new Map<number, FieldSpec>();

  constructor(readonly type: protobuf.Type) {
    this.fields = type.fieldsArray
      .slice()
      .sort((a, b) => a.id - b.id)
      .map((f) => ({
        name: f.name, protoName: f.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), id: f.id, kind: kindOf(f), optional: f.options?.proto3_optional === true,
        max: f.type === 'uint32' || f.resolvedType instanceof protobuf.Enum ? 0xffffffff : Number.MAX_SAFE_INTEGER,
      }));
    for (const f of this.fields) {
      assert(f.kind !== 'message', () => `${type.fullName}.${f.name}: a flat message has no message fields`);
      this.byId.set(f.id, f);
    }
  }

  encode(obj: WireObject): Uint8Array {
    pos = 0;
    this.write(obj);
    return buf.slice(0, pos);
  }

  /** @internal */
  write(obj: WireObject): void {
    for (const f of this.fields) {
      const v = obj[f.name];
      if (f.optional && v === undefined) continue;
      writeField(f, v);
    }
  }

  decode(bytes: Uint8Array): WireObject {
    return this.read(new Reader(bytes, 0, bytes.length), bytes.length);
  }

  /** @internal The fields up to `end`; absent ones read as proto3 defaults (optional: absent). */
  read(r: Reader, end: number): WireObject {
    const out: WireObject = {};
    for (const f of this.fields) {
      if (f.optional) continue;
      out[f.name] = f.kind === 'packedUint' || f.kind === 'packedSint' ? [] : f.kind === 'bool' ? false : f.kind === 'string' ? '' : f.kind === 'bytes' ? new Uint8Array(0) : 0;
    }
    while (r.at < end) {
      const tag = r.varint();
      const id = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (id === 0) throw new WireError(`field number 0 at byte ${r.at}`);
      const f = this.byId.get(id);
      if (f === undefined) r.skip(wireType);
      else readField(r, f, wireType, out);
    }
    if (r.at !== end) throw new WireError(`a field runs past the end of ${this.type.name}`);
    return out;
  }
}

/** A message that is one oneof of flat messages (MemoryMessage, IpiMessage). */
export class OneofCodec {
  private readonly cases = new Map<string, { id: number; codec: FlatCodec }>();
  private readonly byId = new Map<number, { name: string; codec: FlatCodec }>();

  constructor(type: protobuf.Type) {
    const [oneof] = type.oneofsArray;
    assert(type.oneofsArray.length === 1 && oneof !== undefined && oneof.fieldsArray.length === type.fieldsArray.length, () => `${type.fullName} is one oneof`);
    for (const f of oneof.fieldsArray) {
      assert(f.resolvedType instanceof protobuf.Type, () => `${f.fullName} is a message`);
      const codec = new FlatCodec(f.resolvedType);
      this.cases.set(f.name, { id: f.id, codec });
      this.byId.set(f.id, { name: f.name, codec });
    }
  }

  has(name: string): boolean {
    return this.cases.has(name);
  }

  encode(name: string, fields: WireObject): Uint8Array {
    const c = this.cases.get(name);
    assert(c !== undefined, () => `no oneof case ${name}`);
    pos = 0;
    writeLenPrefixed(c.id, () => c.codec.write(fields));
    return buf.slice(0, pos);
  }

  /** `{ msg: name, [name]: fields }` as protobufjs gives it; the last case on the wire wins. */
  decode(bytes: Uint8Array): WireObject {
    const r = new Reader(bytes, 0, bytes.length);
    const out: WireObject = {};
    while (r.at < bytes.length) {
      const tag = r.varint();
      const id = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (id === 0) throw new WireError(`field number 0 at byte ${r.at}`);
      const c = this.byId.get(id);
      if (c === undefined) {
        r.skip(wireType);
        continue;
      }
      if (wireType !== LEN) throw new WireError(`case ${c.name} has wire type ${wireType}`);
      const end = r.lenEnd();
      if (out.msg !== undefined) delete out[out.msg as string];
      out.msg = c.name;
      out[c.name] = c.codec.read(new Reader(bytes, r.at, end), end);
      r.at = end;
    }
    return out;
  }
}
