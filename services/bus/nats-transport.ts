/**
 * The NATS transport of one core process: sends the machine's messages to other cores and
 * delivers theirs, per link (src → dst) in sequence order, exactly once, or declares the run
 * invalid. Core NATS is at-most-once, so faithfulness is ours to build.
 *
 * Subjects (a run id is one subject token, so two runs can share a NATS):
 * - `ipiscope.<run>.core.<n>`: envelopes for core n (callback subscription, no queue group);
 * - `ipiscope.<run>.link.<n>`: request/reply to core n as a *sender*: retransmit requests;
 * - `ipiscope.<run>.faults`: live fault-plan updates (a ControlMessage.fault_plan_update).
 *
 * Design:
 * - Sequence numbers are dense per link, from 1, within a sender epoch (a restarted process gets
 *   a new epoch and the receiver starts that link again from 1). Every number is either
 *   transmitted or recorded by the sender as a planned drop: a planned drop does consume its
 *   number, so a gap is always visible, and is explained twice over — the next envelope on the
 *   link lists the planned drops before it (`planned_drops`), and the sender's retransmit buffer
 *   keeps a tombstone that answers a repair request with `planned_drop`.
 * - A planned drop of a memory message is a loss on the wire only: the number is not a planned
 *   drop, the envelope stays in the retransmit buffer, and the receiver's repair of the gap brings
 *   it (the machine's fabric never loses coherence traffic; a drop costs it a retry's delay).
 * - Faults are applied at the sender only (no relay): the FaultInjector decides drop, delay
 *   (timers), duplicate (a second copy marked `duplicate_injected`) and reorder (a seeded
 *   permutation of a bounded window, flushed when full or after `hold_ms`).
 * - The receiver buffers out-of-order envelopes (bounded) and delivers strictly in order. A
 *   duplicate is never delivered: marked copies are counted as planned, others as repaired.
 *   A gap (a number known to be assigned but neither delivered nor explained) arms a timer;
 *   when it fires the receiver asks the sender what became of the missing numbers. The sender
 *   answers per number: resent (from its bounded retransmit buffer), planned drop, pending (held
 *   on purpose by a planned delay; ask again), evicted or unknown. Evicted, unknown, a reply
 *   that never comes within `repairDeadlineMs` of the last progress, or a full receive buffer
 *   make the run invalid (`onInvalid(reason)`, once); after that nothing more is delivered.
 * - Loss at the tail of a stream is caught by probes: once a link has been quiet for
 *   `probeQuietMs` after a send with its highest number not yet acknowledged (an answer usually
 *   brings the acknowledgement first, and then there is nothing to tell), and after every
 *   reconnect, the sender tells the receiver its highest assigned number. Planned drops that no
 *   later message carried go in a probe after `probeIdleMs`.
 *   After a reconnect the receiver also asks every known sender for its high-water mark.
 * - Acknowledgements bound the retransmit buffer: every envelope to a core carries how far this
 *   core has delivered, in order, what that core sent it (`ack_seq` of its epoch), and the sender
 *   forgets those numbers; on a link without traffic back a probe carries it, checked every
 *   `ackIdleMs`, once 64 numbers wait or after 5 periods.
 *   A number is forgotten only once delivered, so a repair never asks for it. Without acks the
 *   buffer would fill to `retransmitBufferMax` per link (a long 32-core run: tens of MB a process).
 * - Reconnects (to another node of a cluster) are the NATS client's; subscriptions come back by
 *   themselves and whatever was lost in between is repaired as above.
 */
