/**
 * Explains an ignored IPI the way the 2019 commit message does, from spans alone: which store was
 * not yet visible to whom, which write of host_ipi overwrote which (coherence versions), which
 * doorbell was dropped at the KVM exit check because host_ipi read 0, which CPUs hang and where;
 * and draws the interleaving as per-CPU lines in a causal order.
 *
 * The diagram's order is a topological order of: each CPU's program order (Lamport clocks of one
 * CPU), "read before the write was ordered" (a demux xchg that read an older version precedes the
 * completion of the store it missed), "overwrote" (a host_ipi write precedes the write ordered
 * after it) and "sent before taken" (msgsnd precedes the target's check). Ties go to the smaller
 * Lamport clock. Wall-clock timestamps are never consulted.
 */
import { ATTR, msgName, SPAN } from '../tracing/index.js';
import type { AttrValue, SpanRecord } from './otlp-decode.js';
import type { IpiRecord, Judged, SpanMachineEvent } from './ipi-judge.js';
import { laneOf } from '../machine/locations.js';

function num(v: AttrValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

interface StoreFact {
  cpu: number;
  value: number;
  version: number;
  storeClock: number;
  orderedClock: number;
  /** Tick at which the home ordered it (-1: never). */
  orderedTick: number;
  traceId: string;
  spanId: string;
}

interface Line {
  cpu: number;
  text: string;
  clock: number;
  /** Not part of its CPU's program order (a store completing at its home). */
  detached?: boolean;
  after: Line[];
  note?: string;
  marker?: 'start' | 'end';
}

/** What the analyzer found about one ignored IPI. */
export interface Explanation {
  cause: string;
  diagram: string;
  /** `message-store-deferred` (the seed's first interleaving), `clear-deferred` (its second),
   * `transport-lost`, or `not-consumed`. */
  kind: 'message-store-deferred' | 'clear-deferred' | 'transport-lost' | 'not-consumed';
  hung: Array<{ cpu: number; where: string; waiting_for: number; trace_id: string }>;
}

/** Per-run indexes the explanations share. */
export class Explainer {
  private readonly hostIpiStores = new Map<number, StoreFact[]>();
  private readonly byTrace = new Map<string, SpanRecord[]>();
  private readonly eventsByCpu = new Map<number, SpanMachineEvent[]>();
  private readonly hung: Array<{
    cpu: number;
    where: string;
    waiting_for: number;
    trace_id: string;
    ipi?: string;
  }> = [];

  /** Ticks of different cores are one time line (sim: every run span says whole_machine). */
  private readonly globalTicks: boolean;

  constructor(private readonly j: Judged) {
    const runs = j.spans.filter((s) => s.name === 'ipiscope.run');
    this.globalTicks =
      runs.length > 0 && runs.every((s) => s.attributes['emu.run.whole_machine'] === true);
    for (const s of j.spans) {
      let l = this.byTrace.get(s.traceId);
      if (l === undefined) this.byTrace.set(s.traceId, (l = []));
      l.push(s);
      // A wait that began less than the settle time before the end is a call in flight, not a
      // hang (the rule for ignored IPIs); after a drain (settle 0) every open wait is one.
      if (s.name === 'csd_lock_wait' && s.attributes[ATTR.waitOutcome] === 'hung' && j.tickEnd - (num(s.events[0]?.attributes[ATTR.tick]) ?? -Infinity) >= j.settleTicks) {
        const w = {
          cpu: num(s.attributes[ATTR.cpu]) ?? -1,
          where: 'csd_lock_wait',
          waiting_for: num(s.attributes[ATTR.waitFor]) ?? -1,
          trace_id: s.traceId,
        };
        const ipi = s.attributes[ATTR.ipiId];
        this.hung.push(typeof ipi === 'string' ? { ...w, ipi } : w);
      }
    }
    // Every write of each host_ipi flag: who, what, its coherence version and where it was ordered.
    const ordered = new Map<number, SpanMachineEvent>();
    for (const r of j.events) if (r.ev.e === 'version') ordered.set(r.ev.wid, r);
    for (const r of j.events) {
      if (r.ev.e !== 'store' || r.locName === undefined) continue;
      const m = /^paca\[(\d+)\]\.kvm_hstate\.host_ipi$/.exec(r.locName);
      if (!m) continue;
      const o = ordered.get(r.ev.wid);
      const f: StoreFact = {
        cpu: r.ev.cpu,
        value: r.ev.value,
        version: o !== undefined && o.ev.e === 'version' ? o.ev.version : -1,
        storeClock: r.ev.clock,
        orderedClock: o?.ev.clock ?? Infinity,
        orderedTick: o?.ev.tick ?? -1,
        traceId: r.traceId,
        spanId: r.spanId,
      };
      const target = Number(m[1]);
      let list = this.hostIpiStores.get(target);
      if (list === undefined) this.hostIpiStores.set(target, (list = []));
      list.push(f);
    }
    for (const r of j.events) {
      if (!('cpu' in r.ev)) continue;
      let l = this.eventsByCpu.get(r.ev.cpu);
      if (l === undefined) this.eventsByCpu.set(r.ev.cpu, (l = []));
      l.push(r);
    }
  }

  /** CPUs spinning in csd_lock_wait at the end of the run. */
  hangs(): Array<{ cpu: number; where: string; waiting_for: number; trace_id: string }> {
    return this.hung.map(({ cpu, where, waiting_for, trace_id }) => ({
      cpu,
      where,
      waiting_for,
      trace_id,
    }));
  }

  explain(ipi: IpiRecord): Explanation {
    const S = ipi.sender_cpu;
    const T = ipi.target_cpu;
    const M = msgName(ipi.msg);
    const trace = this.byTrace.get(ipi.trace_id) ?? [];
    const evT = this.eventsByCpu.get(T) ?? [];
    const evS = this.eventsByCpu.get(S) ?? [];
    const hung = this.hung
      .filter((h) => h.waiting_for === T)
      .map(({ cpu, where, waiting_for, trace_id }) => ({ cpu, where, waiting_for, trace_id }));
    const hangText =
      hung.length === 0
        ? ''
        : ` CPU${hung.length > 1 ? 's' : ''} ${hung.map((h) => h.cpu).join(', ')} hang${hung.length > 1 ? '' : 's'} in csd_lock_wait() waiting for CPU ${T} to process its messages / call_single_queue.`;
    const msgLoc = `ipi_message[${T}]`;
    const hostLoc = `paca[${T}].kvm_hstate.host_ipi`;

    // The sender's own events for this IPI.
    const tp = evS.find(
      (r) =>
        r.ev.e === 'tp' && r.ev.name === 'ipi_message_set' && r.ev.attrs['ipi_id'] === ipi.ipi_id,
    );
    const sendClock = tp?.ev.clock ?? ipi.sent_clock;
    const sendEvents = evS.filter((r) => r.traceId === ipi.trace_id && r.ev.clock >= sendClock);
    const msgStore = sendEvents.find((r) => r.ev.e === 'store' && r.locName === msgLoc);
    const msgOrdered = this.j.events.find(
      (r) => r.ev.e === 'version' && r.ev.wid === ipi.message_wid,
    );
    const hostSet = (this.hostIpiStores.get(T) ?? []).find(
      (f) => f.traceId === ipi.trace_id && f.value !== 0 && f.cpu === S,
    );
    const send = sendEvents.find((r) => r.ev.e === 'ipi_send');
    const syncAfterSet =
      hostSet !== undefined && send !== undefined
        ? sendEvents.some(
            (r) =>
              r.ev.e === 'barrier' &&
              r.ev.kind === 'sync' &&
              r.ev.clock > hostSet.storeClock &&
              r.ev.clock < send.ev.clock,
          )
        : false;
    const published = trace.some((s) => s.kind === 4);
    const received = trace.some((s) => s.kind === 5);

    // The target's side: the clear that overwrote the set, the demux that missed the message, the check.
    const clear =
      hostSet === undefined
        ? undefined
        : (this.hostIpiStores.get(T) ?? [])
            .filter((f) => f.cpu === T && f.value === 0 && f.version > hostSet.version)
            .sort((a, b) => a.version - b.version)[0];
    const demuxes = evT.filter(
      (r) => r.ev.e === 'rmw' && r.locName === msgLoc && r.ev.oldVersion < ipi.message_version,
    );
    const missed =
      clear !== undefined
        ? (demuxes.find((r) => r.ev.clock > clear.storeClock) ?? demuxes[demuxes.length - 1])
        : demuxes[demuxes.length - 1];
    const check = evT.find(
      (r) =>
        r.ev.e === 'load' &&
        r.locName === hostLoc &&
        r.ev.value === 0 &&
        r.ev.clock > (missed?.ev.clock ?? sendClock) &&
        (send === undefined || r.traceId === ipi.trace_id || r.ev.clock > send.ev.clock),
    );
    // The interrupt frame that ran the demux (the rmw is also on the handler spans it created).
    const frameSpan =
      missed === undefined
        ? undefined
        : this.j.spans.find(
            (s) =>
              !s.name.startsWith('ipi_message_handle') &&
              num(s.attributes[ATTR.cpu]) === T &&
              s.events.some(
                (e) =>
                  e.attributes[ATTR.e] === 'rmw' &&
                  num(e.attributes[ATTR.clock]) === missed.ev.clock,
              ),
          );
    const syncBetween =
      clear !== undefined && missed !== undefined
        ? evT.some(
            (r) =>
              r.ev.e === 'barrier' &&
              r.ev.kind === 'sync' &&
              r.ev.clock > clear.storeClock &&
              r.ev.clock < missed.ev.clock,
          )
        : false;
    const frameFrom = frameSpan !== undefined ? this.senderOfTrace(frameSpan.traceId) : undefined;

    let kind: Explanation['kind'] = 'not-consumed';
    const parts: string[] = [];
    const old = missed !== undefined && missed.ev.e === 'rmw' ? missed.ev : undefined;
    parts.push(
      `IPI ${ipi.ipi_id} (${M}, CPU ${S} -> CPU ${T}) was ignored: message[${M}] stays set in ${msgLoc} ` +
        `(write ${ipi.message_wid}, coherence version ${ipi.message_version}) and CPU ${T} never handled it.`,
    );
    if (published && !received && check === undefined) {
      kind = 'transport-lost';
      parts.push(
        `CPU ${S}'s doorbell to CPU ${T} (${ipi.via ?? 'msgsnd'}) was published on the bus but never received by CPU ${T}'s core: lost in transport (a fault-plan drop or a lost message), so nothing made CPU ${T} look at its messages.`,
      );
    } else if (hostSet !== undefined && clear !== undefined && old !== undefined) {
      // Which of the sender's two stores reached its home first? With a full barrier between the
      // target's clear and its xchg it is proven: set -> clear (coherence) -> sync -> xchg, which
      // read before the message (coherence). Otherwise compare where the homes ordered them: by
      // tick when the ticks are one time line (sim), else by Lamport clock (consistent with it).
      const setFirst =
        syncBetween ||
        (msgOrdered !== undefined &&
          (this.globalTicks
            ? hostSet.orderedTick >= 0 && hostSet.orderedTick < msgOrdered.ev.tick
            : hostSet.orderedClock < msgOrdered.ev.clock));
      kind = setFirst ? 'message-store-deferred' : 'clear-deferred';
      parts.push(
        `CPU ${S} stored message[${M}] = 1 and then set host_ipi (${hostLoc} version ${hostSet.version}); ` +
          `CPU ${T}, handling an earlier IPI${frameFrom !== undefined ? ` from CPU ${frameFrom}` : ''}, cleared host_ipi with a write ordered after it (version ${clear.version}: CPU ${T}'s clear overwrote CPU ${S}'s set), ` +
          `and its demux xchg read ${msgLoc} at version ${old.oldVersion} (${foundOf(old.old)}), before version ${ipi.message_version}: CPU ${S}'s message store was not yet visible to CPU ${T}.`,
      );
      parts.push(
        kind === 'message-store-deferred'
          ? `${syncBetween ? `CPU ${T} had a full barrier between its clear and its xchg, so the reordering is on CPU ${S}'s side: its` : `CPU ${S}'s host_ipi store was ordered at its home before its message store was: the reordering is on CPU ${S}'s side (and CPU ${T}'s read was not fenced after its clear either); the`} message store reached its home after its later host_ipi store (nothing orders the two: kvmppc_set_host_ipi() needs an smp_mb() before the store, 3a83f677a6ee).`
          : `Nothing ordered CPU ${T}'s clear before its read of the messages (no sync between them): the clear was deferred past CPU ${S}'s set while the read went ahead (kvmppc_clear_host_ipi() needs an smp_mb() after the store, 3a83f677a6ee).`,
      );
    } else if (old !== undefined) {
      parts.push(
        `CPU ${T}'s last demux xchg read ${msgLoc} at version ${old.oldVersion} (${foundOf(old.old)}), before the message was ordered (version ${ipi.message_version}), and no later demux ran.`,
      );
    } else {
      parts.push(`No demux by CPU ${T} read ${msgLoc} at version ${ipi.message_version} or later.`);
    }
    if (check !== undefined && check.ev.e === 'load') {
      parts.push(
        ipi.via === 'mfrr'
          ? `CPU ${S}'s XICS IPI (its MFRR store${syncAfterSet ? ', after the sync of icp_native_set_qirr' : ''}) was then presented to CPU ${T} in its guest; kvmppc_read_one_intr ` +
              `reset the MFRR, EOI'd it and read host_ipi == 0 (version ${check.ev.version}): the IPI was taken as a guest wake-up and CPU ${T} returned to the guest with the message pending.`
          : `CPU ${S}'s doorbell${syncAfterSet ? ' (sent after ppc_msgsnd_sync)' : ''} was then taken by CPU ${T} in its guest, and the KVM exit check read host_ipi == 0 ` +
              `(version ${check.ev.version}): the doorbell was dropped as a guest wake-up and CPU ${T} returned to the guest with the message pending.`,
      );
    }
    const cause = parts.join(' ') + hangText;
    const diagram = this.draw({
      ipi,
      M,
      tp,
      msgStore,
      msgOrdered,
      hostSet,
      send,
      clear,
      missed,
      check,
      frameSpan,
      frameFrom,
      syncAfterSet,
      syncBetween,
      kind,
      hung: hung.map((h) => h.cpu),
    });
    return { cause, diagram, kind, hung };
  }

  private senderOfTrace(traceId: string): number | undefined {
    const root = (this.byTrace.get(traceId) ?? []).find(
      (s) => s.attributes[ATTR.ipiSender] !== undefined,
    );
    return root === undefined ? undefined : num(root.attributes[ATTR.ipiSender]);
  }

  private draw(f: {
    ipi: IpiRecord;
    M: string;
    tp: SpanMachineEvent | undefined;
    msgStore: SpanMachineEvent | undefined;
    msgOrdered: SpanMachineEvent | undefined;
    hostSet: StoreFact | undefined;
    send: SpanMachineEvent | undefined;
    clear: StoreFact | undefined;
    missed: SpanMachineEvent | undefined;
    check: SpanMachineEvent | undefined;
    frameSpan: SpanRecord | undefined;
    frameFrom: number | undefined;
    syncAfterSet: boolean;
    syncBetween: boolean;
    kind: Explanation['kind'];
    hung: number[];
  }): string {
    const S = f.ipi.sender_cpu;
    const T = f.ipi.target_cpu;
    const lines: Line[] = [];
    const add = (cpu: number, text: string, clock: number, extra: Partial<Line> = {}): Line => {
      const l: Line = { cpu, text, clock, after: [], ...extra };
      lines.push(l);
      return l;
    };
    // Target: the earlier doorbell it was handling.
    let frameStart: Line | undefined;
    if (f.frameSpan !== undefined && f.missed !== undefined) {
      const first =
        num(f.frameSpan.attributes[ATTR.clock]) ??
        num(f.frameSpan.events[0]?.attributes[ATTR.clock]) ??
        f.missed.ev.clock - 3;
      frameStart = add(
        T,
        `${f.frameSpan.name === SPAN.xicsAction ? 'icp_native_ipi_action()' : 'doorbell_exception()'}:${f.frameFrom !== undefined ? ` // from CPU ${f.frameFrom}` : ''}`,
        first,
      );
      const ms = f.frameSpan.events.find((e) => e.attributes[ATTR.kind] === 'msgsync');
      if (ms !== undefined) add(T, '  ppc_msgsync()', num(ms.attributes[ATTR.clock]) ?? first + 1);
    }
    const setMsg = add(
      S,
      'smp_muxed_ipi_set_message():',
      (f.tp?.ev.clock ?? f.ipi.sent_clock) - 0.5,
    );
    void setMsg;
    const storeLine = add(S, `  message[${f.M}] = 1`, f.msgStore?.ev.clock ?? f.ipi.sent_clock);
    let setLine: Line | undefined;
    if (f.hostSet !== undefined) {
      add(
        S,
        f.ipi.via === 'mfrr' ? `icp_native_cause_ipi(${T}):` : `doorbell_global_ipi(${T}):`,
        f.hostSet.storeClock - 0.5,
      );
      setLine = add(S, `  kvmppc_set_host_ipi(${T}, 1)`, f.hostSet.storeClock, {
        note: `v${f.hostSet.version}`,
      });
    }
    const syncLine = f.syncAfterSet
      ? add(S, f.ipi.via === 'mfrr' ? '  sync   // icp_native_set_qirr()' : '  ppc_msgsnd_sync()/smp_mb()', (f.hostSet?.storeClock ?? 0) + 0.5)
      : undefined;
    const sendLine =
      f.send !== undefined
        ? add(
            S,
            `  ${f.ipi.via === 'mfrr' ? 'icp_native_set_qirr()' : 'ppc_msgsnd()'} -> ${T}`,
            f.send.ev.clock,
          )
        : undefined;
    let clearLine: Line | undefined;
    let missedLine: Line | undefined;
    if (f.clear !== undefined) {
      clearLine = add(T, `  kvmppc_set_host_ipi(${T}, 0)`, f.clear.storeClock, {
        note: `v${f.clear.version}`,
      });
      if (setLine !== undefined && f.kind !== 'clear-deferred') clearLine.after.push(setLine);
    }
    if (f.missed !== undefined && f.missed.ev.e === 'rmw') {
      missedLine = add(T, 'smp_ipi_demux_relaxed()', f.missed.ev.clock, {
        note: `xchg read v${f.missed.ev.oldVersion}: ${foundOf(f.missed.ev.old)}`,
      });
      add(
        T,
        f.check !== undefined ? '// returns to executing guest' : '// returns from the interrupt',
        f.missed.ev.clock + 0.5,
      );
    }
    if (frameStart !== undefined && clearLine !== undefined) clearLine.after.push(frameStart);
    // The deferred store, at its program point and where it completes.
    let done: Line | undefined;
    if (
      f.kind === 'message-store-deferred' ||
      (f.kind === 'not-consumed' && missedLine !== undefined)
    ) {
      storeLine.marker = 'start';
      done = add(S, `  message[${f.M}] = 1`, f.msgOrdered?.ev.clock ?? Infinity, {
        detached: true,
        marker: 'end',
        note: `v${f.ipi.message_version}`,
      });
      if (missedLine !== undefined) done.after.push(missedLine);
      if (setLine !== undefined) done.after.push(setLine);
      // The sender's sync waits for its earlier stores: the message store completes before it.
      if (syncLine !== undefined) syncLine.after.push(done);
      if (sendLine !== undefined) sendLine.after.push(done);
    } else if (f.kind === 'clear-deferred' && clearLine !== undefined && f.clear !== undefined) {
      clearLine.marker = 'start';
      done = add(T, `  kvmppc_set_host_ipi(${T}, 0)`, f.clear.orderedClock, {
        detached: true,
        marker: 'end',
        note: `v${f.clear.version}`,
      });
      if (setLine !== undefined) done.after.push(setLine);
      if (missedLine !== undefined) done.after.push(missedLine);
    }
    if (f.check !== undefined) {
      const c = add(T, `local_paca->kvm_hstate.host_ipi == 0 // IPI ignored`, f.check.ev.clock);
      if (sendLine !== undefined) c.after.push(sendLine);
      if (missedLine !== undefined) c.after.push(missedLine);
      if (done !== undefined && f.kind === 'clear-deferred') c.after.push(done);
    }
    const last = lines.reduce((m, l) => Math.max(m, Number.isFinite(l.clock) ? l.clock : 0), 0);
    for (const h of f.hung.length > 0 ? f.hung : []) {
      const l = add(
        h,
        `// hangs waiting on ${T} to process messages/call_single_queue`,
        last + 1 + h / 1e6,
      );
      for (const x of lines) if (x !== l && x.cpu !== h) l.after.push(x);
    }
    return render(order(lines));
  }
}

