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
 * core, cpu, Lamport clock, tick, location, write id, coherence version, ...), so the analyzer
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

const ROLE_NONE = 0;
const ROLE_MSG = 1;
const ROLE_HOST_IPI = 2;
const ROLE_CSD = 3;

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
}

interface Ipi {
  id: string;
  sender: number;
  target: number;
  msg: number;
  tick: number;
  span: Span;
  ctx: Context;
  sendOpen: boolean;
  msgLoc: number;
  version: number;
  orderedTick: number;
  hostIpiStored: boolean;
}

interface StoreSpan {
  span: Span;
  loc: number;
  ipi: Ipi | null;
  /** The span exists for this store alone (end it when the store is ordered). */
  own: boolean;
  ctx: Context;
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
  cleared: boolean;
  demuxed: boolean;
}

interface Wait {
  span: Span | null;
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
    const n = names.length;
    this.names = names;
    this.role = new Uint8Array(n);
    this.roleCpu = new Int32Array(n).fill(-1);
    this.roleTarget = new Int32Array(n).fill(-1);
    for (let loc = 0; loc < n; loc++) {
      const name = names[loc] as string;
      let m = /^ipi_message\[(\d+)\]$/.exec(name);
      if (m) {
        this.role[loc] = ROLE_MSG;
        this.roleCpu[loc] = Number(m[1]);
        continue;
      }
      m = /^paca\[(\d+)\]\.kvm_hstate\.host_ipi$/.exec(name);
      if (m) {
        this.role[loc] = ROLE_HOST_IPI;
        this.roleCpu[loc] = Number(m[1]);
        continue;
      }
      m =
        /^cfd\[(\d+)\]\.csd\[(\d+)\]\.flags$/.exec(name) ??
        /^csd_stack\[(\d+)\]\.flags$/.exec(name);
      if (m) {
        this.role[loc] = ROLE_CSD;
        this.roleCpu[loc] = Number(m[1]);
        this.roleTarget[loc] = m[2] === undefined ? -1 : Number(m[2]);
      }
    }
  }

  event(ev: MachineEvent): void {
    if (ev.tick > this.tickMax) this.tickMax = ev.tick;
    switch (ev.e) {
      case 'visible':
      case 'nap':
      case 'wake':
      case 'doorbell_clear':
        return;
      case 'load':
        if (this.role[ev.loc] !== ROLE_NONE) this.onLoad(ev);
        return;
      case 'store':
        if (this.role[ev.loc] !== ROLE_NONE || this.sending.has(ev.cpu)) this.onStore(ev);
        return;
      case 'version':
        if (this.role[ev.loc] !== ROLE_NONE) this.onVersion(ev);
        return;
      case 'rmw':
        if (this.role[ev.loc] === ROLE_MSG) this.onRmw(ev);
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
      const span = this.tracer(ev.core).startSpan(
        SPAN.send,
        {
          kind: SpanKind.INTERNAL,
          startTime: this.opts.timeOf(ev.tick, ev.core),
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
      span.addEvent('ipi_message_set', this.attrsOf(ev), this.opts.timeOf(ev.tick, ev.core));
      const ipi: Ipi = {
        id,
        sender: ev.cpu,
        target,
        msg,
        tick: ev.tick,
        span,
        ctx: trace.setSpan(ROOT_CONTEXT, span),
        sendOpen: true,
        msgLoc: -1,
        version: -1,
        orderedTick: -1,
        hostIpiStored: false,
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
        cleared: false,
        demuxed: false,
      });
    }
    const fr = this.frames.get(ev.cpu);
    if (fr !== undefined) {
      // The frame's name says doorbell_exception and the handler spans say what ran: the entry,
      // exit and per-message tracepoints need no events of their own.
      if (ev.name === 'doorbell_entry') this.frameSpan(fr).updateName('doorbell_exception');
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
    const ipi = this.sending.get(ev.cpu) ?? null;
    if (role === ROLE_NONE || role === ROLE_CSD) {
      if (role === ROLE_CSD) {
        const hs = this.handlers.get(ev.cpu);
        if (hs !== undefined && hs.length > 0)
          (hs[hs.length - 1] as Span).addEvent('csd_unlock', this.attrsOf(ev), this.time(ev));
      }
      return;
    }
    if (this.stores.size >= TRACED_IPIS_MAX) return;
    // The store is an event of the span that made it (the send, or the interrupt frame); its
    // coherence version joins it there when the home orders it, or a small span if that span
    // has ended by then.
    const fr = this.frames.get(ev.cpu);
    let span: Span;
    let owner: Ipi | null = null;
    if (ipi !== null && this.roleCpu[ev.loc] === ipi.target) {
      owner = ipi;
      span = ipi.span;
      if (role === ROLE_MSG) ipi.msgLoc = ev.loc;
      else ipi.hostIpiStored = true;
      span.addEvent('store', this.attrsOf(ev), this.time(ev));
    } else if (fr !== undefined) {
      if (role === ROLE_HOST_IPI) fr.cleared = true;
      this.frameEvent(fr, 'store', ev);
      span = this.frameSpan(fr);
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
      span.addEvent('store', this.attrsOf(ev), this.time(ev));
      this.stores.set(ev.wid, {
        span,
        loc: ev.loc,
        ipi: null,
        own: true,
        ctx: trace.setSpan(ROOT_CONTEXT, span),
      });
      return;
    }
    this.stores.set(ev.wid, {
      span,
      loc: ev.loc,
      ipi: owner,
      own: false,
      ctx: trace.setSpan(ROOT_CONTEXT, span),
    });
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
      const name = this.names[ev.loc] as string;
      const s = this.tracer(ev.core).startSpan(
        `coherence ${name}`,
        { startTime: this.time(ev), attributes: { [ATTR.loc]: name, [ATTR.version]: ev.version } },
        remote,
      );
      s.addEvent('version', this.attrsOf(ev), this.time(ev));
      s.end(this.time(ev));
      return;
    }
    this.stores.delete(ev.wid);
    assert(st.loc === ev.loc, `write ${ev.wid} versioned at another location`);
    if (st.span.isRecording()) {
      st.span.addEvent('version', this.attrsOf(ev), this.time(ev));
      if (st.own) st.span.end(this.time(ev));
    } else {
      // The span that made the store has ended: the ordering gets its own small span beside it.
      const name = this.names[ev.loc] as string;
      const parent = st.ipi !== null ? st.ipi.ctx : st.ctx;
      const s = this.tracer(ev.core).startSpan(
        `coherence ${name}`,
        { startTime: this.time(ev), attributes: { [ATTR.loc]: name, [ATTR.version]: ev.version } },
        parent,
      );
      s.addEvent('version', this.attrsOf(ev), this.time(ev));
      s.end(this.time(ev));
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

  private onBarrier(ev: Ev<'barrier'>): void {
    // The analyzer needs to know where a full barrier completed and where msgsync ran; lwsync,
    // isync and the begin of a sync only fatten the spans.
    if (ev.kind === 'sync' ? ev.phase !== 'end' : ev.kind !== 'msgsync') return;
    const ipi = this.sending.get(ev.cpu);
    if (ipi !== undefined) {
      // Only the sync that orders the sender's stores before the doorbell (ppc_msgsnd_sync).
      if (ipi.hostIpiStored) ipi.span.addEvent(ev.kind, this.attrsOf(ev), this.time(ev));
      return;
    }
    const fr = this.frames.get(ev.cpu);
    // msgsync, and a sync between the host_ipi clear and the demux: what the explanation reads.
    if (fr !== undefined && (ev.kind === 'msgsync' || (fr.cleared && !fr.demuxed)))
      this.frameEvent(fr, ev.kind, ev);
  }

  private onIpiSend(ev: Ev<'ipi_send'>): void {
    const ipi = this.sending.get(ev.cpu);
    if (ipi === undefined) return;
    ipi.span.addEvent(ev.via, this.attrsOf(ev), this.time(ev));
    const tpc = this.opts.threadsPerCore;
    const dstCore = Math.floor(ev.target / tpc);
    let hopCtx = ipi.ctx;
    if (dstCore !== ev.core) {
      const subject = doorbellSubject(dstCore);
      const pub = this.tracer(ev.core).startSpan(
        `${SPAN.publish} ${subject}`,
        {
          kind: SpanKind.PRODUCER,
          startTime: this.time(ev),
          attributes: {
            'messaging.system': 'nats',
            'messaging.destination.name': subject,
            'messaging.operation.type': 'send',
            [ATTR.ipiId]: ipi.id,
            [ATTR.via]: ev.via,
            [ATTR.target]: ev.target,
            [ATTR.sendId]: ev.id,
            [ATTR.clock]: ev.clock,
            [ATTR.cpu]: ev.cpu,
            [ATTR.core]: ev.core,
          },
        },
        ipi.ctx,
      );
      pub.end(this.time(ev));
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
      const recv = this.tracer(ev.core).startSpan(
        `${SPAN.receive} ${subject}`,
        {
          kind: SpanKind.CONSUMER,
          startTime: this.time(ev),
          attributes: {
            'messaging.system': 'nats',
            'messaging.destination.name': subject,
            'messaging.operation.type': 'receive',
            [ATTR.cpu]: ev.cpu,
            [ATTR.core]: ev.core,
            [ATTR.clock]: ev.clock,
            [ATTR.source]: ev.source,
            [ATTR.sendId]: ev.id,
            ...(hop.ipi !== null ? { [ATTR.ipiId]: hop.ipi.id } : {}),
          },
          links: parentSc === undefined ? [] : [{ context: parentSc }],
        },
        hop.ctx,
      );
      recv.addEvent('irq_raise', this.attrsOf(ev), this.time(ev));
      recv.end(this.time(ev));
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
        ? 'xics_ipi_action'
        : fr.source === 'replay'
          ? 'doorbell_exception'
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
      span.addEvent('host_ipi check', this.attrsOf(ev), this.time(ev));
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
    const found: string[] = [];
    for (let m = 0; m < 6; m++)
      if (Math.floor(ev.old / 2 ** (8 * m)) % 256 !== 0) found.push(msgName(m));
    const fr = this.frames.get(ev.cpu);
    let frameSc: SpanContext | undefined;
    if (fr !== undefined) {
      fr.demuxed = true;
      const s = this.frameSpan(fr);
      s.addEvent(
        'smp_ipi_demux',
        { ...this.attrsOf(ev), [ATTR.demuxFound]: found.join(',') },
        this.time(ev),
      );
      frameSc = s.spanContext();
    }
    const list = this.open.get(ev.loc);
    if (list === undefined || list.length === 0) return;
    let kept = 0;
    const hs: Span[] = this.handlers.get(ev.cpu) ?? [];
    for (const ipi of list) {
      const byteSet = Math.floor(ev.old / 2 ** (8 * ipi.msg)) % 256 !== 0;
      if (!(ev.oldVersion >= ipi.version && byteSet)) {
        list[kept++] = ipi;
        continue;
      }
      const late = ev.tick - ipi.tick > this.opts.lateTicks;
      const h = this.tracer(ev.core).startSpan(
        `${SPAN.handler} ${msgName(ipi.msg)}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: this.time(ev),
          attributes: {
            [ATTR.ipiId]: ipi.id,
            [ATTR.ipiOutcome]: late ? 'late' : 'handled',
            [ATTR.cpu]: ev.cpu,
            [ATTR.core]: ev.core,
            [ATTR.clock]: ev.clock,
            [ATTR.version]: ev.oldVersion,
            [ATTR.demuxFound]: found.join(','),
          },
          links: frameSc === undefined ? [] : [{ context: frameSc }],
        },
        ipi.ctx,
      );
      h.addEvent('rmw', this.attrsOf(ev), this.time(ev));
      hs.push(h);
      this.tracked--;
    }
    list.length = kept;
    this.handlers.set(ev.cpu, hs);
  }

  private endHandlers(cpu: number, ev: MachineEvent): void {
    const hs = this.handlers.get(cpu);
    if (hs === undefined || hs.length === 0) return;
    for (const h of hs) h.end(this.time(ev));
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
      w.span.addEvent('released', this.attrsOf(ev), this.time(ev));
      w.span.end(this.time(ev));
      return;
    }
    if (!locked) return;
    let target = this.roleTarget[ev.loc] as number;
    let ipi: Ipi | null = null;
    if (target < 0) {
      ipi = this.lastIpiFrom.get(ev.cpu) ?? null;
      target = ipi?.target ?? -1;
    } else {
      ipi = this.lastIpiTo.get(target) ?? null;
    }
    this.waits.set(ev.cpu, { span: null, first: ev, polls: 1, ipi, target });
  }

  /** The csd_lock_wait span, from the first locked poll: made once the wait outlasts a relax. */
  private waitSpan(w: Wait): Span {
    if (w.span !== null) return w.span;
    const ev = w.first;
    w.span = this.tracer(ev.core).startSpan(
      SPAN.wait,
      {
        kind: SpanKind.INTERNAL,
        startTime: this.time(ev),
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
    w.span.addEvent('locked', this.attrsOf(ev), this.time(ev));
    return w.span;
  }

  // ---- the end of the run

  /**
   * Ends every open span. With `wholeMachine`, writes one `ipi.verdict` span per IPI never consumed
   * (outcome `ignored` when it was ordered `settleTicks` before the end, else `pending`) and the
   * run summary span. Idempotent.
   */
  finish(tickEnd = this.tickMax): void {
    if (this.finished) return;
    this.finished = true;
    const endCore = 0;
    const tEnd = this.opts.timeOf(tickEnd, endCore);
    for (const cpu of [...this.sending.keys()])
      this.endSend(cpu, tickEnd, endCore, 'run ended before the IPI was raised');
    for (const [cpu, fr] of [...this.frames.entries()]) {
      this.frames.delete(cpu);
      if (fr.span !== null) fr.span.end(tEnd);
    }
    for (const hs of this.handlers.values()) for (const h of hs) h.end(tEnd);
    this.handlers.clear();
    for (const st of this.stores.values()) {
      if (!st.own) continue;
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

  /** The span-event attributes that rebuild `ev` exactly (see semconv.ts). */
  private attrsOf(ev: MachineEvent): Attributes {
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
      const attr = EVENT_ATTR[key] ?? `emu.${key}`;
      if (key === 'loc') {
        a[ATTR.loc] = this.names[v as number] as string;
      } else if (key === 'attrs') {
        a[ATTR.tpAttrs] = JSON.stringify(v);
      } else if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') {
        a[attr] = v;
      }
    }
    return a;
  }
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