import { connect, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { CoreMsg } from '../machine/msgs.js';
import { assert } from '../stdx/assert.js';
import { UserError } from '../stdx/errors.js';
import { natsConnectTarget, redactNatsUrls } from './nats-url.js';
import {
  BusDecodeError,
  decodeControlMsg,
  decodeCoreMsg,
  decodeEnvelope,
  decodeRetransmitReply,
  decodeRetransmitRequest,
  encodeCoreMsg,
  encodeEnvelope,
  encodeRetransmitReply,
  encodeRetransmitRequest,
  messageClassOf,
  type Envelope,
  type MessageClass,
  type RetransmitEntry,
} from './codec.js';
import {
  emptyFaultPlan,
  FaultInjector,
  parseFaultPlanValue,
  type FaultCount,
  type FaultPlan,
  type SendDecision,
} from './fault-plan.js';

/** A run cannot be trusted: the bus lost or could not account for a message. */
export class RunInvalidError extends UserError {
  override name = 'RunInvalidError';
  readonly definite = true;
}

/** What the receiver knows about a delivered message besides the message. */
export interface DeliveryMeta {
  seq: number;
  msgClass: MessageClass;
  traceparent?: string;
  /** It came through a repair (retransmit) rather than the first transmission. */
  retransmitted: boolean;
  /** The sender's machine generation when it sent the message (0: none set). */
  generation: number;
}

/** Options of one core's transport. Durations in milliseconds. */
export interface NatsTransportOptions {
  /** NATS URL(s); with several (a cluster), the first is preferred. */
  servers: string | string[];
  /** Run id, one NATS subject token: [A-Za-z0-9_-]+. */
  runId: string;
  /** This process's core number. */
  core: number;
  /** Called for every message, per link in sequence order, exactly once. */
  onMessage: (src: number, msg: CoreMsg, meta: DeliveryMeta) => void;
  /** Called once when the run can no longer be trusted. */
  onInvalid: (reason: string) => void;
  faultPlan?: FaultPlan;
  /** Run seed, from which each link's fault stream is derived. Default 0. */
  seed?: number | bigint | string;
  /** Unix ms at which the run started (fault times are relative to it). Default: start(). */
  runStartUnixMs?: number;
  /** Incarnation of this process; must grow across restarts of a core. Default Date.now(). */
  senderEpoch?: number;
  /** Envelopes (and tombstones) kept per outgoing link for repairs. Default 65536. */
  retransmitBufferMax?: number;
  /** Out-of-order envelopes buffered per incoming link. Default 65536. */
  receiveBufferMax?: number;
  /** Messages held by planned delays or reorder windows, per outgoing link. Default 65536. */
  heldMax?: number;
  /** How long a gap may stand before the receiver asks for a repair. Default 50. */
  gapRepairAfterMs?: number;
  /** Timeout of one repair request. Default 500. */
  repairTimeoutMs?: number;
  /** Longest time without progress on a gap before the run is invalid. Default 5000. */
  repairDeadlineMs?: number;
  /** How soon a planned drop that no later message has carried is told in a probe (ms). Default 20. */
  probeIdleMs?: number;
  /**
   * Quiet time after a link's last send before its unacknowledged tail is probed (ms). Default
   * 100. A probe of every link 20 ms after any send cost a 32-core run 0.7 probes per message.
   */
  probeQuietMs?: number;
  /** Period of acknowledgements for links with no traffic back (ms). Default 1000. */
  ackIdleMs?: number;
  /** Connection name shown by the server. Default `ipiscope-<run>-core-<n>`. */
  name?: string;
  /** Where to say what was refused (a malformed live fault-plan update). */
  log?: (line: string) => void;
}

/** Counters of one transport. */
export interface NatsTransportStats {
  sent: number;
  transmitted: number;
  plannedDrops: number;
  /** Memory messages the plan dropped on the wire, left to the receiver's repair (never lost). */
  lostOnWire: number;
  duplicatesInjected: number;
  retransmitsServed: number;
  evicted: number;
  /** Numbers forgotten by the retransmit buffer because the receiver acknowledged them. */
  ackTrimmed: number;
  /** Acknowledgements sent in probes (links with no traffic back). */
  ackProbes: number;
  /** Probes of a stream's tail (its highest number), after quiet or a reconnect. */
  tailProbes: number;
  delivered: number;
  plannedDropsSkipped: number;
  duplicatesPlannedDropped: number;
  duplicatesUnplannedDropped: number;
  outOfOrderArrivals: number;
  repairRequests: number;
  repairFailures: number;
  repairedByRetransmit: number;
  linkResets: number;
  staleEpochDropped: number;
  decodeErrors: number;
  misrouted: number;
  reconnects: number;
  discardedOnClose: number;
  faults: FaultCount[];
  invalidReason: string | undefined;
}

const REPAIR_BATCH_MAX = 1024;
/** An idle link's acknowledgement goes in a probe once this many numbers wait for it... */
const ACK_PROBE_MIN = 64;
/** ...or after this many ack periods. */
const ACK_PROBE_PERIODS_MAX = 5;
// Well under NATS's default max_payload (1 MiB); the receiver asks again for the rest.
const REPAIR_REPLY_BYTES_MAX = 256 * 1024;
const PLANNED_DROPS_PIGGYBACK_MAX = 4096;
const RUN_ID = /^[A-Za-z0-9_-]+$/;

/** Whether `id` can be a run id: one NATS subject token. */
export function isRunId(id: string): boolean {
  return RUN_ID.test(id);
}
/** The W3C trace-context header (lower case, as the W3C propagator writes it). */
const TRACEPARENT = 'traceparent';

export function coreSubject(runId: string, core: number): string {
  return `ipiscope.${runId}.core.${core}`;
}

export function linkSubject(runId: string, core: number): string {
  return `ipiscope.${runId}.link.${core}`;
}

export function faultsSubject(runId: string): string {
  return `ipiscope.${runId}.faults`;
}

type OutEntry =
  | { state: 'held'; bytes: Uint8Array; dueUnixMs: number }
  | { state: 'sent'; bytes: Uint8Array }
  | { state: 'planned_drop' };

interface OutLink {
  dst: number;
  /** The destination's subject (made once, not per message). */
  subject: string;
  nextSeq: number;
  /** Retransmit buffer: seq → entry, insertion (= seq) order; oldest evicted first. */
  ring: Map<number, OutEntry>;
  unsentDrops: number[];
  held: number;
  /** Numbers up to this one were acknowledged by the receiver (and forgotten). */
  acked: number;
  window: { seq: number; bytes: Uint8Array; dup: Uint8Array | undefined }[];
  windowTimer: NodeJS.Timeout | undefined;
  probedSeq: number;
  /** performance.now() of the last send on the link (its quiet time for the tail probe). */
  lastSendMs: number;
}

interface InLink {
  src: number;
  epoch: number;
  expected: number;
  highSeen: number;
  buffer: Map<number, Envelope & { viaRepair: boolean }>;
  knownDrops: Set<number>;
  gapTimer: NodeJS.Timeout | undefined;
  /** When the current gap was first seen (or last made progress); undefined without a gap. */
  gapSinceUnixMs: number | undefined;
  repairing: boolean;
  lastRepairError: string | undefined;
  /** The highest in-order number this core has acknowledged to the sender. */
  ackSent: number;
  /** Ack periods this link has waited with fewer than ACK_PROBE_MIN numbers unacknowledged. */
  ackWaits: number;
}

/** A transport that has not connected yet. */
export class NatsTransport {
  constructor(private readonly opts: NatsTransportOptions) {
    if (!RUN_ID.test(opts.runId)) {
      throw new UserError(
        `run id "${opts.runId}" cannot be part of a NATS subject; use letters, digits, - and _.`,
      );
    }
    assert(Number.isInteger(opts.core) && opts.core >= 0, 'core is a non-negative integer');
  }

  async start(): Promise<StartedNatsTransport> {
    const servers = Array.isArray(this.opts.servers) ? this.opts.servers : [this.opts.servers];
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...natsConnectTarget(servers),
        name: this.opts.name ?? `ipiscope-${this.opts.runId}-core-${this.opts.core}`,
        noRandomize: true,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 50,
        reconnectJitter: 20,
        pingInterval: 2000,
        timeout: 5000,
      });
    } catch (e) {
      throw new UserError(
        `core ${this.opts.core}: cannot connect to NATS at ${redactNatsUrls(servers, ', ')} ` +
          `(${(e as Error).message}); start nats-server or pass --nats URL.`,
        { cause: e },
      );
    }
    const t = new StartedNatsTransport(this.opts, nc);
    await t.ready();
    return t;
  }
}