function foundOf(word: number): string {
  const found: string[] = [];
  for (let m = 0; m < 6; m++)
    if (laneOf(word, m) !== 0) found.push(msgName(m));
  return found.length === 0 ? 'no message' : found.join(', ');
}

/** Kahn's algorithm: program order per CPU plus the explicit edges; ties by Lamport clock. */
function order(lines: Line[]): Line[] {
  const byCpu = new Map<number, Line[]>();
  for (const l of lines) {
    if (l.detached === true) continue;
    let a = byCpu.get(l.cpu);
    if (a === undefined) byCpu.set(l.cpu, (a = []));
    a.push(l);
  }
  for (const a of byCpu.values()) {
    a.sort((x, y) => x.clock - y.clock);
    for (let i = 1; i < a.length; i++) (a[i] as Line).after.push(a[i - 1] as Line);
  }
  const out: Line[] = [];
  const done = new Set<Line>();
  while (out.length < lines.length) {
    let best: Line | undefined;
    for (const l of lines) {
      if (done.has(l) || !l.after.every((p) => done.has(p))) continue;
      if (best === undefined || l.clock < best.clock) best = l;
    }
    // A cycle can only come from inconsistent input: fall back to clock order for the rest.
    if (best === undefined)
      best = lines.filter((l) => !done.has(l)).sort((x, y) => x.clock - y.clock)[0] as Line;
    done.add(best);
    out.push(best);
  }
  return out;
}

