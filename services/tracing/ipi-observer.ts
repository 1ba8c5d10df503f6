/**
 * Machine events to OpenTelemetry spans, one trace per IPI:
 *
 *   smp_muxed_ipi_message_pass (sender CPU; root)       tp ipi_message_set .. msgsnd / MFRR write
 *   ├─ store ipi_message[T]     (sender, ends at home)   committed .. ordered (coherence version)
 *   ├─ store paca[T]...host_ipi (sender, ends at home)
 *   ├─ publish (PRODUCER, messaging.system=nats)        the doorbell leaving the sender's core
 *   │  └─ receive (CONSUMER)                            the doorbell latched at the target's core
 *   │     └─ interrupt / doorbell_exception / KVM exit (target CPU: msgsync, host_ipi clear or
 *   │        check, demux xchg with what it found)
 *   ├─ ipi_message_handle <MSG>  (target CPU, linked to the interrupt that consumed the message)
 *   ├─ csd_lock_wait            (a waiter on the target, from the first locked poll)
 *   └─ ipi.verdict              (sim only: the IPI never consumed -> emu.ipi.outcome=ignored)
 *
 * Every span event that stands for a machine event carries the fields to rebuild it (`emu.e`,
 * core, cpu, Lamport clock, tick, location, write id, coherence version, ...); a store's event
 * also carries the home's ordering of it (`emu.version`, `emu.version.*`), so the analyzer
 * orders them causally and runs the same ignored-IPI checker as the sim. The hot path (the tens of
 * millions of `visible` and `load` events of a long run) is a switch and one typed-array lookup.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type {
  Attributes,
  Context,
  HrTime,
  Link,
  Span,
  SpanContext,
  Tracer,
} from '@opentelemetry/api';
import { assert } from '../stdx/index.js';
import type { CoreMsg, MachineEvent, MachineObserver } from '../machine/index.js';
import { ATTR, doorbellSubject, msgName, SPAN } from './semconv.js';
import { spanContextOf, traceparentOf } from './nats-carrier.js';
import { laneOf } from '../machine/locations.js';

const ROLE_NONE = 0;
const ROLE_MSG = 1;
const ROLE_HOST_IPI = 2;
const ROLE_CSD = 3;
/** call_single_queue[c]: only the senders' llist_add (cmpxchg) matters, to know whom a wait on
 * the caller's one stack csd is for when the call sent no IPI (the queue was not empty). */
const ROLE_QUEUE = 4;

const CSD_FLAG_LOCK = 1;
/** A csd_lock_wait shorter than this many polls (one cpu_relax) gets no span, only a count. */
export const WAIT_SPAN_POLLS_MIN = 3;
/** Bound on IPIs, frames and store spans tracked at once; beyond it new IPIs are not traced. */
export const TRACED_IPIS_MAX = 200_000;

export interface IpiTraceObserverOptions {
  /** Location names by id (the kernel's `LocationTable.names`); or set later with `setLocationNames`. */
  locationNames?: readonly string[];
  /** The tracer of core `core` (its resource names the core). */
  tracerFor(core: number): Tracer;
  /** Timestamp of `tick` on `core`: virtual in sim, the wall clock live. */
  timeOf(tick: number, core: number): HrTime;
  /** A handled IPI whose handler ran more than this many ticks after it was set is late. */
  lateTicks: number;
  /** Ticks an ordered, unconsumed IPI must wait before the run end to count as ignored. */
  settleTicks: number;
  /** Whether this observer sees every core (sim) and may write verdict spans. */
  wholeMachine: boolean;
  /** Threads per core (maps a bus message's (core, thread) to a CPU). */
  threadsPerCore: number;
  /** Live: this process's core and the machine's core count, written on its run span so that a
   * reader knows every core's run span to expect (a core with no event of its own too). */
  core?: number;
  cores?: number;
}

interface Ipi {
  id: string;
  sender: number;
  target: number;
  msg: number;
  tick: number;
  /** The sender's Lamport clock at the set. */
  clock: number;
  span: Span;
  ctx: Context;
  sendOpen: boolean;
  msgLoc: number;
  version: number;
  orderedTick: number;
  hostIpiStored: boolean;
  /** Stores on the send span still waiting for their coherence version. */
  stores: StoreSpan[];
}

/**
 * A traced store until its home orders it. Its span event is written once, with the coherence
 * version it got when that arrives while the span is open (one event instead of a store and a
 * version event), else alone when the span ends and the version gets a small span of its own.
 */
interface StoreSpan {
  span: Span;
  loc: number;
  ipi: Ipi | null;
  /** The span exists for this store alone (end it when the store is ordered). */
  own: boolean;
  /** Its span event is written (with or without its version). */
  written: boolean;
  core: number;
  cpu: number;
  clock: number;
  tick: number;
  wid: number;
  value: number;
  lane: number;
  /** The open-store list of the span it belongs to (send or frame), null for an own span. */
  holder: StoreSpan[] | null;
}

interface Frame {
  cpu: number;
  core: number;
  source: string;
  span: Span | null;
  parent: Context;
  tick: number;
  /** Lamport clock of the frame's first event (irq_take or doorbell_entry). */
  clock: number;
  links: Link[];
  pending: Array<{ name: string; attrs: Attributes; time: HrTime }>;
  /** Stores on the frame span still waiting for their coherence version. */
  stores: StoreSpan[];
  cleared: boolean;
  demuxed: boolean;
}

interface Wait {
  span: Span | null;
  /** The first locked poll (a copy: the machine may reuse its event objects). */
  first: Ev<'load'>;
  polls: number;
  ipi: Ipi | null;
  target: number;
}

interface Hop {
  ipi: Ipi | null;
  ctx: Context;
}

type Ev<K extends MachineEvent['e']> = Extract<MachineEvent, { e: K }>;

