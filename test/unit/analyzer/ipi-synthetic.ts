// Synthetic machine event streams that follow the kernel model's conventions (tp ipi_message_set
// right before the sender's byte store; demux = xchg of the message word; host_ipi set/clear as
// plain stores; the KVM exit check loads host_ipi), for the 2019 interleavings and their kin.
// Machine: 2 cores x 4 threads; CPU 6 sends RESCHEDULE to CPU 2, then CPU 5 sends CALL_FUNCTION.
import type { MachineEvent, MachineObserver } from '../../../services/machine/index.js';

export const TPC = 4;
export const S = 5;
export const T = 2;
export const P = 6;

/** Location names by id: ipi_message[0..7], host_ipi[0..7], cfd[5].csd[2].flags. */
export function locationNames(): string[] {
  const names: string[] = [];
  for (let c = 0; c < 8; c++) names.push(`ipi_message[${c}]`);
  for (let c = 0; c < 8; c++) names.push(`paca[${c}].kvm_hstate.host_ipi`);
  names.push('cfd[5].csd[2].flags');
  return names;
}
export const MSG = (c: number): number => c;
export const HOST = (c: number): number => 8 + c;
export const CSD = 16;
/** ipi_message homes on the CPU's core; host_ipi on core 0 (the node's first core). */
const homeOfMsg = (c: number): number => Math.floor(c / TPC);
const HOST_HOME = 0;

type Dist<E> = E extends MachineEvent ? Omit<E, 'core' | 'clock' | 'tick'> : never;

export class Script {
  readonly events: MachineEvent[] = [];
  private readonly clocks = [0, 0];
  tick = 100;
  private wid = 1;
  private readonly ver = new Map<number, number>();
  private readonly val = new Map<number, number>();

  emit(core: number, e: Dist<MachineEvent>, clockAtLeast = 0): MachineEvent {
    this.clocks[core] = Math.max(this.clocks[core] as number, clockAtLeast) + 1;
    const ev = { ...e, core, clock: this.clocks[core] as number, tick: this.tick } as MachineEvent;
    this.events.push(ev);
    this.tick += 3;
    return ev;
  }

  private coreOf(cpu: number): number {
    return Math.floor(cpu / TPC);
  }

  tp(cpu: number, name: string, attrs: Record<string, number | string | boolean> = {}): void {
    this.emit(this.coreOf(cpu), { e: 'tp', cpu, name, attrs });
  }

  /** A store committed by `cpu`; returns its write id and clock (order it later with `order`). */
  store(
    cpu: number,
    loc: number,
    value: number,
    lane = -1,
  ): { wid: number; clock: number; loc: number; value: number; lane: number; cpu: number } {
    const wid = this.wid++;
    const ev = this.emit(this.coreOf(cpu), { e: 'store', cpu, loc, wid, value, lane });
    return { wid, clock: ev.clock, loc, value, lane, cpu };
  }

  /** The home orders a store: its coherence version. */
  order(w: {
    wid: number;
    clock: number;
    loc: number;
    value: number;
    lane: number;
    cpu: number;
  }): number {
    const home = w.loc < 8 ? homeOfMsg(w.loc) : HOST_HOME;
    const v = (this.ver.get(w.loc) ?? 0) + 1;
    this.ver.set(w.loc, v);
    let word = this.val.get(w.loc) ?? 0;
    if (w.lane < 0) word = w.value;
    else
      word =
        word -
        (Math.floor(word / 2 ** (8 * w.lane)) % 256) * 2 ** (8 * w.lane) +
        w.value * 2 ** (8 * w.lane);
    this.val.set(w.loc, word);
    this.emit(
      home,
      { e: 'version', loc: w.loc, wid: w.wid, version: v, value: word, cpu: w.cpu },
      w.clock,
    );
    return v;
  }

  sync(cpu: number): void {
    this.emit(this.coreOf(cpu), { e: 'barrier', cpu, kind: 'sync', phase: 'begin' });
    this.emit(this.coreOf(cpu), { e: 'barrier', cpu, kind: 'sync', phase: 'end' });
  }

  msgsync(cpu: number): void {
    this.emit(this.coreOf(cpu), { e: 'barrier', cpu, kind: 'msgsync', phase: 'begin' });
  }

  /** xchg(&ipi_message[cpu], 0) by cpu, performed at the home now. */
  demux(cpu: number): number {
    const loc = MSG(cpu);
    const old = this.val.get(loc) ?? 0;
    const oldVersion = this.ver.get(loc) ?? 0;
    const wid = this.wid++;
    const home = homeOfMsg(cpu);
    this.ver.set(loc, oldVersion + 1);
    this.val.set(loc, 0);
    const h = this.emit(home, { e: 'version', loc, wid, version: oldVersion + 1, value: 0, cpu });
    this.emit(
      this.coreOf(cpu),
      { e: 'rmw', cpu, loc, op: 'xchg', old, oldVersion, value: 0, version: oldVersion + 1, wid },
      h.clock,
    );
    return old;
  }

