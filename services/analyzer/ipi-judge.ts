/**
 * Judges every IPI from spans alone. The span events written by `tracing/` carry the machine
 * events they stand for (`emu.e`, core, cpu, Lamport clock, location, write id, coherence
 * version, ...); we rebuild those events, order them causally (Lamport clock, then core: a linear
 * extension of happens-before; wall-clock timestamps are never used), and feed them to the same
 * `IgnoredIpiChecker` the sim runs online. The verdict set is therefore the checker's, and the
 * spans add what a person needs: trace ids, the interrupt frames, who waits, and the cause.
 *
 * Robust to what a collector does to spans: batches out of order or repeated (events are keyed by
 * (core, clock, kind) and deduplicated), truncated runs (an IPI whose message store is missing is
 * reported as `incomplete`, never guessed).
 */
import { IgnoredIpiChecker } from '../checker/ignored-ipi.js';
import type { MachineEvent } from '../machine/index.js';
import { ATTR, msgName, SPAN } from '../tracing/index.js';
import type { AttrValue, SpanRecord } from './otlp-decode.js';
import { laneOf } from '../machine/locations.js';

export type Judgement = 'handled' | 'late' | 'ignored' | 'pending' | 'incomplete';

/** One machine event rebuilt from a span event, with where it was found. */
export interface SpanMachineEvent {
  ev: MachineEvent;
  traceId: string;
  spanId: string;
  spanName: string;
  /** Location name (`emu.loc`), when the event has a location. */
  locName?: string;
}

export interface IpiRecord {
  ipi_id: string;
  sender_cpu: number;
  target_cpu: number;
  msg: number;
  msg_name: string;
  trace_id: string;
  judgement: Judgement;
  /** Send: tick and Lamport clock of `ipi_message_set` on the sender. */
  sent_tick: number;
  sent_clock: number;
  via?: string;
  /** The message store: write id, coherence version at the home (-1: never ordered). */
  message_wid: number;
  message_version: number;
  ordered_tick: number;
  /** The sender's host_ipi set, when it had one. */
  host_ipi_wid: number;
  host_ipi_version: number;
  /** The demux that consumed it. */
  handled_tick: number;
  handled_version: number;
  latency_ticks: number;
  /** What the latency counts from: the send (one clock for the whole machine), or the message's
   * ordering at the target's core (a distributed run: a clock per core). */
  latency_from: 'set' | 'ordered';
  /** The sender's doorbell or MFRR write for it: tick on the sender's clock, and its send id. */
  send_tick: number;
  send_id: number;
  /** The interrupt that send raised at the target (target's clock; -1: none seen). */
  raise_tick: number;
  /** The sender's message store: its issue tick (sender's clock). */
  message_store_tick: number;
  /** Where a handled IPI's latency went (see `latencyParts`). */
  parts?: LatencyParts;
  cause?: string;
  /** The explanation's class: `message-store-deferred` (the seed's first interleaving),
   * `clear-deferred` (its second), `transport-lost`, `not-consumed`. */
  cause_kind?: string;
  diagram?: string;
}

/**
 * Where the latency of a handled IPI went, each part on one clock: on the sender from the
 * message set to its doorbell/MFRR write (its stores and barriers: `message_store_ticks` is how
 * long the message store took to be ordered at its home), in flight from that write to the
 * interrupt at the target, and on the target from the interrupt to the demux that found the
 * message. Parts that would subtract two cores' clocks (a distributed run) are absent.
 */
export interface LatencyParts {
  sender_ticks?: number;
  message_store_ticks?: number;
  /** The sender's stores in the IPI's trace, issued between the set and the send, that took the
   * longest to be ordered at their homes (a sync waits for them): location and ticks. */
  slow_stores?: Array<{ loc: string; ticks: number }>;
  in_flight_ticks?: number;
  /** Per-core clocks only: from the message's ordering at the target's core to the interrupt
   * there (the sender's barriers and the hop, on the target's clock). */
  until_interrupt_ticks?: number;
  target_ticks?: number;
  /** The demux that found the message was not run for this IPI's own interrupt (it came before
   * it, or its own was never raised: lost or dropped). */
  other_interrupt: boolean;
  /** The largest part. */
  where: 'sender' | 'in-flight' | 'before-interrupt' | 'target' | 'unknown';
}