function render(lines: Line[]): string {
  const w = Math.max(3, ...lines.map((l) => String(l.cpu).length));
  const out = [`${' '.repeat(w + 1)}CPU`];
  const start = lines.findIndex((l) => l.marker === 'start');
  const end = lines.findIndex((l) => l.marker === 'end');
  lines.forEach((l, i) => {
    let prefix = '  ';
    if (i === start && end > start) {
      out.push(`${' '.repeat(w + 6)}// STORE DEFERRED DUE TO RE-ORDERING`);
      prefix = '--';
    } else if (i === end && start >= 0 && end > start) {
      out.push(`  |${' '.repeat(w + 3)}// RE-ORDERED STORE COMPLETES`);
      prefix = '->';
    } else if (start >= 0 && i > start && i < end) {
      prefix = '| ';
    }
    const note = l.note !== undefined ? `   // ${l.note}` : '';
    out.push(`  ${prefix}${String(l.cpu).padStart(w)}: ${l.text}${note}`);
  });
  return out.join('\n');
}

/** Attaches cause and diagram to every ignored IPI of `j`. */
export function explainIgnored(j: Judged): Explainer {
  const ex = new Explainer(j);
  for (const ipi of j.ignored) {
    const e = ex.explain(ipi);
    ipi.cause = e.cause;
    ipi.cause_kind = e.kind;
    ipi.diagram = e.diagram;
  }
  return ex;
}