/** What each location is to the tracer, by location id (found by name). */
export interface LocationRoles {
  /** ROLE_* of each location. */
  role: Uint8Array<ArrayBuffer>;
  /** The CPU a role location belongs to (the message word's / host_ipi's / csd's owner), or -1. */
  roleCpu: Int32Array<ArrayBuffer>;
  /** A per-target csd's target CPU, or -1. */
  roleTarget: Int32Array<ArrayBuffer>;
}

export function locationRoles(names: readonly string[]): LocationRoles {
  const n = names.length;
  const role = new Uint8Array(n);
  const roleCpu = new Int32Array(n).fill(-1);
  const roleTarget = new Int32Array(n).fill(-1);
  for (let loc = 0; loc < n; loc++) {
    const name = names[loc] as string;
    let m = /^ipi_message\[(\d+)\]$/.exec(name);
    if (m) {
      role[loc] = ROLE_MSG;
      roleCpu[loc] = Number(m[1]);
      continue;
    }
    m = /^paca\[(\d+)\]\.kvm_hstate\.host_ipi$/.exec(name);
    if (m) {
      role[loc] = ROLE_HOST_IPI;
      roleCpu[loc] = Number(m[1]);
      continue;
    }
    m = /^call_single_queue\[(\d+)\]$/.exec(name);
    if (m) {
      role[loc] = ROLE_QUEUE;
      roleCpu[loc] = Number(m[1]);
      continue;
    }
    m = /^cfd\[(\d+)\]\.csd\[(\d+)\]\.flags$/.exec(name) ?? /^csd_stack\[(\d+)\]\.flags$/.exec(name);
    if (m) {
      role[loc] = ROLE_CSD;
      roleCpu[loc] = Number(m[1]);
      roleTarget[loc] = m[2] === undefined ? -1 : Number(m[2]);
    }
  }
  return { role, roleCpu, roleTarget };
}

/**
 * Whether the span builder reads an event at all (given the locations' roles): loads, stores and
 * versions of role locations, atomics on IPI message words, completed syncs and msgsync, IPI sends,
 * interrupts, tracepoints and thread ends. The offloaded tracer packs only these.
 */
export function spanBuilderReads(ev: MachineEvent, role: Uint8Array): boolean {
  switch (ev.e) {
    case 'load':
    case 'store':
    case 'version':
      return role[ev.loc] !== ROLE_NONE && role[ev.loc] !== ROLE_QUEUE;
    case 'rmw':
      return role[ev.loc] === ROLE_MSG || (role[ev.loc] === ROLE_QUEUE && ev.op === 'cmpxchg');
    case 'barrier':
      return ev.kind === 'sync' ? ev.phase === 'end' : ev.kind === 'msgsync';
    case 'tp':
    case 'ipi_send':
    case 'irq_raise':
    case 'irq_take':
    case 'irq_return':
    case 'thread_end':
      return true;
    default:
      return false;
  }
}

export class IpiTraceObserver implements MachineObserver {
  /** Per-thread visibility is not traced (a store's version is what the spans carry). */
  readonly ignores = ['visible'] as const;
  private role = new Uint8Array(0);
  private roleCpu = new Int32Array(0);
  private roleTarget = new Int32Array(0);
  private names: readonly string[] = [];
  private readonly tracers = new Map<number, Tracer>();
  private readonly sending = new Map<number, Ipi>();
  private readonly stores = new Map<number, StoreSpan>();
  /** Versioned and not yet consumed, per message word. */
  private readonly open = new Map<number, Ipi[]>();
  /** Doorbells / MFRR writes in flight, by `${target}:${id}`. */
  private readonly hops = new Map<string, Hop>();
  private readonly remoteHops = new Map<string, Context>();
  private readonly remoteWrites = new Map<number, Context>();
  /** The interrupt each CPU has latched, by source. */
  private readonly raised = new Map<string, Hop>();
  private readonly frames = new Map<number, Frame>();
  private readonly handlers = new Map<number, Span[]>();
  private readonly waits = new Map<number, Wait>();
  private readonly lastIpiTo = new Map<number, Ipi>();
  private readonly lastIpiFrom = new Map<number, Ipi>();
  /** The CPU each CPU last queued a cross-call on (call_single_queue). */
  private readonly lastQueuedTo = new Map<number, number>();
  private tracked = 0;
  tickMax = 0;
  ipisTraced = 0;
  ipisUntraced = 0;
  /** csd_lock_wait episodes released within WAIT_SPAN_POLLS_MIN polls (no span). */
  waitsShort = 0;
  private finished = false;

  constructor(private readonly opts: IpiTraceObserverOptions) {
    if (opts.locationNames !== undefined) this.setLocationNames(opts.locationNames);
  }

  /**
   * The kernel's location names by id (`LocationTable.names`), before the first event: the roles
   * (IPI message words, host_ipi flags, csd flags) are found by name.
   */
  setLocationNames(names: readonly string[]): void {
    this.names = names;
    const r = locationRoles(names);
    this.role = r.role;
    this.roleCpu = r.roleCpu;
    this.roleTarget = r.roleTarget;
  }