export interface JudgeOptions {
  /** Ticks an unconsumed IPI must have been ordered before the end to be ignored (else the run
   * span's `emu.run.settle_ticks`, else 20,000). */
  settleTicks?: number;
  /** Handled later than this many ticks after being set: late (else the run span's, else 20,000). */
  lateTicks?: number;
  /** Last tick of the run (else the run span's `emu.run.tick_end`, else the largest tick seen). */
  tickEnd?: number;
}

export interface Judged {
  ipis: IpiRecord[];
  ignored: IpiRecord[];
  late: IpiRecord[];
  incomplete: IpiRecord[];
  events: SpanMachineEvent[];
  spans: SpanRecord[];
  tickEnd: number;
  settleTicks: number;
  lateTicks: number;
  /** Checker errors (a run the checker lost faith in). */
  errors: string[];
  /** Why the spans do not reach the end of the run (a run span is missing), or undefined. */
  cutShort: string | undefined;
  /** Span events that looked like machine events but could not be rebuilt. */
  eventCountBad: number;
  eventCountDuplicate: number;
}

function num(v: AttrValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function str(v: AttrValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const DEFAULT_TICKS = 20_000;

/**
 * Rebuilds the machine event of one span event; undefined when it is not one or is malformed.
 * Span events name locations (`emu.loc`); `locId` maps a name to the id the rebuilt event uses
 * (ids are only compared with each other, so any one-to-one numbering does).
 */
export function machineEventOf(
  a: Record<string, AttrValue>,
  locId: (name: string) => number = defaultLocIds(),
): MachineEvent | undefined {
  const e = str(a[ATTR.e]);
  const core = num(a[ATTR.core]);
  const clock = num(a[ATTR.clock]);
  const tick = num(a[ATTR.tick]);
  const cpu = num(a[ATTR.cpu]);
  if (e === undefined || core === undefined || clock === undefined || tick === undefined)
    return undefined;
  const base = { core, clock, tick };
  const locName = str(a[ATTR.loc]);
  const loc = locName === undefined ? num(a[ATTR.locId]) : locId(locName);
  switch (e) {
    case 'tp': {
      const name = str(a[ATTR.tpName]);
      if (name === undefined || cpu === undefined) return undefined;
      let attrs: Record<string, number | string | boolean> = {};
      try {
        const parsed = JSON.parse(str(a[ATTR.tpAttrs]) ?? '{}') as unknown;
        if (parsed !== null && typeof parsed === 'object') attrs = parsed as typeof attrs;
      } catch {
        return undefined;
      }
      return { e, ...base, cpu, name, attrs };
    }
    case 'store': {
      const wid = num(a[ATTR.wid]);
      const value = num(a[ATTR.value]);
      const lane = num(a[ATTR.lane]);
      if (
        cpu === undefined ||
        loc === undefined ||
        wid === undefined ||
        value === undefined ||
        lane === undefined
      )
        return undefined;
      return { e, ...base, cpu, loc, wid, value, lane };
    }
    case 'version': {
      const wid = num(a[ATTR.wid]);
      const version = num(a[ATTR.version]);
      const value = num(a[ATTR.value]);
      if (
        cpu === undefined ||
        loc === undefined ||
        wid === undefined ||
        version === undefined ||
        value === undefined
      )
        return undefined;
      return { e, ...base, cpu, loc, wid, version, value };
    }
    case 'rmw': {
      const old = num(a[ATTR.old]);
      const oldVersion = num(a[ATTR.oldVersion]);
      const value = num(a[ATTR.value]);
      const version = num(a[ATTR.version]);
      const wid = num(a[ATTR.wid]);
      const op = str(a[ATTR.op]);
      if (
        cpu === undefined ||
        loc === undefined ||
        old === undefined ||
        oldVersion === undefined ||
        value === undefined
      )
        return undefined;
      if (version === undefined || wid === undefined || op === undefined) return undefined;
      return { e, ...base, cpu, loc, op, old, oldVersion, value, version, wid };
    }
    case 'load': {
      const value = num(a[ATTR.value]);
      const version = num(a[ATTR.version]);
      if (cpu === undefined || loc === undefined || value === undefined || version === undefined)
        return undefined;
      return { e, ...base, cpu, loc, value, version, own: a[ATTR.own] === true };
    }
    case 'barrier': {
      const kind = str(a[ATTR.kind]);
      const phase = str(a[ATTR.phase]);
      if (cpu === undefined || kind === undefined || (phase !== 'begin' && phase !== 'end'))
        return undefined;
      return { e, ...base, cpu, kind, phase };
    }
    case 'ipi_send': {
      const via = str(a[ATTR.via]);
      const target = num(a[ATTR.target]);
      const id = num(a[ATTR.sendId]);
      if (cpu === undefined || target === undefined || id === undefined) return undefined;
      if (via !== 'msgsnd' && via !== 'msgsndp' && via !== 'mfrr') return undefined;
      return { e, ...base, cpu, via, target, id };
    }
    case 'irq_raise': {
      const source = str(a[ATTR.source]);
      const id = num(a[ATTR.sendId]);
      if (cpu === undefined || source === undefined || id === undefined) return undefined;
      return { e, ...base, cpu, source, id };
    }
    case 'irq_take':
    case 'irq_return': {
      const source = str(a[ATTR.source]);
      if (cpu === undefined || source === undefined) return undefined;
      return { e, ...base, cpu, source };
    }
    default:
      return undefined;
  }
}

/**
 * The `version` machine event folded into a `store` span event (the home's ordering of that
 * store: `emu.version` and the home's `emu.version.*`), or undefined when the store event does
 * not carry one (not yet ordered when its span ended; the version is then an event of its own).
 */
export function versionOfStore(
  store: Extract<MachineEvent, { e: 'store' }>,
  a: Record<string, AttrValue>,
): MachineEvent | undefined {
  const version = num(a[ATTR.version]);
  const core = num(a[ATTR.versionCore]);
  const clock = num(a[ATTR.versionClock]);
  const tick = num(a[ATTR.versionTick]);
  const value = num(a[ATTR.versionValue]);
  if (
    version === undefined ||
    core === undefined ||
    clock === undefined ||
    tick === undefined ||
    value === undefined
  )
    return undefined;
  return {
    e: 'version',
    core,
    clock,
    tick,
    loc: store.loc,
    wid: store.wid,
    version,
    value,
    cpu: store.cpu,
  };
}

const RANK: Record<string, number> = { tp: 0 };

/** A fresh name -> id numbering. */
export function defaultLocIds(): (name: string) => number {
  const ids = new Map<string, number>();
  return (name) => {
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = ids.size));
    return id;
  };
}

