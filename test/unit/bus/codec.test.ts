// Goal: the bus codec round-trips every CoreMsg variant exactly (including numbers near ±2^53,
// -1 sentinels and long prerequisite lists), and malformed bytes never crash a receiver.
// Method: one sample per variant at the edges of its number types; then every truncated prefix,
// seeded random bytes and seeded bit flips of real encodings, each of which must either decode to
// a well-formed value or throw BusDecodeError (any other exception fails the test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreMsg } from '../../../services/machine/msgs.js';
import { Random } from '../../../services/stdx/random.js';
import {
  BusDecodeError,
  decodeControlMsg,
  decodeCoreMsg,
  decodeEnvelope,
  decodeRetransmitReply,
  decodeRetransmitRequest,
  encodeControlMsg,
  encodeCoreMsg,
  encodeEnvelope,
  encodeRetransmitReply,
  encodeRetransmitRequest,
  messageClassOf,
  protoDir,
  type Envelope,
} from '../../../services/bus/codec.js';
import protobuf from 'protobufjs';
import { join } from 'node:path';

const MAX = Number.MAX_SAFE_INTEGER;
const WID = 7 * 2 ** 32 + 12345;

const samples: CoreMsg[] = [
  { t: 'wreq', src: 3, thread: 2, wid: WID, loc: 17, value: -1, lane: -1, prereq: [1, 2, MAX, 4, 0, -MAX], clock: MAX },
  { t: 'wreq', src: 0, thread: 0, wid: 0, loc: 0, value: 0, lane: 3, prereq: [], clock: 0 },
  { t: 'wprop', home: 31, loc: 2 ** 40, version: 9, value: 0xffffffff, wid: WID, writerCore: 4, writerThread: 3, prereq: [5, 6, 7], clock: 99 },
  { t: 'rmwreq', src: 1, thread: 1, wid: WID, loc: 8, op: 'xchg', a: 1, b: 0, prereq: [], clock: 1 },
  { t: 'rmwreq', src: 1, thread: 1, wid: WID, loc: 8, op: 'cmpxchg', a: -5, b: MAX, prereq: [1, 1, 1], clock: 2 },
  { t: 'rmwreq', src: 1, thread: 1, wid: 1, loc: 8, op: 'add', a: 1, b: 0, prereq: [], clock: 3 },
  { t: 'rmwreq', src: 1, thread: 1, wid: 1, loc: 8, op: 'or', a: 1, b: 0, prereq: [], clock: 3 },
  { t: 'rmwreq', src: 1, thread: 1, wid: 1, loc: 8, op: 'andc', a: 1, b: 0, prereq: [], clock: 3 },
  { t: 'rmwreq', src: 1, thread: 1, wid: 1, loc: 8, op: 'stcx', a: 1, b: 4, prereq: [], clock: 3 },
  { t: 'rmwresp', home: 2, thread: 3, wid: WID, loc: 8, old: -MAX, oldVersion: 12, oldPrereq: [1, 2, 3, 4, 5, 6], version: -1, value: 0, clock: 77 },
  { t: 'syncreq', src: 5, thread: 0, sid: 2 ** 52, entries: Array.from({ length: 300 }, (_, i) => i * 1_000_003 - 7), clock: 5 },
  { t: 'syncack', src: 5, thread: 1, sid: 3, clock: 6 },
  { t: 'dbell', src: 9, srcThread: 3, cpu: 127, id: 2 ** 45 + 1, clock: 1234 },
  { t: 'mfrr', src: 9, srcThread: 0, cpu: 64, priority: 0xff, id: 1, clock: 1 },
  { t: 'mfrr', src: 9, srcThread: 0, cpu: 64, priority: 0, id: MAX, clock: MAX },
  { t: 'fetch', src: 31, thread: 7, loc: 2 ** 40, clock: MAX },
  { t: 'fetch', src: 0, thread: 0, loc: 0, clock: 0 },
  { t: 'fetchresp', home: 4, thread: 3, loc: 17, version: 0, value: -MAX, prereq: [1, 2, MAX, 4, 0, -MAX], clock: 8 },
  { t: 'fetchresp', home: 0, thread: 0, loc: 9, version: 12, value: 0xffffffff, prereq: [], clock: 1 },
  { t: 'evict', src: 5, loc: 2 ** 40, clock: 9 },
];

test('every CoreMsg variant round-trips exactly', () => {
  const tags = new Set(samples.map((m) => m.t));
  assert.equal(tags.size, 11, 'samples cover all eleven variants');
  for (const msg of samples) {
    const cls = messageClassOf(msg);
    const back = decodeCoreMsg(cls, encodeCoreMsg(msg));
    assert.deepEqual(back, msg);
  }
});

