/**
 * `sim`: the whole machine in one process, on virtual time. Every core is stepped in lock-step
 * ticks; messages between cores travel on a simulated bus with seeded per-message delays (FIFO per
 * link, like one NATS publisher per subject). Same seed, same run, byte for byte.
 *
 * Time that nothing happens in is skipped: when no core has work, the clock jumps to the next
 * message delivery or timer.
 */
import { assert, MinHeap, Random } from '../stdx/index.js';
import { Core } from '../machine/index.js';
import type { CoreMsg, LocationTable, MachineObserver, MemoryPolicy, ThreadSoftware, Topology } from '../machine/index.js';
import type { Transport } from '../bus/bus.js';

/** Per-message delay of the simulated bus, in ticks. */
export interface BusPolicy {
  /** Minimum one-way delay (ticks, >= 1). */
  delayTicksMin: number;
  /** Mean of the extra, exponentially distributed delay (ticks). */
  delayTicksMean: number;
  /** Extra delay for links that cross sockets (ticks). */
  crossSocketTicks: number;
}

export const DEFAULT_BUS_POLICY: BusPolicy = { delayTicksMin: 2, delayTicksMean: 10, crossSocketTicks: 6 };

interface InFlight {
  src: number;
  dst: number;
  msg: CoreMsg;
}

/** One bus record: message `msg` from `src` taken by `dst` at its tick `tick`. */
export interface InboxRecord {
  tick: number;
  src: number;
  dst: number;
  msg: CoreMsg;
}

/**
 * The bus's timetable: messages bucketed by their (integer) delivery tick, first-in first-out
 * within a tick, and a heap of the ticks that have a bucket. That is the order a (tick, sequence)
 * heap of messages would give, at O(1) per message instead of O(log n).
 */
class Timetable {
  private readonly buckets = new Map<number, InFlight[]>();
  private readonly ticks = new MinHeap<number>();
  private spare: InFlight[][] = [];
  size = 0;

  push(at: number, m: InFlight): void {
    let b = this.buckets.get(at);
    if (b === undefined) {
      b = this.spare.pop() ?? [];
      this.buckets.set(at, b);
      this.ticks.push(at, at);
    }
    b.push(m);
    this.size++;
  }

  peekKey(): number {
    return this.ticks.peekKey();
  }

  /** Delivers every message due at or before `tick`, oldest tick first. A message sent while
   * delivering is due later than `tick` (the bus never delivers in the same tick), so it waits. */
  drain(tick: number, deliver: (m: InFlight) => void): void {
    while (this.ticks.size > 0 && this.ticks.peekKey() <= tick) {
      const at = this.ticks.pop() as number;
      const b = this.buckets.get(at) as InFlight[];
      this.buckets.delete(at);
      this.size -= b.length;
      for (let i = 0; i < b.length; i++) deliver(b[i] as InFlight);
      b.length = 0;
      if (this.spare.length < 64) this.spare.push(b);
    }
  }
}

export class SimBus implements Transport {
  private readonly timetable = new Timetable();
  protected readonly lastDeliver: Float64Array;
  protected readonly rng: Random;
  now = 0;
  sent = 0;

  constructor(
    protected readonly ncores: number,
    protected readonly coresPerSocket: number,
    seed: number | string,
    protected readonly policy: BusPolicy,
  ) {
    this.lastDeliver = new Float64Array(ncores * ncores);
    this.rng = new Random(seed, 'simbus');
  }

  send(src: number, dst: number, msg: CoreMsg): void {
    assert(src !== dst, 'bus message to self');
    assert(dst >= 0 && dst < this.ncores, () => `bus message to unknown core ${dst}`);
    const p = this.policy;
    let d = p.delayTicksMin + Math.floor(this.rng.exponential(p.delayTicksMean));
    if (Math.floor(src / this.coresPerSocket) !== Math.floor(dst / this.coresPerSocket)) d += p.crossSocketTicks;
    const link = src * this.ncores + dst;
    const at = Math.max(this.now + Math.max(1, d), this.lastDeliver[link] as number);
    this.lastDeliver[link] = at;
    this.timetable.push(at, { src, dst, msg });
    this.sent++;
  }

  nextTick(): number {
    return this.timetable.peekKey();
  }

  get inFlight(): number {
    return this.timetable.size;
  }

  /** Pops every message due at or before `tick`, in delivery order. */
  takeDue(tick: number, deliver: (m: InFlight) => void): void {
    this.timetable.drain(tick, deliver);
  }
}