/** Machine events of the spans, deduplicated, in causal order. */
export function rebuildEvents(spans: readonly SpanRecord[]): {
  events: SpanMachineEvent[];
  bad: number;
  duplicate: number;
} {
  const seen = new Map<string, SpanMachineEvent>();
  let bad = 0;
  let duplicate = 0;
  const locId = defaultLocIds();
  const add = (ev: MachineEvent, s: SpanRecord, locName: string | undefined): void => {
    const key = `${ev.core}/${ev.clock}/${ev.e}/${'cpu' in ev ? ev.cpu : -1}`;
    if (seen.has(key)) {
      duplicate++;
      return;
    }
    const rec: SpanMachineEvent = { ev, traceId: s.traceId, spanId: s.spanId, spanName: s.name };
    if (locName !== undefined) rec.locName = locName;
    seen.set(key, rec);
  };
  for (const s of spans) {
    for (const se of s.events) {
      if (!(ATTR.e in se.attributes)) continue;
      const ev = machineEventOf(se.attributes, locId);
      if (ev === undefined) {
        bad++;
        continue;
      }
      const ln = str(se.attributes[ATTR.loc]);
      add(ev, s, ln);
      if (ev.e === 'store' && ATTR.version in se.attributes) {
        const v = versionOfStore(ev, se.attributes);
        if (v === undefined) bad++;
        else add(v, s, ln);
      }
    }
  }
  const events = [...seen.values()];
  events.sort(
    (x, y) =>
      x.ev.clock - y.ev.clock || x.ev.core - y.ev.core || (RANK[x.ev.e] ?? 1) - (RANK[y.ev.e] ?? 1),
  );
  return { events, bad, duplicate };
}