  event(ev: MachineEvent): void {
    if (ev.tick > this.tickMax) this.tickMax = ev.tick;
    this.coreSeen = ev.core;
    if (!spanBuilderReads(ev, this.role)) return;
    switch (ev.e) {
      case 'load':
        this.onLoad(ev);
        return;
      case 'store':
        this.onStore(ev);
        return;
      case 'version':
        this.onVersion(ev);
        return;
      case 'rmw':
        if (this.role[ev.loc] === ROLE_QUEUE) {
          // A cross-call queued on that CPU (llist_add): what the caller's stack csd waits for.
          // A "wait" of this CPU that has not outlasted a relax began with the caller's own read
          // of the csd it had just locked (to set CSD_FLAG_SYNCHRONOUS), not with a poll: forget it.
          if (this.roleCpu[ev.loc] !== ev.cpu) {
            this.lastQueuedTo.set(ev.cpu, this.roleCpu[ev.loc] as number);
            const w = this.waits.get(ev.cpu);
            if (w !== undefined && w.span === null) this.waits.delete(ev.cpu);
          }
          return;
        }
        this.onRmw(ev);
        return;
      case 'barrier':
        this.onBarrier(ev);
        return;
      case 'tp':
        this.onTp(ev);
        return;
      case 'ipi_send':
        this.onIpiSend(ev);
        return;
      case 'irq_raise':
        this.onIrqRaise(ev);
        return;
      case 'irq_take':
        this.onIrqTake(ev);
        return;
      case 'irq_return':
        this.endFrame(ev.cpu, ev);
        return;
      case 'thread_end':
        this.endSend(ev.cpu, ev.tick, ev.core, 'thread ended before the IPI was raised');
        return;
      default:
        return;
    }
  }

  // ---- the distributed hop: what the NATS transport carries in headers

  /** `traceparent` to put in the headers of a bus message, or undefined if it is not traced. */
  traceparentFor(msg: CoreMsg): string | undefined {
    if (msg.t === 'dbell' || msg.t === 'mfrr') {
      const hop = this.hops.get(`${msg.cpu}:${msg.id}`);
      return hop === undefined
        ? undefined
        : traceparentOf(trace.getSpanContext(hop.ctx) as SpanContext);
    }
    if (msg.t === 'wreq') {
      const st = this.stores.get(msg.wid);
      return st === undefined ? undefined : traceparentOf(st.span.spanContext());
    }
    return undefined;
  }

  /** Call before the core takes a bus message that arrived with a `traceparent` header. */
  noteIncoming(msg: CoreMsg, traceparent: string): void {
    const sc = spanContextOf(traceparent);
    if (sc === undefined) return;
    const ctx = trace.setSpanContext(ROOT_CONTEXT, sc);
    if (msg.t === 'dbell' || msg.t === 'mfrr') this.remoteHops.set(`${msg.cpu}:${msg.id}`, ctx);
    else if (msg.t === 'wreq') this.remoteWrites.set(msg.wid, ctx);
    if (this.remoteHops.size + this.remoteWrites.size > TRACED_IPIS_MAX) {
      this.remoteHops.clear();
      this.remoteWrites.clear();
    }
  }

  // ---- sender

  private onTp(ev: Ev<'tp'>): void {
    if (ev.name === 'ipi_message_set') {
      this.endSend(ev.cpu, ev.tick, ev.core, 'announced again before the IPI was raised');
      if (this.tracked >= TRACED_IPIS_MAX) {
        this.ipisUntraced++;
        return;
      }
      const target = Number(ev.attrs['target']);
      const msg = Number(ev.attrs['msg']);
      const id = String(ev.attrs['ipi_id']);
      const t = this.time(ev);
      const span = this.tracer(ev.core).startSpan(
        SPAN.send,
        {
          kind: SpanKind.INTERNAL,
          startTime: t,
          attributes: {
            [ATTR.ipiId]: id,
            [ATTR.ipiSender]: ev.cpu,
            [ATTR.ipiTarget]: target,
            [ATTR.ipiMsg]: msg,
            [ATTR.ipiMsgName]: msgName(msg),
            [ATTR.cpu]: ev.cpu,
            [ATTR.core]: ev.core,
            [ATTR.clock]: ev.clock,
            [ATTR.ipiOutcome]: 'pending',
          },
        },
        ROOT_CONTEXT,
      );
      span.addEvent('ipi_message_set', this.tpAttrs(ev), t);
      const ipi: Ipi = {
        id,
        sender: ev.cpu,
        target,
        msg,
        tick: ev.tick,
        clock: ev.clock,
        span,
        ctx: trace.setSpan(ROOT_CONTEXT, span),
        sendOpen: true,
        msgLoc: -1,
        version: -1,
        orderedTick: -1,
        hostIpiStored: false,
        stores: [],
      };
      this.sending.set(ev.cpu, ipi);
      this.lastIpiTo.set(target, ipi);
      this.lastIpiFrom.set(ev.cpu, ipi);
      this.tracked++;
      this.ipisTraced++;
      this.endHandlers(ev.cpu, ev);
      return;
    }
    const f = this.frames.get(ev.cpu);
    if (ev.name === 'doorbell_entry' && f === undefined) {
      // doorbell_exception replayed outside an interrupt frame (after a guest exit).
      this.frames.set(ev.cpu, {
        cpu: ev.cpu,
        core: ev.core,
        source: 'replay',
        span: null,
        parent: this.raisedCtx(ev.cpu, 'hdbell'),
        tick: ev.tick,
        clock: ev.clock,
        links: [],
        pending: [],
        stores: [],
        cleared: false,
        demuxed: false,
      });
    }
    const fr = this.frames.get(ev.cpu);
    if (fr !== undefined) {
      // The frame's name says doorbell_exception and the handler spans say what ran: the entry,
      // exit and per-message tracepoints need no events of their own.
      if (ev.name === 'doorbell_entry') this.frameSpan(fr).updateName(SPAN.doorbellException);
      else if (ev.name !== 'doorbell_exit' && ev.name !== 'ipi_message_handle')
        this.frameEvent(fr, ev.name, ev);
      if (ev.name === 'doorbell_exit') {
        this.endHandlers(ev.cpu, ev);
        if (fr.source === 'replay') this.endFrame(ev.cpu, ev);
      }
    }
  }