test('the class of a payload matters: memory bytes do not decode as an ipi message', () => {
  const bytes = encodeCoreMsg(samples[0] as CoreMsg);
  assert.throws(() => decodeCoreMsg('ipi', bytes), BusDecodeError);
  assert.throws(() => decodeCoreMsg('control', bytes), BusDecodeError);
  const ipi = encodeCoreMsg(samples[12] as CoreMsg);
  assert.throws(() => decodeCoreMsg('memory', ipi), BusDecodeError);
  // The read-miss messages travel as memory traffic (fault rules of class memory match them).
  const fetch = samples.find((m) => m.t === 'fetchresp') as CoreMsg;
  assert.equal(messageClassOf(fetch), 'memory');
  assert.throws(() => decodeCoreMsg('ipi', encodeCoreMsg(fetch)), BusDecodeError);
});

test('a fetch answer whose prerequisites are not whole triples is rejected', () => {
  const bad = { t: 'fetchresp', home: 1, thread: 0, loc: 2, version: 1, value: 1, prereq: [1, 2], clock: 1 } as CoreMsg;
  assert.throws(() => decodeCoreMsg('memory', encodeCoreMsg(bad)), (e: unknown) =>
    e instanceof BusDecodeError && /fetchresp.prereq has 2 numbers/.test(e.message));
});

function envelope(over: Partial<Envelope> = {}): Envelope {
  return {
    runId: 'run-1', srcCore: 3, dstCore: 7, linkSeq: 2 ** 40, msgClass: 'ipi',
    payload: encodeCoreMsg(samples[12] as CoreMsg), senderEpoch: 1_700_000_000_123,
    duplicateInjected: false, retransmit: false, plannedDrops: [], probe: false, probeHighSeq: 0,
    ...over,
  };
}

test('envelopes round-trip, with and without traceparent', () => {
  const a = envelope();
  assert.deepEqual(decodeEnvelope(encodeEnvelope(a)), { ...a, payload: decodeEnvelope(encodeEnvelope(a)).payload });
  assert.deepEqual([...decodeEnvelope(encodeEnvelope(a)).payload], [...a.payload]);
  assert.equal('traceparent' in decodeEnvelope(encodeEnvelope(a)), false);
  const b = envelope({
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    duplicateInjected: true, retransmit: true, plannedDrops: [5, 6, MAX], msgClass: 'memory',
  });
  const back = decodeEnvelope(encodeEnvelope(b));
  assert.equal(back.traceparent, b.traceparent);
  assert.deepEqual({ ...back, payload: [] }, { ...b, payload: [] });
  const probe = envelope({ probe: true, linkSeq: 0, probeHighSeq: 41, payload: new Uint8Array(0), msgClass: 'control' });
  assert.deepEqual({ ...decodeEnvelope(encodeEnvelope(probe)), payload: [] }, { ...probe, payload: [] });
  // An acknowledgement of the reverse link rides along (absent when 0).
  const acked = envelope({ ackSeq: 2 ** 41 + 3, ackEpoch: 1_700_000_000_999 });
  assert.deepEqual({ ...decodeEnvelope(encodeEnvelope(acked)), payload: [] }, { ...acked, payload: [] });
  assert.equal('ackSeq' in decodeEnvelope(encodeEnvelope(envelope({ ackSeq: 0, ackEpoch: 9 }))), false);
});

/** The schemas as protobufjs reads them: the reference the hot-path codec (bus/wire.ts) must match. */
function reference(): { root: protobuf.Root; memory: protobuf.Type; ipi: protobuf.Type; envelope: protobuf.Type } {
  const root = new protobuf.Root();
  const dir = join(protoDir(), 'ipiscope', 'v1');
  root.loadSync(['envelope.proto', 'memory.proto', 'ipi.proto'].map((f) => join(dir, f)));
  root.resolveAll();
  return { root, memory: root.lookupType('ipiscope.v1.MemoryMessage'), ipi: root.lookupType('ipiscope.v1.IpiMessage'), envelope: root.lookupType('ipiscope.v1.Envelope') };
}

/** A protobufjs object with its Longs as numbers (exact: every sample is a safe integer). */
function plain(type: protobuf.Type, m: protobuf.Message): Record<string, unknown> {
  return type.toObject(m, { longs: Number, enums: Number, bytes: Array, oneofs: true }) as Record<string, unknown>;
}