/** A connected transport. */
export class StartedNatsTransport {
  readonly core: number;
  readonly runId: string;
  readonly senderEpoch: number;
  private readonly injector: FaultInjector;
  private runStartUnixMs: number;
  private readonly out = new Map<number, OutLink>();
  private readonly in = new Map<number, InLink>();
  private readonly subs: Subscription[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private probeTimer: NodeJS.Timeout | undefined;
  private state: 'running' | 'closing' | 'closed' = 'running';
  private invalidReason: string | undefined;
  private planVersion = 0;
  private generation = 0;
  /** NATS headers (traceparent) of traced transmissions, by their envelope bytes. */
  private readonly traceHeaders = new WeakMap<Uint8Array, MsgHdrs>();
  private tracedSends = false;
  private readonly o: Required<
    Pick<
      NatsTransportOptions,
      | 'retransmitBufferMax'
      | 'receiveBufferMax'
      | 'heldMax'
      | 'gapRepairAfterMs'
      | 'repairTimeoutMs'
      | 'repairDeadlineMs'
      | 'probeIdleMs'
      | 'probeQuietMs'
      | 'ackIdleMs'
    >
  >;
  private readonly c = {
    sent: 0, transmitted: 0, plannedDrops: 0, lostOnWire: 0, duplicatesInjected: 0, retransmitsServed: 0, ackTrimmed: 0, ackProbes: 0, tailProbes: 0,
    evicted: 0, delivered: 0, plannedDropsSkipped: 0, duplicatesPlannedDropped: 0,
    duplicatesUnplannedDropped: 0, outOfOrderArrivals: 0, repairRequests: 0, repairFailures: 0,
    repairedByRetransmit: 0, linkResets: 0, staleEpochDropped: 0, decodeErrors: 0, misrouted: 0,
    reconnects: 0, discardedOnClose: 0,
  };

  /** @internal use `NatsTransport.start()`. */
  constructor(
    private readonly opts: NatsTransportOptions,
    private readonly nc: NatsConnection,
  ) {
    this.core = opts.core;
    this.runId = opts.runId;
    this.senderEpoch = opts.senderEpoch ?? Date.now();
    this.runStartUnixMs = opts.runStartUnixMs ?? Date.now();
    this.o = {
      retransmitBufferMax: opts.retransmitBufferMax ?? 65536,
      receiveBufferMax: opts.receiveBufferMax ?? 65536,
      heldMax: opts.heldMax ?? 65536,
      gapRepairAfterMs: opts.gapRepairAfterMs ?? 50,
      repairTimeoutMs: opts.repairTimeoutMs ?? 500,
      repairDeadlineMs: opts.repairDeadlineMs ?? 5000,
      probeIdleMs: opts.probeIdleMs ?? 20,
      probeQuietMs: opts.probeQuietMs ?? 100,
      ackIdleMs: opts.ackIdleMs ?? 1000,
    };
    assert(this.o.retransmitBufferMax >= 1 && this.o.receiveBufferMax >= 1, 'bounded buffers');
    this.injector = new FaultInjector(opts.faultPlan ?? emptyFaultPlan(), {
      seed: opts.seed ?? 0,
      nowMs: () => Date.now() - this.runStartUnixMs,
    });
  }

  /** @internal */
  async ready(): Promise<void> {
    this.subs.push(
      this.nc.subscribe(coreSubject(this.runId, this.core), {
        callback: (err, m) => {
          if (err === null) this.onData(m);
        },
      }),
      this.nc.subscribe(linkSubject(this.runId, this.core), {
        callback: (err, m) => {
          if (err === null) this.onRepairRequest(m);
        },
      }),
      this.nc.subscribe(faultsSubject(this.runId), {
        callback: (err, m) => {
          if (err === null) this.onFaultPlanUpdate(m);
        },
      }),
    );
    await this.nc.flush();
    void this.watchStatus();
    this.ackTimer = setInterval(() => this.ackIdle(), this.o.ackIdleMs);
  }

  private ackTimer: NodeJS.Timeout | undefined;

  /** The acknowledgement of the link from `dst` to stamp on an envelope to it (and remember). */
  private stampAck(env: Envelope, dst: number): void {
    const inl = this.in.get(dst);
    if (inl === undefined || inl.expected <= 1) return;
    env.ackSeq = inl.expected - 1;
    env.ackEpoch = inl.epoch;
    inl.ackSent = env.ackSeq;
  }

  /**
   * Links that delivered more than they acknowledged, with nothing going back: a probe says it,
   * once 64 numbers wait for it or after 5 periods (the sender's buffer holds at most that much;
   * acking every period cost a long 32-core run 4.8% more bus messages).
   */
  private ackIdle(): void {
    if (this.state !== 'running') return;
    for (const inl of this.in.values()) {
      const unacked = inl.expected - 1 - inl.ackSent;
      if (unacked <= 0) {
        inl.ackWaits = 0;
        continue;
      }
      if (unacked < ACK_PROBE_MIN && ++inl.ackWaits < ACK_PROBE_PERIODS_MAX) continue;
      inl.ackWaits = 0;
      const link = this.outLink(inl.src);
      const env = this.probeEnvelope(link, link.nextSeq - 1);
      this.stampAck(env, inl.src);
      this.c.ackProbes++;
      this.nc.publish(link.subject, encodeEnvelope(env));
    }
  }

  /** The receiver delivered every number up to `ack` on the link to `dst`: forget them. */
  private trimAcked(dst: number, ack: number): void {
    const link = this.out.get(dst);
    if (link === undefined || ack <= link.acked) return;
    link.acked = ack;
    for (const [seq, e] of link.ring) {
      if (seq > ack || e.state === 'held') break;
      link.ring.delete(seq);
      this.c.ackTrimmed++;
    }
  }

  /** Envelopes and tombstones kept for repairs, over every outgoing link. */
  retained(): number {
    let n = 0;
    for (const l of this.out.values()) n += l.ring.size;
    return n;
  }

  /** The server this transport is connected to now. */
  get server(): string {
    return this.nc.getServer();
  }

  get invalid(): string | undefined {
    return this.invalidReason;
  }

  /**
   * Sends `msg` to core `dst`. Never blocks: faults from the plan may hold, drop or duplicate it,
   * and the link's sequence number is assigned here, in call order.
   */
  send(dst: number, msg: CoreMsg, traceparent?: string): void {
    assert(this.state === 'running', 'send on a running transport');
    assert(Number.isInteger(dst) && dst >= 0 && dst !== this.core, 'send to another core');
    const link = this.outLink(dst);
    const msgClass = messageClassOf(msg);
    const seq = link.nextSeq++;
    const now = performance.now();
    link.lastSendMs = now;
    this.c.sent++;
    const decision = this.injector.decide(this.core, dst, msgClass);
    // Coherence traffic is never lost on the machine's fabric: a memory message the plan drops is
    // lost on the wire only, and comes back as the receiver's repair of the gap (a link-level
    // retry): late, never never. An IPI message the plan drops is lost for good.
    const lostOnWire = decision.drop === 'drop' && msgClass === 'memory';
    if (decision.drop !== undefined && !lostOnWire) {
      this.c.plannedDrops++;
      this.remember(link, seq, { state: 'planned_drop' });
      if (link.unsentDrops.length < PLANNED_DROPS_PIGGYBACK_MAX) link.unsentDrops.push(seq);
      this.armProbe(now + this.o.probeIdleMs);
      return;
    }
    const env: Envelope = {
      runId: this.runId, srcCore: this.core, dstCore: dst, linkSeq: seq, msgClass,
      payload: encodeCoreMsg(msg), senderEpoch: this.senderEpoch, duplicateInjected: false,
      retransmit: false, plannedDrops: link.unsentDrops.splice(0), probe: false, probeHighSeq: 0,
      generation: this.generation,
    };
    if (traceparent !== undefined) env.traceparent = traceparent;
    this.stampAck(env, dst);
    const bytes = encodeEnvelope(env);
    const dup = decision.duplicate ? encodeEnvelope({ ...env, duplicateInjected: true }) : undefined;
    if (traceparent !== undefined) {
      // W3C trace context in the NATS headers of the transmission (held, reordered and
      // duplicated copies too); a repair carries it in the envelope's own field.
      const h = headers();
      h.set(TRACEPARENT, traceparent);
      this.tracedSends = true;
      this.traceHeaders.set(bytes, h);
      if (dup !== undefined) this.traceHeaders.set(dup, h);
    }
    if (dup !== undefined) this.c.duplicatesInjected++;
    if (lostOnWire) {
      this.c.lostOnWire++;
      this.remember(link, seq, { state: 'sent', bytes });
      this.armProbe(now + this.o.probeQuietMs);
      return;
    }
    if (decision.delayMs <= 0 && decision.reorder === undefined) {
      this.remember(link, seq, { state: 'sent', bytes });
      this.transmit(link, bytes, dup);
    } else {
      this.hold(link, seq, bytes, dup, decision);
    }
    this.armProbe(now + this.o.probeQuietMs);
  }

  /**
   * Stamps every later send with machine generation `gen`, so that a receiver that already runs
   * another machine can tell a message of an ended one (it drops it) from one of the next (it
   * keeps it until it starts that machine).
   */
  setGeneration(gen: number): void {
    assert(Number.isSafeInteger(gen) && gen >= this.generation, 'generations only grow');
    this.generation = gen;
  }

  /** The highest sequence number assigned so far on each outgoing link (by destination core). */
  linkHighSeqs(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [dst, link] of this.out) out.set(dst, link.nextSeq - 1);
    return out;
  }