  private onStore(ev: Ev<'store'>): void {
    const role = this.role[ev.loc] as number;
    // A csd unlock is not traced: the waiter's `released` poll is where it matters.
    if (role === ROLE_CSD) return;
    if (this.stores.size >= TRACED_IPIS_MAX) return;
    // The store is an event of the span that made it (the send, or the interrupt frame), written
    // with its coherence version when the home orders it (see StoreSpan).
    const ipi = this.sendOf(ev.cpu);
    const fr = this.frames.get(ev.cpu);
    let span: Span;
    let owner: Ipi | null = null;
    let holder: StoreSpan[] | null = null;
    if (ipi !== undefined && this.roleCpu[ev.loc] === ipi.target) {
      owner = ipi;
      span = ipi.span;
      holder = ipi.stores;
      if (role === ROLE_MSG) ipi.msgLoc = ev.loc;
      else ipi.hostIpiStored = true;
    } else if (fr !== undefined) {
      if (role === ROLE_HOST_IPI) fr.cleared = true;
      span = this.frameSpan(fr);
      holder = fr.stores;
    } else {
      const name = this.names[ev.loc] as string;
      span = this.tracer(ev.core).startSpan(
        `${SPAN.store} ${name}`,
        {
          startTime: this.time(ev),
          attributes: { [ATTR.loc]: name, [ATTR.cpu]: ev.cpu, [ATTR.clock]: ev.clock },
        },
        ROOT_CONTEXT,
      );
    }
    const st: StoreSpan = {
      span,
      loc: ev.loc,
      ipi: owner,
      own: holder === null,
      written: false,
      core: ev.core,
      cpu: ev.cpu,
      clock: ev.clock,
      tick: ev.tick,
      wid: ev.wid,
      value: ev.value,
      lane: ev.lane,
      holder,
    };
    if (holder !== null) holder.push(st);
    this.stores.set(ev.wid, st);
  }

  /** Writes the store events of a span about to end that are still waiting for their version. */
  private flushStores(list: StoreSpan[]): void {
    for (const st of list) {
      if (st.written) continue;
      st.written = true;
      st.span.addEvent('store', this.storeAttrs(st), this.opts.timeOf(st.tick, st.core));
    }
    list.length = 0;
  }

  private onVersion(ev: Ev<'version'>): void {
    const st = this.stores.get(ev.wid);
    if (st === undefined) {
      // Live, the home is often another process than the writer: the ordering still becomes a
      // span (in the writer's trace when the write request carried a traceparent), so the
      // analyzer can join store and version by write id across processes.
      const remote =
        this.remoteWrites.get(ev.wid) ?? (this.opts.wholeMachine ? undefined : ROOT_CONTEXT);
      if (remote === undefined) return;
      this.remoteWrites.delete(ev.wid);
      this.coherenceSpan(ev, remote);
      return;
    }
    this.stores.delete(ev.wid);
    assert(st.loc === ev.loc, `write ${ev.wid} versioned at another location`);
    if (!st.written && st.span.isRecording()) {
      st.written = true;
      if (st.holder !== null) {
        const i = st.holder.indexOf(st);
        if (i >= 0) st.holder.splice(i, 1);
      }
      st.span.addEvent('store', this.storeVersionAttrs(st, ev), this.opts.timeOf(st.tick, st.core));
      if (st.own) st.span.end(this.time(ev));
    } else {
      // The span that made the store has ended: the ordering gets its own small span beside it.
      this.coherenceSpan(ev, st.ipi !== null ? st.ipi.ctx : trace.setSpan(ROOT_CONTEXT, st.span));
    }
    const ipi = st.ipi;
    if (ipi !== null && this.role[ev.loc] === ROLE_MSG) {
      ipi.version = ev.version;
      ipi.orderedTick = ev.tick;
      let list = this.open.get(ev.loc);
      if (list === undefined) {
        list = [];
        this.open.set(ev.loc, list);
      }
      list.push(ipi);
    }
  }

  /** A write ordered at its home after (or away from) the span of its store. */
  private coherenceSpan(ev: Ev<'version'>, parent: Context): void {
    const name = this.names[ev.loc] as string;
    const t = this.time(ev);
    const s = this.tracer(ev.core).startSpan(
      `coherence ${name}`,
      { startTime: t, attributes: { [ATTR.loc]: name, [ATTR.version]: ev.version } },
      parent,
    );
    s.addEvent('version', this.versionAttrs(ev), t);
    s.end(t);
  }

  private onBarrier(ev: Ev<'barrier'>): void {
    // The analyzer needs to know where a full barrier completed and where msgsync ran; lwsync,
    // isync and the begin of a sync only fatten the spans (spanBuilderReads let only those in).
    const ipi = this.sendOf(ev.cpu);
    if (ipi !== undefined) {
      // Only the sync that orders the sender's stores before the doorbell (ppc_msgsnd_sync).
      if (ipi.hostIpiStored) ipi.span.addEvent(ev.kind, this.barrierAttrs(ev), this.time(ev));
      return;
    }
    const fr = this.frames.get(ev.cpu);
    // msgsync, and a sync between the host_ipi clear and the demux: what the explanation reads.
    if (fr !== undefined && (ev.kind === 'msgsync' || (fr.cleared && !fr.demuxed)))
      this.frameEvent(fr, ev.kind, ev);
  }

  /**
   * The IPI `cpu` is sending, unless an interrupt taken since the send began is running: what
   * the handler does (its own MFRR reset, its barriers) is not the send's, and the send goes on
   * when the handler returns.
   */
  private sendOf(cpu: number): Ipi | undefined {
    const ipi = this.sending.get(cpu);
    if (ipi === undefined) return undefined;
    const fr = this.frames.get(cpu);
    return fr !== undefined && fr.clock > ipi.clock ? undefined : ipi;
  }