export interface WorldOptions {
  topology: Topology;
  locations: LocationTable;
  seed: number | string;
  software: (cpu: number) => ThreadSoftware | null;
  policy?: MemoryPolicy;
  bus?: BusPolicy;
  observer?: MachineObserver | null;
  keepHistory?: boolean;
  startSkewTicksMax?: number;
  /** See CoreOptions.startStaggerTicks. */
  startStaggerTicks?: number;
  /** See CoreOptions.lwsyncOrdering. */
  lwsyncOrdering?: 'global' | 'per-thread';
  /** Called for every message a core takes from the bus (the replay journal). */
  onInbox?: (r: InboxRecord) => void;
  /** Builds the bus instead of the default `SimBus` (e.g. a subclass with extra seeded faults). */
  busFactory?: (ncores: number, coresPerSocket: number, seed: number | string, policy: BusPolicy) => SimBus;
}

export type StopReason = 'finished' | 'quiescent' | 'ticks-max' | 'until';

export class World {
  readonly cores: Core[];
  readonly bus: SimBus;
  tick = 0;
  private readonly onInbox: ((r: InboxRecord) => void) | undefined;

  constructor(opts: WorldOptions) {
    const t = opts.topology;
    const ncores = t.sockets * t.coresPerSocket;
    const busPolicy = opts.bus ?? DEFAULT_BUS_POLICY;
    this.bus = opts.busFactory
      ? opts.busFactory(ncores, t.coresPerSocket, opts.seed, busPolicy)
      : new SimBus(ncores, t.coresPerSocket, opts.seed, busPolicy);
    this.onInbox = opts.onInbox;
    opts.locations.freeze();
    this.cores = [];
    for (let id = 0; id < ncores; id++) {
      this.cores.push(
        new Core({
          id,
          topology: t,
          locations: opts.locations,
          seed: opts.seed,
          policy: opts.policy,
          software: opts.software,
          send: (dst, msg) => this.bus.send(id, dst, msg),
          observer: opts.observer ?? null,
          keepHistory: opts.keepHistory,
          startSkewTicksMax: opts.startSkewTicksMax,
          startStaggerTicks: opts.startStaggerTicks,
          lwsyncOrdering: opts.lwsyncOrdering,
        }),
      );
    }
  }

  /**
   * Runs until every thread has finished and the bus and cores are quiet, until `until()` holds
   * (checked between ticks), or until `ticksMax`.
   */
  run(opts: { ticksMax: number; until?: () => boolean; checkEvery?: number }): { reason: StopReason; ticks: number } {
    const cores = this.cores;
    const bus = this.bus;
    const checkEvery = opts.checkEvery ?? 1;
    let sinceCheck = 0;
    // Each core's next event tick, recomputed only for a core that stepped or took a message: those
    // are the only ways its threads, store queues and pending applies change (its software runs in
    // its steps). NaN: not known.
    const n = cores.length;
    const nextAt = new Float64Array(n).fill(NaN);
    const deliver = (m: InFlight): void => {
      const core = cores[m.dst] as Core;
      if (core.tick < this.tick) core.tick = this.tick;
      this.onInbox?.({ tick: this.tick, src: m.src, dst: m.dst, msg: m.msg });
      core.receive(m.src, m.msg);
      nextAt[m.dst] = NaN;
    };
    for (;;) {
      if (this.tick >= opts.ticksMax) return { reason: 'ticks-max', ticks: this.tick };
      bus.now = this.tick;
      bus.takeDue(this.tick, deliver);
      let next = bus.nextTick();
      let anyWork = false;
      for (let i = 0; i < n; i++) {
        let t = nextAt[i] as number;
        if (Number.isNaN(t)) {
          t = (cores[i] as Core).nextEventTick();
          nextAt[i] = t;
        }
        if (t <= this.tick) {
          (cores[i] as Core).step(this.tick);
          nextAt[i] = NaN;
          anyWork = true;
        } else if (t < next) {
          next = t;
        }
      }
      if (opts.until !== undefined && ++sinceCheck >= checkEvery) {
        sinceCheck = 0;
        if (opts.until()) return { reason: 'until', ticks: this.tick };
      }
      if (anyWork) {
        this.tick++;
        continue;
      }
      if (next === Infinity) {
        const finished = cores.every((c) => c.finished);
        return { reason: finished ? 'finished' : 'quiescent', ticks: this.tick };
      }
      this.tick = Math.max(this.tick + 1, next);
    }
  }

  /** The coherence-latest value of a location, read at its home. */
  finalValue(loc: number, locations: LocationTable): number {
    const home = locations.homes[loc] as number;
    return (this.cores[home] as Core).homeValue(loc);
  }
}