test('the wire codec writes protobuf that protobufjs reads, and reads what protobufjs writes', () => {
  const ref = reference();
  for (const msg of samples) {
    const cls = messageClassOf(msg);
    const type = cls === 'memory' ? ref.memory : ref.ipi;
    const ours = encodeCoreMsg(msg);
    // protobufjs reads our bytes as the same message...
    const theirs = plain(type, type.decode(ours));
    assert.equal(theirs.msg, msg.t);
    const { t: _t, ...fields } = msg;
    const want: Record<string, unknown> = msg.t === 'rmwreq' ? { ...fields, op: ['xchg', 'cmpxchg', 'add', 'or', 'andc', 'stcx'].indexOf(msg.op) + 1 } : { ...fields };
    for (const [k, v] of Object.entries(theirs[msg.t] as Record<string, unknown>)) {
      assert.deepEqual(v, want[k] ?? (Array.isArray(v) ? [] : 0), `${msg.t}.${k} as protobufjs reads it`);
    }
    // ...writes the same bytes for it, and we read protobufjs's bytes back to the sample.
    const theirBytes = type.encode(type.fromObject({ [msg.t]: want })).finish();
    assert.deepEqual([...ours], [...theirBytes], `${msg.t}: the same bytes as protobufjs`);
    assert.deepEqual(decodeCoreMsg(cls, theirBytes), msg);
  }
  const env = envelope({ traceparent: '00-ab-cd-01', plannedDrops: [1, 2, MAX], ackSeq: 9, ackEpoch: 4, generation: 3, probeHighSeq: 0 });
  const theirs = plain(ref.envelope, ref.envelope.decode(encodeEnvelope(env)));
  assert.equal(theirs.runId, env.runId);
  assert.equal(theirs.linkSeq, env.linkSeq);
  assert.equal(theirs.senderEpoch, env.senderEpoch);
  assert.equal(theirs.traceparent, env.traceparent);
  assert.deepEqual(theirs.plannedDrops, env.plannedDrops);
  assert.deepEqual(theirs.payload, [...env.payload]);
  const back = decodeEnvelope(ref.envelope.encode(ref.envelope.fromObject({ ...env, msgClass: 2 })).finish());
  assert.deepEqual({ ...back, payload: [...back.payload] }, { ...env, payload: [...env.payload] });
});

test('the wire codec reads repeated numbers unpacked too, and uint32 fields as their low 32 bits', () => {
  // wreq (case 1) with prereq (field 7, sint64) as three unpacked varints: 1, -1, 2.
  const inner = [0x08, 0x03, 0x38, 0x02, 0x38, 0x01, 0x38, 0x04];
  const msg = decodeCoreMsg('memory', new Uint8Array([0x0a, inner.length, ...inner]));
  assert.deepEqual(msg, { t: 'wreq', src: 3, thread: 0, wid: 0, loc: 0, value: 0, lane: 0, prereq: [1, -1, 2], clock: 0 });
  // syncack (case 6) with src (field 1, uint32) = 2^32 + 5 on the wire: protobuf readers keep 5.
  const ack = [0x08, 0x85, 0x80, 0x80, 0x80, 0x10];
  assert.deepEqual(decodeCoreMsg('memory', new Uint8Array([0x32, ack.length, ...ack])), { t: 'syncack', src: 5, thread: 0, sid: 0, clock: 0 });
});

test('retransmit messages and control messages round-trip', () => {
  const req = { runId: 'r', srcCore: 1, dstCore: 0, senderEpoch: 5, fromSeq: 10, toSeq: 2 ** 33 };
  assert.deepEqual(decodeRetransmitRequest(encodeRetransmitRequest(req)), req);
  const env = encodeEnvelope(envelope());
  const rep = decodeRetransmitReply(encodeRetransmitReply({
    senderEpoch: 5,
    highSeq: 2 ** 40,
    entries: [
      { seq: 10, status: 'resent', envelope: env },
      { seq: 11, status: 'planned_drop' },
      { seq: 12, status: 'pending', pendingMs: 40 },
      { seq: 13, status: 'evicted' },
      { seq: 14, status: 'unknown' },
    ],
  }));
  assert.deepEqual(rep.entries.map((e) => [e.seq, e.status, e.pendingMs]), [
    [10, 'resent', undefined], [11, 'planned_drop', undefined], [12, 'pending', 40],
    [13, 'evicted', undefined], [14, 'unknown', undefined],
  ]);
  assert.deepEqual([...(rep.entries[0]?.envelope ?? [])], [...env]);
  assert.equal(rep.highSeq, 2 ** 40);
  const hb = { kind: 'heartbeat' as const, fields: { runId: 'r', core: 3, senderEpoch: 9, step: 2 ** 50, clock: 4, unixMs: 1_700_000_000_000 } };
  assert.deepEqual(decodeControlMsg(encodeControlMsg(hb)), hb);
  const res = decodeControlMsg(encodeControlMsg({
    kind: 'coreResults', fields: { runId: 'r', core: 1, counters: { ipi_count_sent: 12 }, verdict: 'valid' },
  }));
  assert.equal(res.kind, 'coreResults');
  assert.deepEqual(res.fields.counters, { ipi_count_sent: 12 });
  // A core's status carries the losses its watch confirmed (flat triples) next to its waiters.
  const st = decodeControlMsg(encodeControlMsg({ kind: 'coreStatus', fields: { runId: 'r', core: 7, wave: 3, stuck: [53, 30, 2400], lost: [30, 1, 29_214, 29, 2, 30_001] } }));
  assert.equal(st.kind, 'coreStatus');
  // uint64s decode as strings, as the other repeated counters (the controller takes Number of each).
  assert.deepEqual((st.fields.lost as unknown[]).map(Number), [30, 1, 29_214, 29, 2, 30_001]);
  assert.deepEqual((st.fields.stuck as unknown[]).map(Number), [53, 30, 2400]);
  // A paced generation's tick 0 (StartClock): fractional ms since the Unix epoch, kept exactly.
  const sc = { kind: 'startClock' as const, fields: { runId: 'r', generation: 2, epochMs: 1_765_139_000_123.25 } };
  assert.deepEqual(decodeControlMsg(encodeControlMsg(sc)), sc);
});