  private onIpiSend(ev: Ev<'ipi_send'>): void {
    const ipi = this.sendOf(ev.cpu);
    if (ipi === undefined) return;
    const t = this.time(ev);
    ipi.span.addEvent(ev.via, this.ipiSendAttrs(ev), t);
    const tpc = this.opts.threadsPerCore;
    const dstCore = Math.floor(ev.target / tpc);
    let hopCtx = ipi.ctx;
    if (dstCore !== ev.core) {
      const subject = doorbellSubject(dstCore);
      const attributes = hopAttrs('send', subject, ev, ipi.id);
      attributes[ATTR.via] = ev.via;
      attributes[ATTR.target] = ev.target;
      const pub = this.tracer(ev.core).startSpan(
        `${SPAN.publish} ${subject}`,
        { kind: SpanKind.PRODUCER, startTime: t, attributes },
        ipi.ctx,
      );
      pub.end(t);
      hopCtx = trace.setSpan(ROOT_CONTEXT, pub);
    }
    this.hops.set(`${ev.target}:${ev.id}`, { ipi, ctx: hopCtx });
    if (this.hops.size > TRACED_IPIS_MAX) this.hops.clear();
    this.endSend(ev.cpu, ev.tick, ev.core, null);
  }

  private endSend(cpu: number, tick: number, core: number, why: string | null): void {
    const ipi = this.sending.get(cpu);
    if (ipi === undefined) return;
    this.sending.delete(cpu);
    if (why !== null) ipi.span.setAttribute('emu.send.note', why);
    ipi.sendOpen = false;
    this.flushStores(ipi.stores);
    ipi.span.end(this.opts.timeOf(tick, core));
  }

  // ---- target

  private onIrqRaise(ev: Ev<'irq_raise'>): void {
    if (ev.source !== 'hdbell' && ev.source !== 'external' && ev.source !== 'pdbell') return;
    const key = `${ev.cpu}:${ev.id}`;
    let hop = this.hops.get(key);
    if (hop !== undefined) this.hops.delete(key);
    const remote = this.remoteHops.get(key);
    if (remote !== undefined) {
      this.remoteHops.delete(key);
      hop = { ipi: null, ctx: remote };
    }
    if (hop === undefined) return;
    const tpc = this.opts.threadsPerCore;
    const parentSc = trace.getSpanContext(hop.ctx);
    let ctx = hop.ctx;
    const senderCore = hop.ipi === null ? -1 : Math.floor(hop.ipi.sender / tpc);
    if (hop.ipi === null || senderCore !== ev.core) {
      const subject = doorbellSubject(ev.core);
      const t = this.time(ev);
      // The span's attributes are the irq_raise event (it needs no span event of its own).
      const attributes = hopAttrs('receive', subject, ev, hop.ipi?.id);
      attributes[ATTR.source] = ev.source;
      attributes[ATTR.tick] = ev.tick;
      const recv = this.tracer(ev.core).startSpan(
        `${SPAN.receive} ${subject}`,
        {
          kind: SpanKind.CONSUMER,
          startTime: t,
          attributes,
          links: parentSc === undefined ? [] : [{ context: parentSc }],
        },
        hop.ctx,
      );
      recv.end(t);
      ctx = trace.setSpan(ROOT_CONTEXT, recv);
    }
    this.raised.set(`${ev.cpu}:${ev.source === 'external' ? 'external' : 'dbell'}`, {
      ipi: hop.ipi,
      ctx,
    });
  }

  private raisedCtx(cpu: number, source: string): Context {
    const key = `${cpu}:${source === 'external' ? 'external' : 'dbell'}`;
    const hop = this.raised.get(key);
    if (hop === undefined) return ROOT_CONTEXT;
    this.raised.delete(key);
    return hop.ctx;
  }

  private onIrqTake(ev: Ev<'irq_take'>): void {
    if (ev.source === 'dec') return;
    this.endFrame(ev.cpu, ev);
    const fr: Frame = {
      cpu: ev.cpu,
      core: ev.core,
      source: ev.source,
      span: null,
      parent: this.raisedCtx(ev.cpu, ev.source),
      tick: ev.tick,
      clock: ev.clock,
      links: [],
      pending: [],
      stores: [],
      cleared: false,
      demuxed: false,
    };
    this.frames.set(ev.cpu, fr);
  }

  /** The frame's span, created on its first recorded event (most interrupts record nothing). */
  private frameSpan(fr: Frame): Span {
    if (fr.span !== null) return fr.span;
    const name =
      fr.source === 'external'
        ? SPAN.xicsAction
        : fr.source === 'replay'
          ? SPAN.doorbellException
          : SPAN.irq;
    fr.span = this.tracer(fr.core).startSpan(
      name,
      {
        kind: SpanKind.INTERNAL,
        startTime: this.opts.timeOf(fr.tick, fr.core),
        attributes: {
          [ATTR.cpu]: fr.cpu,
          [ATTR.core]: fr.core,
          [ATTR.source]: fr.source,
          [ATTR.clock]: fr.clock,
          [ATTR.tick]: fr.tick,
        },
      },
      fr.parent,
    );
    for (const p of fr.pending) fr.span.addEvent(p.name, p.attrs, p.time);
    fr.pending.length = 0;
    return fr.span;
  }

  private frameEvent(fr: Frame, name: string, ev: MachineEvent): void {
    if (fr.span === null && fr.pending.length < 4 && (name === 'sync' || name === 'msgsync')) {
      // Keep the prologue until the frame proves interesting.
      fr.pending.push({ name, attrs: this.attrsOf(ev), time: this.time(ev) });
      return;
    }
    this.frameSpan(fr).addEvent(name, this.attrsOf(ev), this.time(ev));
  }

  private endFrame(cpu: number, ev: MachineEvent): void {
    const fr = this.frames.get(cpu);
    if (fr === undefined) return;
    this.frames.delete(cpu);
    this.endHandlers(cpu, ev);
    if (fr.span === null) return;
    this.flushStores(fr.stores);
    fr.span.end(this.time(ev));
  }