  /** Machine messages handed to the bus that the fault plan did not drop on purpose. */
  get sentNotDropped(): number {
    return this.c.sent - this.c.plannedDrops;
  }

  /** A `Transport` view (`send(src, dst, msg)`) for code written against the bus seam. */
  transport(): { send(src: number, dst: number, msg: CoreMsg): void } {
    return {
      send: (src, dst, msg) => {
        assert(src === this.core, () => `core ${this.core} sends only its own messages`);
        this.send(dst, msg);
      },
    };
  }

  /**
   * Replaces the fault plan from now on (also done by updates on the faults subject). With
   * `runStartUnixMs` (a new run on this process), the plan's times count from then.
   */
  updateFaultPlan(plan: FaultPlan, runStartUnixMs?: number): void {
    if (runStartUnixMs !== undefined && Number.isFinite(runStartUnixMs) && runStartUnixMs > 0) this.runStartUnixMs = runStartUnixMs;
    this.injector.update(plan);
  }

  /** Waits until the server has everything published so far. */
  async flush(): Promise<void> {
    await this.nc.flush();
  }

  stats(): NatsTransportStats {
    return { ...this.c, faults: this.injector.counts(), invalidReason: this.invalidReason };
  }

  /** Stops: drains the connection. Messages still held by planned delays are discarded. */
  async close(): Promise<NatsTransportStats> {
    if (this.state !== 'running') return this.stats();
    this.state = 'closing';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    if (this.ackTimer !== undefined) clearInterval(this.ackTimer);
    for (const link of this.out.values()) {
      if (link.windowTimer !== undefined) clearTimeout(link.windowTimer);
      this.c.discardedOnClose += link.held;
    }
    for (const link of this.in.values()) if (link.gapTimer !== undefined) clearTimeout(link.gapTimer);
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close();
    }
    this.state = 'closed';
    return this.stats();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // Sender side.