test('numbers beyond 2^53 on the wire are rejected, not rounded', () => {
  // A hand-made envelope: field 4 (link_seq, varint) = 2^53 + 1.
  const big = 2n ** 53n + 1n;
  const varint: number[] = [];
  let v = big;
  while (v >= 0x80n) { varint.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
  varint.push(Number(v));
  const bytes = new Uint8Array([0x20, ...varint, 0x28, 0x02]);
  assert.throws(() => decodeEnvelope(bytes), (e: unknown) =>
    e instanceof BusDecodeError && /link_seq .* beyond/.test(e.message));
});

/** Decodes and checks the outcome: a well-formed value, or BusDecodeError. Anything else fails. */
function decodeAny(bytes: Uint8Array, seed: string): void {
  const decoders: [string, () => unknown][] = [
    ['envelope', () => decodeEnvelope(bytes)],
    ['memory', () => decodeCoreMsg('memory', bytes)],
    ['ipi', () => decodeCoreMsg('ipi', bytes)],
    ['retransmitRequest', () => decodeRetransmitRequest(bytes)],
    ['retransmitReply', () => decodeRetransmitReply(bytes)],
    ['control', () => decodeControlMsg(bytes)],
  ];
  for (const [name, decode] of decoders) {
    try {
      const out = decode();
      if (name === 'memory' || name === 'ipi') {
        const msg = out as CoreMsg;
        assert.equal(messageClassOf(msg), name, `${seed}: class of a decoded ${name} message`);
        for (const [k, x] of Object.entries(msg)) {
          if (typeof x === 'number') assert.ok(Number.isSafeInteger(x), `${seed}: ${k} safe`);
        }
        // A decoded message is one we can send again, identically.
        assert.deepEqual(decodeCoreMsg(name, encodeCoreMsg(msg)), msg, seed);
      }
    } catch (e) {
      if (!(e instanceof BusDecodeError)) {
        assert.fail(`${seed}: ${name} decoder threw ${(e as Error).name}: ${(e as Error).message}`);
      }
      assert.ok(e.reason.length > 0);
    }
  }
}

test('every truncated prefix decodes or throws BusDecodeError', () => {
  const encodings = [
    ...samples.map((m) => encodeCoreMsg(m)),
    encodeEnvelope(envelope({ traceparent: '00-ab-cd-01', plannedDrops: [1, 2, 3] })),
  ];
  for (const [i, bytes] of encodings.entries()) {
    for (let n = 0; n < bytes.length; n++) decodeAny(bytes.subarray(0, n), `sample ${i} prefix ${n}`);
  }
});

test('seeded random bytes and bit flips decode or throw BusDecodeError', () => {
  const seed = Number(process.env.IPISCOPE_TEST_SEED ?? 20240601);
  console.log(`codec fuzz: SEED=${seed}`);
  const rng = new Random(seed, 'test/codec-fuzz');
  for (let i = 0; i < 3000; i++) {
    const len = rng.int(64);
    const bytes = new Uint8Array(len);
    for (let k = 0; k < len; k++) bytes[k] = rng.int(256);
    decodeAny(bytes, `seed ${seed} random #${i}`);
  }
  const encodings = samples.map((m) => encodeCoreMsg(m));
  for (let i = 0; i < 3000; i++) {
    const orig = rng.pick(encodings);
    const bytes = orig.slice();
    const flips = 1 + rng.int(3);
    for (let k = 0; k < flips && bytes.length > 0; k++) {
      const at = rng.int(bytes.length);
      bytes[at] = (bytes[at] as number) ^ (1 << rng.int(8));
    }
    decodeAny(bytes, `seed ${seed} flip #${i}`);
  }
});
