/**
 * The machine's one event stream. Everything observable about a run flows through a
 * `MachineObserver`: the console, tracing and the analyzer subscribe here, and the machine needs
 * no change for a new subscriber. With no observer attached, emitting costs one null check.
 *
 * Every event carries the emitting core, its logical (Lamport) clock and its tick. `cpu` is the
 * Linux CPU number of the hardware thread concerned.
 */
export type MachineEvent =
  /** A store committed by a thread (not yet ordered in coherence). */
  | { e: 'store'; core: number; cpu: number; clock: number; tick: number; loc: number; wid: number; value: number; lane: number }
  /** The home ordered a write: its coherence version and the merged word value. */
  | { e: 'version'; core: number; clock: number; tick: number; loc: number; wid: number; version: number; value: number; cpu: number }
  /** A write became visible to a thread (its view of the location reached this version). */
  | { e: 'visible'; core: number; cpu: number; clock: number; tick: number; loc: number; wid: number; version: number }
  | { e: 'load'; core: number; cpu: number; clock: number; tick: number; loc: number; value: number; version: number; own: boolean }
  /** An atomic answered by the home: the value and version it read, and the version it wrote
   * (-1 when it wrote nothing, e.g. a failed stwcx. or cmpxchg). */
  | { e: 'rmw'; core: number; cpu: number; clock: number; tick: number; loc: number; op: string; old: number; oldVersion: number; value: number; version: number; wid: number }
  | { e: 'barrier'; core: number; cpu: number; clock: number; tick: number; kind: string; phase: 'begin' | 'end' }
  /** A doorbell or MFRR write leaving a thread. `id` is the sender's id for the request. */
  | { e: 'ipi_send'; core: number; cpu: number; clock: number; tick: number; via: 'msgsnd' | 'msgsndp' | 'mfrr'; target: number; id: number }
  /** An interrupt became pending at a thread (doorbell latched, ICP presenting, timer). */
  | { e: 'irq_raise'; core: number; cpu: number; clock: number; tick: number; source: string; id: number }
  | { e: 'irq_take'; core: number; cpu: number; clock: number; tick: number; source: string }
  | { e: 'irq_return'; core: number; cpu: number; clock: number; tick: number; source: string }
  | { e: 'doorbell_clear'; core: number; cpu: number; clock: number; tick: number; kind: 'msgclr' | 'msgclrp' | 'taken'; wasPending: boolean }
  | { e: 'nap'; core: number; cpu: number; clock: number; tick: number }
  | { e: 'wake'; core: number; cpu: number; clock: number; tick: number; srr1: number }
  | { e: 'tp'; core: number; cpu: number; clock: number; tick: number; name: string; attrs: Record<string, number | string | boolean> }
  | { e: 'thread_end'; core: number; cpu: number; clock: number; tick: number };

export type MachineEventKind = MachineEvent['e'];

export interface MachineObserver {
  event(ev: MachineEvent): void;
  /** Event kinds this observer never looks at: the machine does not even build them (the
   * per-thread `visible` events are most of the stream). */
  readonly ignores?: readonly MachineEventKind[];
}

/** Fans one stream out to several observers. */
export class ObserverSet implements MachineObserver {
  readonly ignores: readonly MachineEventKind[];
  constructor(private readonly observers: MachineObserver[]) {
    const all = new Set<MachineEventKind>(observers[0]?.ignores ?? []);
    for (const o of observers) for (const k of [...all]) if (!(o.ignores ?? []).includes(k)) all.delete(k);
    this.ignores = [...all];
  }
  event(ev: MachineEvent): void {
    for (const o of this.observers) o.event(ev);
  }
}