  private outLink(dst: number): OutLink {
    let link = this.out.get(dst);
    if (link === undefined) {
      link = {
        dst, subject: coreSubject(this.runId, dst), nextSeq: 1, ring: new Map(), unsentDrops: [], held: 0, acked: 0, window: [],
        windowTimer: undefined, probedSeq: 0, lastSendMs: 0,
      };
      this.out.set(dst, link);
    }
    return link;
  }

  private remember(link: OutLink, seq: number, entry: OutEntry): void {
    link.ring.set(seq, entry);
    while (link.ring.size > this.o.retransmitBufferMax) {
      const oldest = link.ring.keys().next().value as number;
      link.ring.delete(oldest);
      this.c.evicted++;
    }
  }

  private transmit(link: OutLink, bytes: Uint8Array, dup: Uint8Array | undefined): void {
    if (this.state !== 'running') return;
    const subject = link.subject;
    const h = this.tracedSends ? this.traceHeaders.get(bytes) : undefined;
    if (h === undefined) this.nc.publish(subject, bytes);
    else this.nc.publish(subject, bytes, { headers: h });
    this.c.transmitted++;
    if (dup !== undefined) {
      const hd = this.tracedSends ? this.traceHeaders.get(dup) : undefined;
      if (hd === undefined) this.nc.publish(subject, dup);
      else this.nc.publish(subject, dup, { headers: hd });
      this.c.transmitted++;
    }
  }

  private hold(
    link: OutLink,
    seq: number,
    bytes: Uint8Array,
    dup: Uint8Array | undefined,
    decision: SendDecision,
  ): void {
    if (link.held >= this.o.heldMax) {
      this.declareInvalid(
        `link ${this.core}->${link.dst}: more than ${this.o.heldMax} messages held by planned ` +
          'delays; the fault plan delays more than the bus can hold',
      );
      return;
    }
    link.held++;
    const holdMs = decision.delayMs + (decision.reorder?.holdMs ?? 0);
    this.remember(link, seq, { state: 'held', bytes, dueUnixMs: Date.now() + holdMs });
    const release = (): void => {
      if (decision.reorder !== undefined) this.enterWindow(link, seq, bytes, dup, decision.reorder);
      else this.release(link, seq, bytes, dup);
    };
    if (decision.delayMs > 0) this.later(decision.delayMs, release);
    else release();
  }