  loadHostIpi(cpu: number): void {
    const loc = HOST(cpu);
    this.emit(this.coreOf(cpu), {
      e: 'load',
      cpu,
      loc,
      value: this.val.get(loc) ?? 0,
      version: this.ver.get(loc) ?? 0,
      own: false,
    });
  }

  send(cpu: number, target: number, id: number): number {
    return this.emit(this.coreOf(cpu), { e: 'ipi_send', cpu, via: 'msgsnd', target, id }).clock;
  }

  raise(cpu: number, id: number, after: number): void {
    this.emit(this.coreOf(cpu), { e: 'irq_raise', cpu, source: 'hdbell', id }, after);
  }

  take(cpu: number): void {
    this.emit(this.coreOf(cpu), { e: 'irq_take', cpu, source: 'hdbell' });
  }

  ret(cpu: number): void {
    this.emit(this.coreOf(cpu), { e: 'irq_return', cpu, source: 'hdbell' });
  }

  csdPoll(cpu: number, locked: boolean): void {
    this.emit(this.coreOf(cpu), {
      e: 'load',
      cpu,
      loc: CSD,
      value: locked ? 1 : 0,
      version: 1,
      own: false,
    });
  }

  play(o: MachineObserver): void {
    for (const ev of this.events) o.event(ev);
  }
}

export type Variant = 'message-store-deferred' | 'clear-deferred' | 'clean' | 'transport-lost';

/**
 * The seed's interleavings. `message-store-deferred`: CPU 5's message store reaches its home
 * after its host_ipi set, which CPU 2's clear overwrites; CPU 2's demux misses the message; the
 * doorbell finds host_ipi == 0. `clear-deferred`: CPU 2's clear is ordered after CPU 5's set and
 * its unfenced demux read went first. `clean`: the v5.4 order. `transport-lost`: the doorbell of
 * CPU 5 never reaches CPU 2 (a fault plan dropped it) and nothing else drains the message.
 */
export function script(variant: Variant): Script {
  const s = new Script();
  // CPU 6 -> CPU 2 RESCHEDULE (handled in every variant).
  s.tp(P, 'ipi_message_set', { ipi_id: `${P}:1`, target: T, msg: 1 });
  s.order(s.store(P, MSG(T), 1, 1));
  s.sync(P);
  s.order(s.store(P, HOST(T), 1));
  s.sync(P);
  const sentP = s.send(P, T, 1);
  s.raise(T, 1, sentP);
  s.take(T);
  s.tp(T, 'doorbell_entry', { cpu: T });
  s.msgsync(T);
  if (variant === 'transport-lost') {
    s.order(s.store(T, HOST(T), 0));
    s.sync(T);
    s.demux(T);
    s.tp(T, 'ipi_message_handle', { msg: 1 });
    s.tp(T, 'doorbell_exit', { cpu: T });
    s.ret(T);
    s.tp(S, 'ipi_message_set', { ipi_id: `${S}:1`, target: T, msg: 0 });
    s.order(s.store(S, MSG(T), 1, 0));
    s.sync(S);
    s.order(s.store(S, HOST(T), 1));
    s.sync(S);
    s.send(S, T, 1);
    // No irq_raise at CPU 2: the doorbell was dropped in transport.
  } else if (variant === 'clear-deferred') {
    const clear = s.store(T, HOST(T), 0);
    s.demux(T); // unfenced (ablation): runs before the clear is ordered
    s.tp(T, 'ipi_message_handle', { msg: 1 });
    s.tp(T, 'doorbell_exit', { cpu: T });
    s.ret(T);
    s.tp(S, 'ipi_message_set', { ipi_id: `${S}:1`, target: T, msg: 0 });
    s.order(s.store(S, MSG(T), 1, 0));
    s.sync(S);
    s.order(s.store(S, HOST(T), 1));
    s.order(clear); // CPU 2's clear lands after CPU 5's set
    s.sync(S);
    const sent = s.send(S, T, 1);
    s.raise(T, 1, sent);
    s.take(T);
    s.msgsync(T);
    s.loadHostIpi(T);
    s.ret(T);
  } else {
    s.tp(S, 'ipi_message_set', { ipi_id: `${S}:1`, target: T, msg: 0 });
    const m = s.store(S, MSG(T), 1, 0);
    if (variant === 'clean') {
      s.order(m);
      s.sync(S);
    }
    const set = s.store(S, HOST(T), 1);
    s.order(set);
    s.order(s.store(T, HOST(T), 0));
    s.sync(T);
    s.demux(T);
    if (variant === 'clean') s.tp(T, 'ipi_message_handle', { msg: 0 });
    s.tp(T, 'ipi_message_handle', { msg: 1 });
    s.tp(T, 'doorbell_exit', { cpu: T });
    s.ret(T);
    if (variant !== 'clean') s.order(m); // the deferred message store completes
    s.sync(S);
    const sent = s.send(S, T, 1);
    s.raise(T, 1, sent);
    s.take(T);
    s.msgsync(T);
    s.loadHostIpi(T);
    s.ret(T);
  }
  // CPU 5 waits for its cross-call.
  s.csdPoll(S, true);
  for (let i = 0; i < 5; i++) s.csdPoll(S, variant === 'clean' && i === 4 ? false : true);
  s.tick += 50_000;
  return s;
}