/** Judges every IPI found in `spans`. */
export function judgeSpans(spans: readonly SpanRecord[], opts: JudgeOptions = {}): Judged {
  const { events, bad, duplicate } = rebuildEvents(spans);
  // Live, every core process writes its own run span: the run ends with the last of them.
  const runs = spans.filter((s) => s.name === SPAN.run);
  const run = runs[0];
  let tickMax = 0;
  for (const r of events) if (r.ev.tick > tickMax) tickMax = r.ev.tick;
  let runTickEnd: number | undefined;
  for (const r of runs) {
    const t = num(r.attributes[ATTR.runTickEnd]);
    if (t !== undefined && (runTickEnd === undefined || t > runTickEnd)) runTickEnd = t;
  }
  const tickEnd = opts.tickEnd ?? runTickEnd ?? tickMax;
  const cutShort = runEndMissing(runs, events);
  const settleTicks =
    opts.settleTicks ?? num(run?.attributes[ATTR.runSettleTicks]) ?? DEFAULT_TICKS;
  const lateTicks = opts.lateTicks ?? num(run?.attributes['emu.run.late_ticks']) ?? DEFAULT_TICKS;
  // A distributed run's cores each keep their own clock (one run span per core, not the whole
  // machine): a sender's tick and its target's cannot be subtracted. The latency is then counted on
  // the target's clock, from when the message was ordered at its home (the target's core).
  const perCoreClocks = runs.some((r) => r.attributes['emu.run.whole_machine'] === false);
  // And an IPI still open at the end is judged against its own core's end, not the fastest core's.
  const endOfCore = new Map<number, number>();
  if (perCoreClocks) {
    for (const r of runs) {
      const core = num(r.attributes[ATTR.core]);
      const t = num(r.attributes[ATTR.runTickEnd]);
      if (core !== undefined && t !== undefined) endOfCore.set(core, Math.max(t, endOfCore.get(core) ?? t));
    }
  }

  // The message word of each CPU, by name.
  const messageLocs: number[] = [];
  for (const r of events) {
    if (r.locName === undefined || !('loc' in r.ev)) continue;
    const m = /^ipi_message\[(\d+)\]$/.exec(r.locName);
    if (m) messageLocs[Number(m[1])] = r.ev.loc;
  }
  for (let c = 0; c < messageLocs.length; c++)
    if (messageLocs[c] === undefined) messageLocs[c] = -1;

  // An IPI is fed to the checker only when its announcement and its message store are both here
  // (the checker's contract); the rest are incomplete.
  const ipis = new Map<string, IpiRecord>();
  const announce = new Map<string, SpanMachineEvent>();
  const storeOf = new Map<string, SpanMachineEvent>();
  const pendingByCpu = new Map<number, string>();
  const unsentByCpu = new Map<number, IpiRecord>();
  const sendCore = new Map<IpiRecord, number>();
  for (const r of events) {
    const ev = r.ev;
    if (ev.e === 'tp' && ev.name === 'ipi_message_set') {
      const id = String(ev.attrs['ipi_id']);
      const target = Number(ev.attrs['target']);
      const msg = Number(ev.attrs['msg']);
      announce.set(id, r);
      pendingByCpu.set(ev.cpu, id);
      const rec: IpiRecord = {
        ipi_id: id,
        sender_cpu: ev.cpu,
        target_cpu: target,
        msg,
        msg_name: msgName(msg),
        trace_id: r.traceId,
        judgement: 'incomplete',
        sent_tick: ev.tick,
        sent_clock: ev.clock,
        message_wid: -1,
        message_version: -1,
        ordered_tick: -1,
        host_ipi_wid: -1,
        host_ipi_version: -1,
        handled_tick: -1,
        handled_version: -1,
        latency_ticks: -1,
        latency_from: 'set',
        send_tick: -1,
        send_id: -1,
        raise_tick: -1,
        message_store_tick: -1,
      };
      ipis.set(id, rec);
      unsentByCpu.set(ev.cpu, rec);
    } else if (ev.e === 'store') {
      const id = pendingByCpu.get(ev.cpu);
      if (id === undefined) continue;
      const ipi = ipis.get(id) as IpiRecord;
      if (ev.loc === messageLocs[ipi.target_cpu]) {
        storeOf.set(id, r);
        ipi.message_wid = ev.wid;
        ipi.message_store_tick = ev.tick;
        pendingByCpu.delete(ev.cpu);
      }
    } else if (ev.e === 'ipi_send') {
      const ipi = unsentByCpu.get(ev.cpu);
      if (ipi !== undefined && ipi.target_cpu === ev.target) {
        ipi.via = ev.via;
        ipi.send_tick = ev.tick;
        ipi.send_id = ev.id;
        sendCore.set(ipi, ev.core);
        unsentByCpu.delete(ev.cpu);
      }
    }
  }
  // host_ipi set of each IPI: the sender's store to the target's host_ipi in the IPI's trace.
  // Each write's ordering at its home: its coherence version and the home's tick.
  const orderingOf = new Map<number, { version: number; tick: number }>();
  for (const r of events) if (r.ev.e === 'version') orderingOf.set(r.ev.wid, { version: r.ev.version, tick: r.ev.tick });
  const byTrace = new Map<string, IpiRecord>();
  for (const ipi of ipis.values()) byTrace.set(ipi.trace_id, ipi);
  for (const r of events) {
    if (r.ev.e !== 'store' || r.locName === undefined || !r.locName.endsWith('host_ipi')) continue;
    const ipi = byTrace.get(r.traceId);
    if (
      ipi === undefined ||
      ipi.sender_cpu !== r.ev.cpu ||
      r.locName !== `paca[${ipi.target_cpu}].kvm_hstate.host_ipi`
    )
      continue;
    ipi.host_ipi_wid = r.ev.wid;
    ipi.host_ipi_version = orderingOf.get(r.ev.wid)?.version ?? -1;
  }

  const checker = new IgnoredIpiChecker({ messageLocs });
  const complete = new Set<string>();
  const completeStores = new Set<SpanMachineEvent>();
  const widToIpi = new Map<number, IpiRecord>();
  const openByTarget = new Map<number, IpiRecord[]>();
  const handledCore = new Map<IpiRecord, number>();
  for (const [id, st] of storeOf) {
    const ipi = ipis.get(id) as IpiRecord;
    if (!announce.has(id) || (messageLocs[ipi.target_cpu] ?? -1) < 0) continue;
    complete.add(id);
    completeStores.add(st);
    widToIpi.set(ipi.message_wid, ipi);
  }
  const errors: string[] = [];
  for (const r of events) {
    const ev = r.ev;
    if (ev.e === 'tp') {
      if (ev.name !== 'ipi_message_set' || !complete.has(String(ev.attrs['ipi_id']))) continue;
    } else if (ev.e === 'store') {
      if (!completeStores.has(r)) continue;
    } else if (ev.e === 'version') {
      const ipi = widToIpi.get(ev.wid);
      if (ipi === undefined) continue;
      ipi.message_version = ev.version;
      ipi.ordered_tick = ev.tick;
      const list = openByTarget.get(ipi.target_cpu) ?? [];
      list.push(ipi);
      openByTarget.set(ipi.target_cpu, list);
    } else if (ev.e === 'rmw') {
      if (ev.loc !== messageLocs[ev.cpu]) continue;
      const list = openByTarget.get(ev.cpu) ?? [];
      let kept = 0;
      for (const ipi of list) {
        if (
          ev.oldVersion >= ipi.message_version &&
          laneOf(ev.old, ipi.msg) !== 0
        ) {
          ipi.handled_tick = ev.tick;
          ipi.handled_version = ev.oldVersion;
          handledCore.set(ipi, ev.core);
          const fromOrdering = perCoreClocks && ipi.ordered_tick >= 0;
          ipi.latency_ticks = ev.tick - (fromOrdering ? ipi.ordered_tick : ipi.sent_tick);
          ipi.latency_from = fromOrdering ? 'ordered' : 'set';
        } else {
          list[kept++] = ipi;
        }
      }
      list.length = kept;
    } else {
      continue;
    }
    try {
      checker.event(ev);
    } catch (e) {
      errors.push(`checker: ${(e as Error).message}`);
      if (errors.length > 20) break;
    }
  }
  const result = opts.tickEnd === undefined && endOfCore.size > 0 ? checker.result(tickEnd, settleTicks, (c) => endOfCore.get(c)) : checker.result(tickEnd, settleTicks);
  errors.push(...result.errors);
  const ignoredIds = new Set(result.ignored.map((i) => i.ipi_id));
  // The interrupt each send raised at its target: a doorbell to another core, or an MFRR write,
  // arrives as a receive span in the IPI's trace (its attributes are the irq_raise event); a
  // doorbell within the core is latched at the send.
  const raised = new Map<string, number>();
  for (const s of spans) {
    if (!s.name.startsWith(`${SPAN.receive} `)) continue;
    const cpu = num(s.attributes[ATTR.cpu]);
    const id = num(s.attributes[ATTR.sendId]);
    const tick = num(s.attributes[ATTR.tick]);
    if (cpu !== undefined && id !== undefined && tick !== undefined) raised.set(`${s.traceId}/${cpu}/${id}`, tick);
  }
  for (const ipi of ipis.values()) {
    if (ipi.send_tick < 0) continue;
    const t = raised.get(`${ipi.trace_id}/${ipi.target_cpu}/${ipi.send_id}`);
    if (t !== undefined) ipi.raise_tick = t;
    else if (sendCore.get(ipi) !== undefined && sendCore.get(ipi) === handledCore.get(ipi)) ipi.raise_tick = ipi.send_tick;
  }
  for (const ipi of ipis.values()) {
    if (!complete.has(ipi.ipi_id)) ipi.judgement = 'incomplete';
    else if (ignoredIds.has(ipi.ipi_id)) ipi.judgement = 'ignored';
    else if (ipi.handled_tick < 0) ipi.judgement = 'pending';
    else {
      ipi.judgement = ipi.latency_ticks > lateTicks ? 'late' : 'handled';
      ipi.parts = latencyParts(ipi, perCoreClocks);
    }
  }
  if (!perCoreClocks) {
    const late = new Map<string, IpiRecord>();
    for (const ipi of ipis.values()) if (ipi.judgement === 'late' && ipi.send_tick >= 0) late.set(ipi.trace_id, ipi);
    const slow = new Map<IpiRecord, Array<{ loc: string; ticks: number }>>();
    for (const r of events) {
      const ipi = late.get(r.traceId);
      if (ipi === undefined || r.ev.e !== 'store' || r.ev.cpu !== ipi.sender_cpu) continue;
      if (r.ev.tick < ipi.sent_tick || r.ev.tick > ipi.send_tick) continue;
      const at = orderingOf.get(r.ev.wid)?.tick;
      if (at === undefined) continue;
      const list = slow.get(ipi) ?? [];
      list.push({ loc: r.locName ?? `location ${r.ev.loc}`, ticks: at - r.ev.tick });
      slow.set(ipi, list);
    }
    for (const [ipi, list] of slow) {
      list.sort((a, b) => b.ticks - a.ticks);
      if (ipi.parts !== undefined) ipi.parts.slow_stores = list.slice(0, 3);
    }
  }
  const all = [...ipis.values()].sort((a, b) => a.sent_clock - b.sent_clock);
  return {
    ipis: all,
    ignored: all.filter((i) => i.judgement === 'ignored'),
    late: all.filter((i) => i.judgement === 'late'),
    incomplete: all.filter((i) => i.judgement === 'incomplete'),
    events,
    spans: [...spans],
    tickEnd,
    settleTicks,
    lateTicks,
    errors,
    cutShort,
    eventCountBad: bad,
    eventCountDuplicate: duplicate,
  };
}