  private release(link: OutLink, seq: number, bytes: Uint8Array, dup: Uint8Array | undefined): void {
    link.held--;
    assert(link.held >= 0, 'held count never negative');
    const entry = link.ring.get(seq);
    if (entry !== undefined) link.ring.set(seq, { state: 'sent', bytes });
    this.transmit(link, bytes, dup);
  }

  private enterWindow(
    link: OutLink,
    seq: number,
    bytes: Uint8Array,
    dup: Uint8Array | undefined,
    reorder: { window: number; holdMs: number },
  ): void {
    link.window.push({ seq, bytes, dup });
    if (link.window.length >= reorder.window) {
      this.flushWindow(link);
    } else if (link.windowTimer === undefined) {
      link.windowTimer = setTimeout(() => this.flushWindow(link), reorder.holdMs);
    }
  }

  private flushWindow(link: OutLink): void {
    if (link.windowTimer !== undefined) clearTimeout(link.windowTimer);
    link.windowTimer = undefined;
    const items = link.window.splice(0);
    const cls = 'memory'; // the permutation stream is per link; the class only names it
    const order = this.injector.reorder(this.core, link.dst, cls, items.length);
    for (const i of order) {
      const it = items[i];
      assert(it !== undefined, 'a permutation index is in the window');
      this.release(link, it.seq, it.bytes, it.dup);
    }
  }

  /** When the probe timer fires (performance.now() ms; Infinity: not armed). */
  private probeDueMs = Infinity;