  private onLoad(ev: Ev<'load'>): void {
    const role = this.role[ev.loc];
    if (role === ROLE_CSD) {
      if (this.roleCpu[ev.loc] !== ev.cpu) return;
      this.onCsdPoll(ev);
      return;
    }
    const fr = this.frames.get(ev.cpu);
    if (role === ROLE_HOST_IPI && this.roleCpu[ev.loc] === ev.cpu && fr !== undefined) {
      // The KVM exit check (kvmppc_guest_exit_h_doorbell / kvmppc_read_one_intr).
      const span = this.frameSpan(fr);
      span.updateName(
        fr.source === 'external' ? 'kvmppc_read_one_intr' : 'kvmppc_guest_exit_h_doorbell',
      );
      span.addEvent('host_ipi check', this.loadAttrs(ev), this.time(ev));
      if (ev.value === 0 && fr.source === 'hdbell') {
        span.setAttribute(ATTR.ipiOutcome, 'dropped');
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: 'doorbell taken as a guest wake-up: host_ipi read 0',
        });
      }
      return;
    }
  }

  private onRmw(ev: Ev<'rmw'>): void {
    if (this.roleCpu[ev.loc] !== ev.cpu) return;
    this.endHandlers(ev.cpu, ev);
    const found = foundNames(ev.old);
    const t = this.time(ev);
    const fr = this.frames.get(ev.cpu);
    let frameSc: SpanContext | undefined;
    let frameRecorded = false;
    if (fr !== undefined) {
      fr.demuxed = true;
      const s = this.frameSpan(fr);
      const a = this.rmwAttrs(ev);
      a[ATTR.demuxFound] = found;
      s.addEvent('smp_ipi_demux', a, t);
      frameSc = s.spanContext();
      // The handlers link to the frame, whose event is the demux: they need no copy of it.
      frameRecorded = s.isRecording();
    }
    const list = this.open.get(ev.loc);
    if (list === undefined || list.length === 0) return;
    let kept = 0;
    const hs: Span[] = this.handlers.get(ev.cpu) ?? [];
    for (const ipi of list) {
      const byteSet = laneOf(ev.old, ipi.msg) !== 0;
      if (!(ev.oldVersion >= ipi.version && byteSet)) {
        list[kept++] = ipi;
        continue;
      }
      // One core's observer (distributed) sees only its own clock: count from the message's ordering
      // at its home, the target's core, not from the sender's tick.
      const late = ev.tick - (this.opts.wholeMachine ? ipi.tick : ipi.orderedTick) > this.opts.lateTicks;
      const h = this.tracer(ev.core).startSpan(
        `${SPAN.handler} ${msgName(ipi.msg)}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: t,
          attributes: {
            [ATTR.ipiId]: ipi.id,
            [ATTR.ipiOutcome]: late ? 'late' : 'handled',
            [ATTR.cpu]: ev.cpu,
            [ATTR.core]: ev.core,
            [ATTR.clock]: ev.clock,
            [ATTR.version]: ev.oldVersion,
            [ATTR.demuxFound]: found,
          },
          links: frameSc === undefined ? [] : [{ context: frameSc }],
        },
        ipi.ctx,
      );
      // No recorded frame (none, or not sampled): the handler carries the demux itself.
      if (!frameRecorded) h.addEvent('rmw', this.rmwAttrs(ev), t);
      hs.push(h);
      this.tracked--;
    }
    list.length = kept;
    this.handlers.set(ev.cpu, hs);
  }

  private endHandlers(cpu: number, ev: MachineEvent): void {
    const hs = this.handlers.get(cpu);
    if (hs === undefined || hs.length === 0) return;
    const t = this.time(ev);
    for (const h of hs) h.end(t);
    hs.length = 0;
  }

  private onCsdPoll(ev: Ev<'load'>): void {
    const w = this.waits.get(ev.cpu);
    const locked = (ev.value & CSD_FLAG_LOCK) !== 0;
    if (w !== undefined) {
      w.polls++;
      if (locked) {
        if (w.span === null && w.polls >= WAIT_SPAN_POLLS_MIN) this.waitSpan(w);
        return;
      }
      this.waits.delete(ev.cpu);
      if (w.span === null) {
        this.waitsShort++;
        return;
      }
      w.span.setAttribute(ATTR.waitPolls, w.polls);
      w.span.setAttribute(ATTR.waitOutcome, 'released');
      const t = this.time(ev);
      w.span.addEvent('released', this.loadAttrs(ev), t);
      w.span.end(t);
      return;
    }
    if (!locked) return;
    let target = this.roleTarget[ev.loc] as number;
    let ipi: Ipi | null = null;
    if (target < 0) {
      // The stack csd of smp_call_function_single: the CPU the call was queued on. Its IPI is the
      // caller's own, or, when the queue was not empty and none was sent, the last one to it.
      const own = this.lastIpiFrom.get(ev.cpu);
      target = this.lastQueuedTo.get(ev.cpu) ?? own?.target ?? -1;
      ipi = own !== undefined && own.target === target ? own : target >= 0 ? (this.lastIpiTo.get(target) ?? null) : null;
    } else {
      ipi = this.lastIpiTo.get(target) ?? null;
    }
    this.waits.set(ev.cpu, { span: null, first: { ...ev }, polls: 1, ipi, target });
  }

  /** The csd_lock_wait span, from the first locked poll: made once the wait outlasts a relax. */
  private waitSpan(w: Wait): Span {
    if (w.span !== null) return w.span;
    const ev = w.first;
    const t = this.time(ev);
    w.span = this.tracer(ev.core).startSpan(
      SPAN.wait,
      {
        kind: SpanKind.INTERNAL,
        startTime: t,
        attributes: {
          [ATTR.cpu]: ev.cpu,
          [ATTR.core]: ev.core,
          [ATTR.waitFor]: w.target,
          [ATTR.loc]: this.names[ev.loc] as string,
          [ATTR.clock]: ev.clock,
          ...(w.ipi !== null ? { [ATTR.ipiId]: w.ipi.id } : {}),
        },
      },
      w.ipi?.ctx ?? ROOT_CONTEXT,
    );
    w.span.addEvent('locked', this.loadAttrs(ev), t);
    return w.span;
  }

  // ---- the end of the run

  /**
   * Ends every open span. With `wholeMachine`, writes one `ipi.verdict` span per IPI never consumed
   * (outcome `ignored` when it was ordered `settleTicks` before the end, else `pending`) and the
   * run summary span. Idempotent.
   */
  /** The core of the last event: a live observer's own core. */
  private coreSeen = -1;

  finish(tickEnd = this.tickMax): void {
    if (this.finished) return;
    this.finished = true;
    const endCore = 0;
    const tEnd = this.opts.timeOf(tickEnd, endCore);
    for (const cpu of [...this.sending.keys()])
      this.endSend(cpu, tickEnd, endCore, 'run ended before the IPI was raised');
    for (const [cpu, fr] of [...this.frames.entries()]) {
      this.frames.delete(cpu);
      if (fr.span === null) continue;
      this.flushStores(fr.stores);
      fr.span.end(tEnd);
    }
    for (const hs of this.handlers.values()) for (const h of hs) h.end(tEnd);
    this.handlers.clear();
    for (const st of this.stores.values()) {
      if (!st.own) continue;
      this.flushStores([st]);
      st.span.setAttribute('emu.store.note', 'never ordered at its home before the run ended');
      st.span.end(tEnd);
    }
    this.stores.clear();
    const unconsumed = new Set<string>();
    let ignoredCount = 0;
    if (this.opts.wholeMachine) {
      for (const list of this.open.values()) {
        for (const ipi of list) {
          const ignored = ipi.orderedTick <= tickEnd - this.opts.settleTicks;
          if (ignored) {
            unconsumed.add(ipi.id);
            ignoredCount++;
          }
          const v = this.tracer(Math.floor(ipi.target / this.opts.threadsPerCore)).startSpan(
            SPAN.verdict,
            {
              startTime: tEnd,
              attributes: {
                [ATTR.ipiId]: ipi.id,
                [ATTR.ipiOutcome]: ignored ? 'ignored' : 'pending',
                [ATTR.ipiSender]: ipi.sender,
                [ATTR.ipiTarget]: ipi.target,
                [ATTR.ipiMsg]: ipi.msg,
                [ATTR.ipiMsgName]: msgName(ipi.msg),
                [ATTR.version]: ipi.version,
              },
            },
            ipi.ctx,
          );
          if (ignored)
            v.setStatus({
              code: SpanStatusCode.ERROR,
              message: `${msgName(ipi.msg)} from CPU ${ipi.sender} never handled by CPU ${ipi.target}`,
            });
          v.end(tEnd);
        }
      }
    }
    for (const [cpu, w] of this.waits.entries()) {
      // One or two locked reads just before the end tell nothing (the first may be the caller's
      // own read of the csd it has just locked): no wait, no span.
      if (w.polls < WAIT_SPAN_POLLS_MIN) continue;
      const span = this.waitSpan(w);
      span.setAttribute(ATTR.waitPolls, w.polls);
      span.setAttribute(ATTR.waitOutcome, 'hung');
      if (w.ipi !== null && unconsumed.has(w.ipi.id)) span.setAttribute(ATTR.ipiOutcome, 'ignored');
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: `CPU ${cpu} still spinning in csd_lock_wait for CPU ${w.target}`,
      });
      span.end(tEnd);
    }
    this.waits.clear();
    const run = this.tracer(endCore).startSpan(
      SPAN.run,
      {
        startTime: this.opts.timeOf(0, endCore),
        attributes: {
          [ATTR.runTickEnd]: tickEnd,
          [ATTR.runSettleTicks]: this.opts.settleTicks,
          [ATTR.runIpisTraced]: this.ipisTraced,
          'emu.run.ipis_untraced': this.ipisUntraced,
          'emu.run.ipis_ignored': ignoredCount,
          'emu.run.whole_machine': this.opts.wholeMachine,
          // A core of its own (distributed): its clock is the one its run_tick_end is on.
          ...(this.opts.wholeMachine || (this.opts.core ?? this.coreSeen) < 0 ? {} : { [ATTR.core]: this.opts.core ?? this.coreSeen }),
          ...(this.opts.wholeMachine || this.opts.cores === undefined ? {} : { [ATTR.runCores]: this.opts.cores }),
          'emu.run.late_ticks': this.opts.lateTicks,
          'emu.run.waits_short': this.waitsShort,
        },
      },
      ROOT_CONTEXT,
    );
    run.end(tEnd);
  }

  // ---- helpers

  private tracer(core: number): Tracer {
    let t = this.tracers.get(core);
    if (t === undefined) {
      t = this.opts.tracerFor(core);
      this.tracers.set(core, t);
    }
    return t;
  }

  private time(ev: MachineEvent): HrTime {
    return this.opts.timeOf(ev.tick, ev.core);
  }

  // The span-event attributes that rebuild a machine event exactly (see semconv.ts). One literal
  // per event kind: the SDK copies every attribute object twice, so no generic loop, no spread.

  private storeAttrs(st: StoreFields): Attributes {
    return {
      [ATTR.e]: 'store',
      [ATTR.core]: st.core,
      [ATTR.clock]: st.clock,
      [ATTR.tick]: st.tick,
      [ATTR.cpu]: st.cpu,
      [ATTR.loc]: this.names[st.loc] as string,
      [ATTR.wid]: st.wid,
      [ATTR.value]: st.value,
      [ATTR.lane]: st.lane,
    };
  }

  /** A store and the home's ordering of it, in one span event (the version's cpu, location and
   * write id are the store's). */
  private storeVersionAttrs(st: StoreFields, v: Ev<'version'>): Attributes {
    return {
      [ATTR.e]: 'store',
      [ATTR.core]: st.core,
      [ATTR.clock]: st.clock,
      [ATTR.tick]: st.tick,
      [ATTR.cpu]: st.cpu,
      [ATTR.loc]: this.names[st.loc] as string,
      [ATTR.wid]: st.wid,
      [ATTR.value]: st.value,
      [ATTR.lane]: st.lane,
      [ATTR.version]: v.version,
      [ATTR.versionCore]: v.core,
      [ATTR.versionClock]: v.clock,
      [ATTR.versionTick]: v.tick,
      [ATTR.versionValue]: v.value,
    };
  }

  private versionAttrs(ev: Ev<'version'>): Attributes {
    return {
      [ATTR.e]: 'version',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.loc]: this.names[ev.loc] as string,
      [ATTR.wid]: ev.wid,
      [ATTR.version]: ev.version,
      [ATTR.value]: ev.value,
    };
  }

  private loadAttrs(ev: Ev<'load'>): Attributes {
    return {
      [ATTR.e]: 'load',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.loc]: this.names[ev.loc] as string,
      [ATTR.value]: ev.value,
      [ATTR.version]: ev.version,
      [ATTR.own]: ev.own,
    };
  }

  private rmwAttrs(ev: Ev<'rmw'>): Attributes {
    return {
      [ATTR.e]: 'rmw',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.loc]: this.names[ev.loc] as string,
      [ATTR.op]: ev.op,
      [ATTR.old]: ev.old,
      [ATTR.oldVersion]: ev.oldVersion,
      [ATTR.value]: ev.value,
      [ATTR.version]: ev.version,
      [ATTR.wid]: ev.wid,
    };
  }

  private barrierAttrs(ev: Ev<'barrier'>): Attributes {
    return {
      [ATTR.e]: 'barrier',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.kind]: ev.kind,
      [ATTR.phase]: ev.phase,
    };
  }

  private tpAttrs(ev: Ev<'tp'>): Attributes {
    return {
      [ATTR.e]: 'tp',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.tpName]: ev.name,
      [ATTR.tpAttrs]: JSON.stringify(ev.attrs),
    };
  }

  private ipiSendAttrs(ev: Ev<'ipi_send'>): Attributes {
    return {
      [ATTR.e]: 'ipi_send',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.via]: ev.via,
      [ATTR.target]: ev.target,
      [ATTR.sendId]: ev.id,
    };
  }

  private irqRaiseAttrs(ev: Ev<'irq_raise'>): Attributes {
    return {
      [ATTR.e]: 'irq_raise',
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
      [ATTR.cpu]: ev.cpu,
      [ATTR.source]: ev.source,
      [ATTR.sendId]: ev.id,
    };
  }

  /** The span-event attributes of any event (the kinds above, and the rare rest generically). */
  private attrsOf(ev: MachineEvent): Attributes {
    switch (ev.e) {
      case 'store':
        return this.storeAttrs(ev);
      case 'version':
        return this.versionAttrs(ev);
      case 'load':
        return this.loadAttrs(ev);
      case 'rmw':
        return this.rmwAttrs(ev);
      case 'barrier':
        return this.barrierAttrs(ev);
      case 'tp':
        return this.tpAttrs(ev);
      case 'ipi_send':
        return this.ipiSendAttrs(ev);
      case 'irq_raise':
        return this.irqRaiseAttrs(ev);
      default:
        break;
    }
    const a: Attributes = {
      [ATTR.e]: ev.e,
      [ATTR.core]: ev.core,
      [ATTR.clock]: ev.clock,
      [ATTR.tick]: ev.tick,
    };
    const rec = ev as unknown as Record<string, unknown>;
    for (const key in rec) {
      if (key === 'e' || key === 'core' || key === 'clock' || key === 'tick') continue;
      const v = rec[key];
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
        a[EVENT_ATTR[key] ?? `emu.${key}`] = v;
    }
    return a;
  }
}

/** What a store event's span event is built from (the event itself, or a StoreSpan's copy). */
interface StoreFields {
  core: number;
  clock: number;
  tick: number;
  cpu: number;
  loc: number;
  wid: number;
  value: number;
  lane: number;
}

/** Names of the messages set in a message word, comma separated (memoised: few distinct words). */
const foundByWord = new Map<number, string>();
function foundNames(word: number): string {
  let s = foundByWord.get(word);
  if (s !== undefined) return s;
  const found: string[] = [];
  for (let m = 0; m < 6; m++)
    if (laneOf(word, m) !== 0) found.push(msgName(m));
  s = found.join(',');
  if (foundByWord.size < 4096) foundByWord.set(word, s);
  return s;
}

/**
 * The messaging attributes (OpenTelemetry messaging conventions) of the doorbell hop's producer
 * and consumer spans, with the emulator's own that both carry; each adds its few more.
 */
function hopAttrs(
  op: 'send' | 'receive',
  subject: string,
  ev: { cpu: number; core: number; clock: number; id: number },
  ipiId: string | undefined,
): Attributes {
  const a: Attributes = {
    'messaging.system': 'nats',
    'messaging.destination.name': subject,
    'messaging.operation.type': op,
    [ATTR.cpu]: ev.cpu,
    [ATTR.core]: ev.core,
    [ATTR.clock]: ev.clock,
    [ATTR.sendId]: ev.id,
  };
  if (ipiId !== undefined) a[ATTR.ipiId] = ipiId;
  return a;
}

const EVENT_ATTR: Record<string, string> = {
  cpu: ATTR.cpu,
  wid: ATTR.wid,
  value: ATTR.value,
  lane: ATTR.lane,
  version: ATTR.version,
  own: ATTR.own,
  op: ATTR.op,
  old: ATTR.old,
  oldVersion: ATTR.oldVersion,
  kind: ATTR.kind,
  phase: ATTR.phase,
  via: ATTR.via,
  target: ATTR.target,
  id: ATTR.sendId,
  source: ATTR.source,
  name: ATTR.tpName,
  wasPending: 'emu.was_pending',
  srr1: 'emu.srr1',
};