/**
 * Why the spans stop before the run's end, or undefined when they reach it. The run span is the
 * last span a run writes (one for the whole machine in `sim`, one per core process live), so a
 * file cut short, a run still under way or a core process that died leaves it out; without it an
 * IPI whose handling was cut off would be judged on a made-up end.
 */
function runEndMissing(runs: readonly SpanRecord[], events: readonly SpanMachineEvent[]): string | undefined {
  if (runs.length === 0) {
    return `no run span (${SPAN.run}, written when the run ends): the spans stop before the end of the run (a file cut short, a run still under way, or a core process that died)`;
  }
  if (runs.some((r) => r.attributes['emu.run.whole_machine'] !== false)) return undefined;
  // Live, every core process writes its own: each core of the machine (its run spans say how many)
  // and each core whose events are here must have one.
  const ended = new Set<number>();
  let cores = 0;
  for (const r of runs) {
    const core = num(r.attributes[ATTR.core]);
    if (core !== undefined) ended.add(core);
    cores = Math.max(cores, num(r.attributes[ATTR.runCores]) ?? 0);
  }
  const cut = new Set<number>();
  for (let c = 0; c < cores; c++) if (!ended.has(c)) cut.add(c);
  for (const r of events) if (!ended.has(r.ev.core)) cut.add(r.ev.core);
  if (cut.size === 0) return undefined;
  const list = [...cut].sort((a, b) => a - b);
  return `no run span (${SPAN.run}) of core${list.length > 1 ? 's' : ''} ${list.join(', ')}: each core process writes its own when the run ends, so the spans of ${list.length > 1 ? 'these cores' : 'this core'} stop before the end of the run, or are not there at all`;
}