  /** The probe check runs at `dueMs` at the latest (one timer: the earliest wins). */
  private armProbe(dueMs: number): void {
    if (this.probeTimer !== undefined) {
      if (this.probeDueMs <= dueMs) return;
      clearTimeout(this.probeTimer);
    }
    this.probeDueMs = dueMs;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probeDueMs = Infinity;
      this.probeAll(false);
    }, Math.max(1, dueMs - performance.now()));
  }

  private probeAll(force: boolean): void {
    if (this.state !== 'running') return;
    const now = performance.now();
    let nextDue = Infinity;
    for (const link of this.out.values()) {
      const high = link.nextSeq - 1;
      if (!force && link.probedSeq === high && link.unsentDrops.length === 0) continue;
      if (!force && link.unsentDrops.length === 0) {
        // The receiver acknowledged the whole stream: it knows the tail, nothing to tell.
        if (link.acked >= high) {
          link.probedSeq = high;
          continue;
        }
        // Not quiet yet: the answer (and its acknowledgement) may still be on its way. (A timer
        // may fire a little early: within 2 ms counts as quiet.)
        const quietAt = link.lastSendMs + this.o.probeQuietMs;
        if (now < quietAt - 2) {
          nextDue = Math.min(nextDue, quietAt);
          continue;
        }
      }
      link.probedSeq = high;
      this.c.tailProbes++;
      this.nc.publish(link.subject, encodeEnvelope(this.probeEnvelope(link, high)));
    }
    if (nextDue !== Infinity) this.armProbe(nextDue);
  }

  /** A probe on `link`: its highest number `high`, and the planned drops not told yet (taken). */
  private probeEnvelope(link: OutLink, high: number): Envelope {
    return {
      runId: this.runId, srcCore: this.core, dstCore: link.dst, linkSeq: 0, msgClass: 'control',
      payload: new Uint8Array(0), senderEpoch: this.senderEpoch, duplicateInjected: false,
      retransmit: false, plannedDrops: link.unsentDrops.splice(0), probe: true, probeHighSeq: high,
    };
  }

  private onRepairRequest(m: Msg): void {
    let req;
    try {
      req = decodeRetransmitRequest(m.data);
    } catch (e) {
      if (!(e instanceof BusDecodeError)) throw e;
      this.c.decodeErrors++;
      return;
    }
    if (req.runId !== this.runId || req.srcCore !== this.core) {
      this.c.misrouted++;
      return;
    }
    const link = this.out.get(req.dstCore);
    const highSeq = link === undefined ? 0 : link.nextSeq - 1;
    const entries: RetransmitEntry[] = [];
    const to = Math.min(req.toSeq, req.fromSeq + REPAIR_BATCH_MAX - 1);
    let replyBytes = 0;
    for (let seq = req.fromSeq; seq <= to && replyBytes < REPAIR_REPLY_BYTES_MAX; seq++) {
      if (link === undefined || req.senderEpoch !== this.senderEpoch || seq > highSeq) {
        entries.push({ seq, status: 'unknown' });
        continue;
      }
      const e = link.ring.get(seq);
      if (e === undefined) entries.push({ seq, status: 'evicted' });
      else if (e.state === 'planned_drop') entries.push({ seq, status: 'planned_drop' });
      else if (e.state === 'held') {
        entries.push({ seq, status: 'pending', pendingMs: Math.max(0, e.dueUnixMs - Date.now()) });
      } else {
        const env = decodeEnvelope(e.bytes);
        const again = encodeEnvelope({ ...env, retransmit: true });
        replyBytes += again.length;
        entries.push({ seq, status: 'resent', envelope: again });
        this.c.retransmitsServed++;
      }
    }
    m.respond(encodeRetransmitReply({ senderEpoch: this.senderEpoch, highSeq, entries }));
  }

  // Receiver side.

  private onData(m: Msg): void {
    if (this.state !== 'running' || this.invalidReason !== undefined) return;
    let env: Envelope;
    try {
      env = decodeEnvelope(m.data);
    } catch (e) {
      if (!(e instanceof BusDecodeError)) throw e;
      this.c.decodeErrors++;
      this.declareInvalid(`core ${this.core}: undecodable envelope on the bus: ${e.reason}`);
      return;
    }
    if (m.headers !== undefined) {
      // The W3C trace context travels in the NATS headers; it wins over the envelope's copy.
      const tp = m.headers.get(TRACEPARENT);
      if (tp !== '') env.traceparent = tp;
    }
    this.accept(env, false);
  }

  private inLink(src: number, epoch: number): InLink | undefined {
    let link = this.in.get(src);
    if (link !== undefined && epoch < link.epoch) {
      this.c.staleEpochDropped++;
      return undefined;
    }
    if (link !== undefined && epoch > link.epoch) {
      // The sender restarted: its new incarnation numbers the link from 1 again.
      if (link.gapTimer !== undefined) clearTimeout(link.gapTimer);
      this.c.linkResets++;
      link = undefined;
    }
    if (link === undefined) {
      link = {
        src, epoch, expected: 1, highSeen: 0, buffer: new Map(), knownDrops: new Set(),
        gapTimer: undefined, gapSinceUnixMs: undefined, repairing: false,
        lastRepairError: undefined, ackSent: 0, ackWaits: 0,
      };
      this.in.set(src, link);
    }
    return link;
  }

  private accept(env: Envelope, viaRepair: boolean): void {
    if (env.runId !== this.runId || env.dstCore !== this.core || env.srcCore === this.core) {
      this.c.misrouted++;
      return;
    }
    const link = this.inLink(env.srcCore, env.senderEpoch);
    if (link === undefined) return;
    if (env.ackSeq !== undefined && env.ackEpoch === this.senderEpoch) this.trimAcked(env.srcCore, env.ackSeq);
    for (const d of env.plannedDrops) {
      if (d >= link.expected) link.knownDrops.add(d);
      link.highSeen = Math.max(link.highSeen, d);
    }
    if (env.probe) {
      link.highSeen = Math.max(link.highSeen, env.probeHighSeq);
    } else {
      const seq = env.linkSeq;
      link.highSeen = Math.max(link.highSeen, seq);
      if (seq < link.expected || link.buffer.has(seq)) {
        if (env.duplicateInjected) this.c.duplicatesPlannedDropped++;
        else this.c.duplicatesUnplannedDropped++;
        return;
      }
      if (link.knownDrops.has(seq)) {
        this.declareInvalid(
          `link ${link.src}->${this.core}: seq ${seq} arrived although its sender recorded it ` +
            'as dropped by the fault plan',
        );
        return;
      }
      if (link.buffer.size >= this.o.receiveBufferMax) {
        this.declareInvalid(
          `link ${link.src}->${this.core}: more than ${this.o.receiveBufferMax} messages wait ` +
            `behind the gap at seq ${link.expected}`,
        );
        return;
      }
      if (seq !== link.expected) this.c.outOfOrderArrivals++;
      link.buffer.set(seq, { ...env, viaRepair });
    }
    this.drain(link);
    this.checkGap(link);
  }

  private drain(link: InLink): void {
    for (;;) {
      if (this.invalidReason !== undefined) return;
      const seq = link.expected;
      const env = link.buffer.get(seq);
      if (env !== undefined) {
        link.buffer.delete(seq);
        let msg: CoreMsg;
        try {
          msg = decodeCoreMsg(env.msgClass, env.payload);
        } catch (e) {
          if (!(e instanceof BusDecodeError)) throw e;
          this.c.decodeErrors++;
          this.declareInvalid(`link ${link.src}->${this.core}: seq ${seq}: ${e.message}`);
          return;
        }
        link.expected++;
        link.gapSinceUnixMs = undefined;
        this.c.delivered++;
        if (env.viaRepair) this.c.repairedByRetransmit++;
        const meta: DeliveryMeta = { seq, msgClass: env.msgClass, retransmitted: env.viaRepair, generation: env.generation ?? 0 };
        if (env.traceparent !== undefined) meta.traceparent = env.traceparent;
        this.opts.onMessage(link.src, msg, meta);
      } else if (link.knownDrops.delete(seq)) {
        link.expected++;
        link.gapSinceUnixMs = undefined;
        this.c.plannedDropsSkipped++;
      } else {
        return;
      }
    }
  }

  private checkGap(link: InLink): void {
    if (this.state !== 'running' || this.invalidReason !== undefined) return;
    const gap = link.highSeen >= link.expected;
    if (!gap) {
      if (link.gapTimer !== undefined) clearTimeout(link.gapTimer);
      link.gapTimer = undefined;
      link.gapSinceUnixMs = undefined;
      link.lastRepairError = undefined;
      return;
    }
    link.gapSinceUnixMs ??= Date.now();
    if (link.gapTimer === undefined && !link.repairing) {
      link.gapTimer = setTimeout(() => {
        link.gapTimer = undefined;
        void this.repair(link);
      }, this.o.gapRepairAfterMs);
    }
  }

  private async repair(link: InLink): Promise<void> {
    if (this.state !== 'running' || this.invalidReason !== undefined || link.repairing) return;
    if (this.in.get(link.src) !== link) return; // reset by a new epoch meanwhile
    const stalledMs = Date.now() - (link.gapSinceUnixMs ?? Date.now());
    if (stalledMs > this.o.repairDeadlineMs) {
      this.declareInvalid(
        `link ${link.src}->${this.core}: seq ${link.expected} missing for ${stalledMs} ms and ` +
          `not repaired (${link.lastRepairError ?? 'no answer from the sender'})`,
      );
      return;
    }
    link.repairing = true;
    this.c.repairRequests++;
    const fromSeq = link.expected;
    const toSeq = Math.max(fromSeq, Math.min(link.highSeen, fromSeq + REPAIR_BATCH_MAX - 1));
    let pendingMs: number | undefined;
    try {
      const reply = await this.nc.request(
        linkSubject(this.runId, link.src),
        encodeRetransmitRequest({
          runId: this.runId, srcCore: link.src, dstCore: this.core, senderEpoch: link.epoch,
          fromSeq, toSeq,
        }),
        { timeout: this.o.repairTimeoutMs },
      );
      const r = decodeRetransmitReply(reply.data);
      link.repairing = false;
      if (this.in.get(link.src) !== link || this.invalidReason !== undefined) return;
      if (r.senderEpoch !== link.epoch) {
        // A new incarnation answered: the old one is gone with what it had not delivered.
        this.declareInvalid(
          `link ${link.src}->${this.core}: sender restarted (epoch ${link.epoch} -> ` +
            `${r.senderEpoch}) with seq ${link.expected}.. undelivered`,
        );
        return;
      }
      link.highSeen = Math.max(link.highSeen, Math.min(r.highSeq, Number.MAX_SAFE_INTEGER));
      for (const e of r.entries) {
        if (e.seq < link.expected) continue;
        switch (e.status) {
          case 'resent':
            this.accept(decodeEnvelope(e.envelope as Uint8Array), true);
            break;
          case 'planned_drop':
            link.knownDrops.add(e.seq);
            break;
          case 'pending':
            // Held on purpose by the plan: waiting is explained, so the clock restarts.
            link.gapSinceUnixMs = Date.now();
            pendingMs = Math.min(pendingMs ?? Infinity, e.pendingMs ?? 0);
            break;
          case 'evicted':
            this.declareInvalid(
              `link ${link.src}->${this.core}: seq ${e.seq} was lost and has left the ` +
                "sender's retransmit buffer; raise retransmitBufferMax",
            );
            return;
          case 'unknown':
            if (e.seq <= r.highSeq) {
              this.declareInvalid(`link ${link.src}->${this.core}: sender does not know seq ${e.seq}`);
              return;
            }
            break;
        }
      }
      this.drain(link);
    } catch (e) {
      link.repairing = false;
      if (e instanceof BusDecodeError) {
        this.declareInvalid(`link ${link.src}->${this.core}: bad repair reply: ${e.reason}`);
        return;
      }
      this.c.repairFailures++;
      link.lastRepairError = `last repair request failed: ${(e as Error).message}`;
    }
    if (link.highSeen >= link.expected && this.state === 'running') {
      // Still a gap: ask again, after the pending time if the sender told us one.
      if (link.gapTimer !== undefined) clearTimeout(link.gapTimer);
      const delay = Math.max(pendingMs ?? this.o.gapRepairAfterMs, 1);
      link.gapTimer = setTimeout(() => {
        link.gapTimer = undefined;
        void this.repair(link);
      }, delay);
    } else {
      this.checkGap(link);
    }
  }

  private declareInvalid(reason: string): void {
    if (this.invalidReason !== undefined) return;
    this.invalidReason = reason;
    for (const link of this.in.values()) {
      if (link.gapTimer !== undefined) clearTimeout(link.gapTimer);
      link.gapTimer = undefined;
    }
    this.opts.onInvalid(reason);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.state === 'running') fn();
    }, ms);
    this.timers.add(t);
  }

  private onFaultPlanUpdate(m: Msg): void {
    try {
      const c = decodeControlMsg(m.data);
      if (c.kind !== 'faultPlanUpdate') return;
      const version = Number(c.fields.planVersion ?? 0);
      if (version <= this.planVersion) return;
      const plan = parseFaultPlanValue(JSON.parse(String(c.fields.faultPlanJson)), 'fault plan update');
      this.planVersion = version;
      this.injector.update(plan);
    } catch (e) {
      // Refused whole, by every core alike (they all read the same bytes): no rule of it applies
      // anywhere, so the run stays what it was. The sender hears why from the controller.
      this.c.decodeErrors++;
      this.opts.log?.(`core ${this.core}: fault plan update refused, the plan in force stays: ${(e as Error).message}`);
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type !== 'reconnect') continue;
      this.c.reconnects++;
      // Whatever was in flight through the dead server may be gone: tell every receiver how far
      // we got, and ask every sender how far it got.
      this.probeAll(true);
      for (const link of this.in.values()) {
        // Asking for `expected` works with or without a known gap: the reply carries the
        // sender's high-water mark, and `unknown` beyond it is harmless.
        link.gapSinceUnixMs = Date.now();
        if (link.gapTimer !== undefined) clearTimeout(link.gapTimer);
        link.gapTimer = undefined;
        void this.repair(link);
      }
    }
  }
}