/** Where a handled IPI's latency went; `perCoreClocks`: only parts measured on one core's clock. */
export function latencyParts(ipi: IpiRecord, perCoreClocks: boolean): LatencyParts {
  const p: LatencyParts = { other_interrupt: true, where: 'unknown' };
  if (ipi.send_tick >= 0) p.sender_ticks = ipi.send_tick - ipi.sent_tick;
  const ownInterrupt = ipi.raise_tick >= 0 && ipi.raise_tick <= ipi.handled_tick;
  if (ownInterrupt) p.other_interrupt = false;
  if (!perCoreClocks) {
    if (ipi.message_store_tick >= 0 && ipi.ordered_tick >= 0) p.message_store_ticks = ipi.ordered_tick - ipi.message_store_tick;
    if (ownInterrupt) {
      p.target_ticks = ipi.handled_tick - ipi.raise_tick;
      if (ipi.send_tick >= 0) p.in_flight_ticks = ipi.raise_tick - ipi.send_tick;
    } else {
      // Found by a demux run for some other interrupt: the rest of the time is the target's.
      p.target_ticks = ipi.handled_tick - (ipi.send_tick >= 0 ? ipi.send_tick : ipi.sent_tick);
    }
  } else if (ipi.ordered_tick >= 0) {
    // The latency is on the target's clock, from the message's ordering at its home: the part
    // before the interrupt (the sender's barriers and the hop) and the part after it.
    if (ownInterrupt && ipi.raise_tick >= ipi.ordered_tick) {
      p.until_interrupt_ticks = ipi.raise_tick - ipi.ordered_tick;
      p.target_ticks = ipi.handled_tick - ipi.raise_tick;
    } else {
      p.target_ticks = ipi.handled_tick - ipi.ordered_tick;
    }
  }
  const candidates = perCoreClocks
    ? ([['before-interrupt', p.until_interrupt_ticks], ['target', p.target_ticks]] as const)
    : ([['sender', p.sender_ticks], ['in-flight', p.in_flight_ticks], ['target', p.target_ticks]] as const);
  let best = -1;
  for (const [where, v] of candidates) {
    if (v !== undefined && v > best) {
      best = v;
      p.where = where;
    }
  }
  return p;
}
