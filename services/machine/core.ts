/**
 * One physical core: its SMT threads, the home of the locations it owns, its threads' views of
 * memory, and the interrupt presentation (doorbell latches, XICS ICP) of its threads.
 *
 * A core is a deterministic state machine. Its inputs are `receive(src, msg)` (everything from
 * other cores) and `step(tick)`; its only source of randomness is its own seeded stream. Given
 * the same seed and the same inputs at the same steps, it does the same thing again.
 *
 * ## The memory contract (DESIGN.md §3), and how this core keeps it
 * - Coherence: a location's home numbers its writes (versions) in arrival order; a thread's view
 *   of a location only moves forward in that order; a thread reads its own latest store until the
 *   home has ordered it (store forwarding). Stores of one thread to one location travel in order.
 * - Non-multi-copy atomicity: the home announces each write to every core; each core makes it
 *   visible to each of its threads after an independent, seeded delay.
 * - Stores of one thread to different locations may reach their homes out of program order
 *   (a seeded store delay); stores to one location never pass each other.
 * - lwsync / eieio (cumulative), a fence in the thread's store queue; loads are not held. Two
 *   orderings (`lwsyncOrdering`):
 *   - global (the kernel model): the later stores are held until the thread's earlier stores and
 *     every write it has seen are visible to every thread. Stronger than POWER's lwsync (it also
 *     gives B-cumulativity for free); gives up outcomes such as R+lwsync+sync;
 *   - per-thread (litmus tests): the later stores wait only until the earlier ones are ordered at
 *     their homes, then carry that group as prerequisites: a thread takes them in before it sees
 *     such a store, and its own stores that are ordered after its read of that store (a barrier,
 *     or a dependency the software names with `carryMark`) carry them too (B-cumulativity, along
 *     ppc.cat's hb*). An eieio's group is the thread's own earlier stores only.
 * - sync: the thread waits until its stores are ordered, then until every core has taken in
 *   everything the thread has seen (its cumulative view); nothing after it runs before that.
 * - Atomics (lwarx/stwcx., xchg, cmpxchg) succeed at the home against the latest write.
 * - Loads run in program order unless the software allows one to be satisfied early
 *   (`floorTick`), from the thread's view as it was at some tick no earlier than the floor.
 *
 * Invariants are asserted densely; a tripped assertion is a bug in ipiscope, not in the model.
 */
import { assert, assertNever, Random, MinHeap } from '../stdx/index.js';
import type { CoreMsg, FetchResp, RmwReq, WriteProp, WriteReq, RmwResp, SyncReq } from './msgs.js';
import type { MachineObserver } from './events.js';
import type { IrqSource, Op, Program, ThreadSoftware } from './ops.js';
import { SRR1_WAKE, WAKE_ON } from './ops.js';
import { LANES_MAX, LocationTable, laneOf, mergeLane } from './locations.js';
import type { Topology } from './topology-types.js';

/** The seeded propagation policy: how relaxed the memory is, and how often. */
export interface MemoryPolicy {
  /** Probability that a write is made visible to a thread of a receiving core at once. */
  applyImmediateProb: number;
  /** Upper bound of the extra delay (ticks) before a write becomes visible to a thread. */
  applyDelayTicksMax: number;
  /** Probability of a long delay instead (a slow cache line: the heavy tail of propagation). */
  applyTailProb: number;
  /** Upper bound of a long delay (ticks). */
  applyTailTicksMax: number;
  /** Probability that a thread stalls before an op (pipeline and cache-miss variability). */
  stallProb: number;
  stallTicksMax: number;
  /** Probability that a store is held back on its way home (stores to different locations then
   * reach their homes out of program order). */
  storeDelayProb: number;
  storeDelayTicksMax: number;
  /** Probability that a load the software allows to be satisfied early is (reader-side reordering). */
  earlyLoadProb: number;
  /** How far back (ticks) an early load may be satisfied. */
  earlyLoadTicksMax: number;
  /** Probability that an early load reads the oldest view it may (else a tick drawn uniformly
   * between that and now). Absent or 0: always drawn. */
  earlyLoadOldestProb?: number;
  /**
   * A core drops its copy of a directory-tracked location when a write to it arrives and none of
   * its threads has read it for this many ticks (a line that went cold; the home stops sending it
   * writes and syncs, and the next read fetches again). 0 keeps every copy for ever.
   */
  evictIdleTicks: number;
}

export const DEFAULT_POLICY: MemoryPolicy = {
  applyImmediateProb: 0.25,
  applyDelayTicksMax: 24,
  applyTailProb: 0.02,
  applyTailTicksMax: 400,
  stallProb: 0.15,
  stallTicksMax: 6,
  storeDelayProb: 0.1,
  storeDelayTicksMax: 16,
  earlyLoadProb: 0.2,
  earlyLoadTicksMax: 16,
  evictIdleTicks: 1000,
};

export interface CoreOptions {
  id: number;
  topology: Topology;
  locations: LocationTable;
  seed: number | string;
  policy?: MemoryPolicy;
  /** Software per Linux CPU of this core; null leaves the thread idle (stopped). */
  software: (cpu: number) => ThreadSoftware | null;
  /** Sends a message to another core. Never called with dst === id. */
  send: (dst: number, msg: CoreMsg) => void;
  observer?: MachineObserver | null;
  /** Keep per-location view history so loads may be satisfied early (litmus). */
  keepHistory?: boolean;
  /** Idle thread start skew: each thread starts after a seeded delay in [0, startSkewTicksMax]. */
  startSkewTicksMax?: number;
  /**
   * Staggered starts (litmus swarm runs): the thread of Linux CPU c starts `c x startStaggerTicks`
   * later, on top of its skew. Litmus tests number their threads in the order their data flows
   * (WRC's writer, then the thread that reads it and writes, then the last reader), so a stagger
   * about a propagation delay long lines the threads up the way their relaxed outcomes need.
   */
  startStaggerTicks?: number;
  /**
   * How lwsync and eieio order a thread's later stores behind what it has seen (group A):
   * - `global` (default): the later stores wait until group A is visible to every thread (a
   *   round of sync messages); stronger than POWER, as the memory contract above says;
   * - `per-thread`: group A only has to be ordered at its homes; then every later store carries it
   *   as prerequisites, which each thread takes in before it sees the store, and which a thread
   *   that read the store passes on with those of its later stores that are ordered after the
   *   read: behind a barrier, or dependent on it (`carryMark`) (cumulativity, as barriers
   *   propagate in POWER's storage subsystem). Outcomes such as R+lwsync+sync and
   *   ISA2+lwsync+po+addr become possible. Used for litmus tests, whose atomics read no values at
   *   the home.
   */
  lwsyncOrdering?: 'global' | 'per-thread';
}

const TS_RUN = 0;
const TS_BLOCKED = 1;
const TS_NAP = 2;
const TS_DONE = 3;

const BK_NONE = 0;
const BK_SYNC_DRAIN = 1;
const BK_SYNC_ACKS = 2;
const BK_RMW = 3;
const BK_LARX_DRAIN = 4;
const BK_FETCH = 5;

/** View changes remembered per location for early loads. */
const HISTORY_MAX = 8;

interface Frame {
  gen: Program;
  /** The value this frame's pending op returns when it resumes. */
  resume: number;
  /** For an interrupt frame: the source, and MSR[EE] to restore on return. */
  source: IrqSource | null;
  eeSaved: boolean;
  /** Ticks of an interrupted `delay` still to spend when this frame resumes. */
  delayLeft: number;
}

interface PendingWrite {
  wid: number;
  loc: number;
  value: number;
  lane: number;
}

/** An entry of a thread's store queue: a store or atomic not yet sent home, or a fence. */
interface Queued {
  kind: 'st' | 'rmw' | 'fence';
  wid: number;
  loc: number;
  value: number;
  lane: number;
  op: RmwReq['op'];
  a: number;
  b: number;
  /** Not sent before this tick (the seeded store delay). */
  readyTick: number;
  /** Store or atomic: the prerequisite pool entries it carries besides the thread's carry (see
   * the `st` op's `carryMark`). */
  mark: number;
  /** Fence: 0 = waiting for earlier stores to be ordered, 1 = propagating (waiting for acks). */
  fenceState: number;
  fenceSid: number;
  acksLeft: number;
  entries: number[];
}

/**
 * Merges prerequisite triples [loc, version, value, ...] (the first `end` numbers of `entries`)
 * into `into`, one triple per location (`at`: where each location's triple is) at the highest
 * version. Returns whether anything changed.
 */
function mergeEntries(into: number[], at: Map<number, number>, entries: number[], end: number): boolean {
  assert(end % 3 === 0 && end <= entries.length, () => `prerequisites merged up to ${end} of ${entries.length} numbers`);
  let changed = false;
  for (let i = 0; i < end; i += 3) {
    const loc = entries[i] as number;
    const ver = entries[i + 1] as number;
    const k = at.get(loc);
    if (k === undefined) {
      at.set(loc, into.length);
      into.push(loc, ver, entries[i + 2] as number);
    } else if (ver > (into[k + 1] as number)) {
      into[k + 1] = ver;
      into[k + 2] = entries[i + 2] as number;
    } else continue;
    changed = true;
  }
  return changed;
}

export class HwThread {
  state = TS_RUN;
  block = BK_NONE;
  waitUntil = 0;
  ee = false;
  frames: Frame[] = [];
  hdbell = false;
  pdbell = false;
  decAt = -1;
  decPending = false;
  napWake = 0;
  /** XICS ICP registers. */
  mfrr = 0xff;
  cppr = 0xff;
  xisr = 0;
  pendingPri = 0xff;
  /** Id of the last MFRR request that raised the IPI (re-presented after an EOI). */
  ipiId = 0;

  readonly ver: Float64Array;
  readonly val: Float64Array;
  readonly dirtyMark: Uint8Array;
  dirty: number[] = [];
  readonly pendingCount: Int32Array;
  pending: PendingWrite[] = [];
  queue: Queued[] = [];
  /** Stores sent home and not yet ordered there. */
  inflight = 0;
  /** Earliest readyTick in the queue (Infinity when empty). */
  queueReady = Infinity;
  /** An interrupted `delay`: ticks still to spend when the interrupt returns. */
  delaying = false;
  /** Loads may not be satisfied before this tick (barriers). */
  loadFloor = 0;
  syncSid = 0;
  syncAcksLeft = 0;
  /** Per-thread lwsync ordering: the prerequisites every later store of this thread carries
   * (flat [loc, version, value, ...], one entry per location), where each is, and a snapshot. */
  carry: number[] = [];
  carryAt: Map<number, number> | null = null;
  carrySnap: number[] | null = null;
  /** Per-thread lwsync ordering: locations of the thread's own writes ordered at their homes
   * since its last fence started (what an eieio orders its later stores behind). */
  ownSince: number[] = [];
  /**
   * Per-thread lwsync ordering: the prerequisites the thread took in with the writes it saw, in
   * the order it took them (flat [loc, version, value, ...], append-only). A barrier after them
   * (lwsync, sync) orders the thread's later stores behind all of them; without one, only stores
   * that depend on a load made after them (address, data, control, addr;po, same location: ppc.cat's
   * ppo) carry them (`carryMark`), so a store in plain program order after a read does not
   * (ISA2+lwsync+po+addr is allowed). `ownMark`: the largest mark an own store carried since the
   * last fence, which an eieio orders the later stores behind.
   */
  pool: number[] = [];
  ownMark = 0;
  syncEntries: number[] = [];
  rmwWid = 0;
  rmwIsStcx = false;
  rmwOp: RmwReq['op'] = 'xchg';
  larxLoc = -1;
  fetchLoc = -1;
  fetchLane = -1;
  larxVersion = -1;
  /** Optional history of view changes per location: flat [tick, version, value, ...], the last
   * HISTORY_MAX changes of each location (allocated when a location first changes). */
  history: (number[] | undefined)[] | null = null;
  /** With history: the tick at which the thread's latest own write to each location was ordered;
   * a later load of that location may not be satisfied before it. */
  ownTick: Float64Array | null = null;
  /** With history: per location, the tick at which the version last read arrived in the view (a
   * later load of it may be satisfied no earlier), and the version of the thread's own latest
   * ordered write. */
  readArrival: Float64Array | null = null;
  ownVer: Float64Array | null = null;
  /** The tick at which the last load was satisfied, and whether it read the thread's own write. */
  lastLoadTick = 0;
  lastLoadOwn = false;
  /** The version the last load read (-1: the thread's own store, not yet ordered). */
  lastLoadVersion = 0;

  constructor(
    readonly cpu: number,
    readonly tir: number,
    readonly software: ThreadSoftware | null,
    nlocs: number,
  ) {
    this.ver = new Float64Array(nlocs);
    this.val = new Float64Array(nlocs);
    this.dirtyMark = new Uint8Array(nlocs);
    this.pendingCount = new Int32Array(nlocs);
  }
}

export class Core {
  readonly id: number;
  readonly threads: HwThread[];
  readonly ncores: number;
  tick = 0;
  clock = 0;
  private readonly topo: Topology;
  private readonly locs: LocationTable;
  private readonly policy: MemoryPolicy;
  private readonly rng: Random;
  private readonly send: (dst: number, msg: CoreMsg) => void;
  private readonly obs: MachineObserver | null;
  /** Whether the observer wants `visible` and `load` events (most of the stream). */
  private readonly obsVisible: boolean;
  private readonly obsLoad: boolean;
  private widNext = 1;
  private sidNext = 1;
  /** Home state, for every location (only owned ones are used). */
  private readonly homeVer: Float64Array;
  private readonly homeVal: Float64Array;
  private readonly homePrereq: (number[] | null)[];
  /** Versions known to be visible to every thread of the machine. */
  private readonly knownGlobal: Float64Array;
  /** Whether this core holds a copy of each location (is sent its writes). */
  private readonly present: Uint8Array;
  /** Home directory: the cores sent each location's writes (directory locations only). */
  private readonly sharers: (number[] | null)[];
  private readonly fetching: Uint8Array;
  /** The tick at which a thread of this core last read each location (eviction of cold copies). */
  private readonly lastRead: Float64Array;
  /** The sharers of each location as last announced by its home (null: unknown or broadcast). */
  private readonly sharersKnown: (number[] | null)[];
  /** The version at which each location's sharers were learned: a barrier entry newer than it may
   * have sharers we have not heard of, and goes to every core. */
  private readonly sharersVer: Float64Array;
  private readonly syncTargets: Uint8Array;
  private readonly applies = new MinHeap<[HwThread, WriteProp]>();
  private readonly emptyPrereq: number[] = [];
  private readonly perThreadLwsync: boolean;
  /** Whether loads may be satisfied early here (the threads keep their view history). */
  readonly keepsHistory: boolean;
  /** Counters, for reports and benchmarks. */
  readonly stats = {
    ops: 0,
    memOps: 0,
    stores: 0,
    loads: 0,
    rmws: 0,
    syncs: 0,
    msgsSent: 0,
    msgsRecv: 0,
    irqsTaken: 0,
    evictions: 0,
  };

  constructor(opts: CoreOptions) {
    this.id = opts.id;
    this.topo = opts.topology;
    this.locs = opts.locations;
    this.policy = opts.policy ?? DEFAULT_POLICY;
    this.rng = new Random(opts.seed, `core/${opts.id}`);
    this.send = opts.send;
    this.obs = opts.observer ?? null;
    this.perThreadLwsync = opts.lwsyncOrdering === 'per-thread';
    this.keepsHistory = opts.keepHistory === true;
    this.obsVisible = this.obs !== null && !(this.obs.ignores ?? []).includes('visible');
    this.obsLoad = this.obs !== null && !(this.obs.ignores ?? []).includes('load');
    this.ncores = opts.topology.sockets * opts.topology.coresPerSocket;
    assert(this.id >= 0 && this.id < this.ncores, () => `core id ${this.id} out of range`);
    const n = this.locs.size;
    this.homeVer = new Float64Array(n);
    this.homeVal = new Float64Array(n);
    this.homePrereq = new Array<number[] | null>(n).fill(null);
    this.knownGlobal = new Float64Array(n);
    this.present = new Uint8Array(n);
    this.sharers = new Array<number[] | null>(n).fill(null);
    this.fetching = new Uint8Array(n);
    this.lastRead = new Float64Array(n);
    this.sharersKnown = new Array<number[] | null>(n).fill(null);
    this.sharersVer = new Float64Array(n);
    this.syncTargets = new Uint8Array(this.ncores);
    for (let l = 0; l < n; l++) {
      this.homeVal[l] = this.locs.inits[l] as number;
      const home = this.locs.homes[l] as number;
      if (this.locs.broadcast[l] === true || home === this.id) this.present[l] = 1;
      if (home === this.id && this.locs.broadcast[l] !== true) {
        this.sharers[l] = [this.id];
        this.sharersKnown[l] = this.sharers[l];
        this.sharersVer[l] = Infinity;
      }
    }
    const tpc = this.topo.threadsPerCore;
    this.threads = [];
    const skewMax = opts.startSkewTicksMax ?? 0;
    const stagger = opts.startStaggerTicks ?? 0;
    assert(stagger >= 0 && Number.isInteger(stagger), () => `start stagger ${stagger}: a whole number of ticks, >= 0`);
    for (let tir = 0; tir < tpc; tir++) {
      const cpu = this.id * tpc + tir;
      const sw = opts.software(cpu);
      const th = new HwThread(cpu, tir, sw, n);
      for (let l = 0; l < n; l++) th.val[l] = this.locs.inits[l] as number;
      if (opts.keepHistory) {
        th.history = new Array<number[] | undefined>(n);
        th.ownTick = new Float64Array(n);
        th.readArrival = new Float64Array(n);
        th.ownVer = new Float64Array(n);
      }
      if (sw === null) {
        th.state = TS_DONE;
      } else {
        th.frames.push({ gen: sw.main(), resume: 0, source: null, eeSaved: false, delayLeft: 0 });
        th.waitUntil = (skewMax > 0 ? this.rng.int(skewMax + 1) : 0) + cpu * stagger;
      }
      this.threads.push(th);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Scheduling

  /** True when every thread has finished (or never had software). */
  get finished(): boolean {
    for (const th of this.threads) if (th.state !== TS_DONE) return false;
    return true;
  }

  /** True when nothing is waiting inside the core (no queued stores, no pending visibility). */
  get quiescent(): boolean {
    if (this.applies.size > 0) return false;
    for (const th of this.threads) {
      if (th.queue.length > 0 || th.pending.length > 0) return false;
    }
    return true;
  }

  /** The earliest tick at which `step` has something to do, or Infinity. */
  nextEventTick(): number {
    let t = this.applies.peekKey();
    for (const th of this.threads) {
      if (th.state === TS_RUN && th.waitUntil < t) t = th.waitUntil;
      if (th.decAt >= 0 && th.decAt < t) t = th.decAt;
      if (th.queueReady < t) t = th.queueReady;
    }
    return t;
  }

  /** Advance the core to `tick` and run one step of each runnable thread. */
  step(tick: number): void {
    assert(tick >= this.tick, () => `core ${this.id}: time went backwards (${tick} < ${this.tick})`);
    this.tick = tick;
    this.processApplies();
    const threads = this.threads;
    const n = threads.length;
    const start = n > 1 ? this.rng.int(n) : 0;
    for (let i = 0; i < n; i++) {
      const th = threads[(start + i) % n] as HwThread;
      if (th.decAt >= 0 && tick >= th.decAt) this.raiseDec(th);
      if (th.queueReady <= tick) this.pump(th);
      if (th.state === TS_RUN && tick >= th.waitUntil) this.runOne(th);
    }
  }

  private processApplies(): void {
    const heap = this.applies;
    while (heap.size > 0 && heap.peekKey() <= this.tick) {
      const [th, p] = heap.pop() as [HwThread, WriteProp];
      this.applyProp(th, p);
    }
  }

  private runOne(th: HwThread): void {
    th.delaying = false;
    if (th.ee && th.software?.interrupt) {
      const src = this.pendingSource(th);
      if (src !== null) this.takeInterrupt(th, src);
    }
    const pol = this.policy;
    if (pol.stallProb > 0 && this.rng.chance(pol.stallProb)) {
      th.waitUntil = this.tick + 1 + this.rng.int(pol.stallTicksMax);
      return;
    }
    // Zero-cost ops (now, tp) and frame returns do not end the step; everything else does.
    for (let guard = 0; guard < 1000; guard++) {
      const frame = th.frames[th.frames.length - 1];
      if (frame === undefined) {
        th.state = TS_DONE;
        this.emitThreadEnd(th);
        return;
      }
      const r = frame.gen.next(frame.resume);
      frame.resume = 0;
      if (r.done === true) {
        th.frames.pop();
        if (frame.source !== null) {
          th.ee = frame.eeSaved;
          this.clock++;
          this.obs?.event({ e: 'irq_return', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, source: frame.source });
          const below = th.frames[th.frames.length - 1];
          if (below !== undefined && below.delayLeft > 0) {
            th.waitUntil = this.tick + below.delayLeft;
            th.delaying = true;
            below.delayLeft = 0;
          }
          if (th.frames.length > 0) return;
        }
        continue;
      }
      const op = r.value;
      this.stats.ops++;
      if (this.exec(th, frame, op)) return;
    }
    assert(false, () => `cpu ${th.cpu}: more than 1000 zero-cost ops in one step`);
  }

  /** Executes one op; returns true when it consumed the step. */
  private exec(th: HwThread, frame: Frame, op: Op): boolean {
    switch (op.k) {
      case 'ld':
        frame.resume = this.load(th, frame, op.loc, op.lane ?? -1, op.floorTick);
        return true;
      case 'st':
        this.store(th, op.loc, op.value, op.lane ?? -1, op.carryMark ?? 0);
        return true;
      case 'rmw':
        this.enqueueRmw(th, op.loc, op.op, op.a, op.b ?? 0);
        return true;
      case 'larx':
        this.larx(th, frame, op.loc, op.floorTick);
        return true;
      case 'stcx':
        this.stats.memOps++;
        if (th.larxLoc !== op.loc) {
          frame.resume = 0;
          return true;
        }
        this.enqueueRmw(th, op.loc, 'stcx', op.value, th.larxVersion, op.carryMark ?? 0);
        th.larxLoc = -1;
        return true;
      case 'sync':
        this.sync(th);
        return true;
      case 'lwsync':
        this.barrierEvent(th, 'lwsync', 'begin');
        this.lwsync(th);
        th.loadFloor = this.tick;
        return true;
      case 'eieio':
        this.barrierEvent(th, 'eieio', 'begin');
        this.lwsync(th, true);
        return true;
      case 'isync':
        this.barrierEvent(th, 'isync', 'begin');
        th.loadFloor = this.tick;
        return true;
      case 'msgsync':
        this.barrierEvent(th, 'msgsync', 'begin');
        th.loadFloor = this.tick;
        return true;
      case 'msgsnd':
        this.msgsnd(th, op.cpu, op.id ?? 0);
        return true;
      case 'msgsndp':
        this.msgsndp(th, op.tir, op.id ?? 0);
        return true;
      case 'msgclr':
        this.clearDoorbell(th, 'msgclr');
        return true;
      case 'msgclrp':
        this.clearDoorbell(th, 'msgclrp');
        return true;
      case 'mfrr':
        this.mfrrStore(th, op.cpu, op.priority, op.id ?? 0);
        return true;
      case 'xirr':
        frame.resume = this.icpAccept(th);
        return true;
      case 'eoi':
        this.icpEoi(th, op.xirr);
        return true;
      case 'cppr':
        th.cppr = op.priority;
        this.icpPresent(th, 0);
        return true;
      case 'ee':
        frame.resume = th.ee ? 1 : 0;
        th.ee = op.on;
        return true;
      case 'srr1_ee':
        assert(frame.source !== null, () => `cpu ${th.cpu}: srr1_ee outside an interrupt handler`);
        frame.eeSaved = op.on;
        return false;
      case 'nap':
        this.nap(th, frame, op.wake);
        return true;
      case 'delay':
        assert(op.ticks >= 0, 'delay must be >= 0');
        th.waitUntil = this.tick + op.ticks;
        th.delaying = op.ticks > 0;
        return true;
      case 'dec':
        th.decAt = op.ticks < 0 ? -1 : this.tick + Math.max(1, op.ticks);
        th.decPending = false;
        return true;
      case 'now':
        frame.resume = this.tick;
        return false;
      case 'lastload':
        frame.resume = th.lastLoadTick * 2 + (th.lastLoadOwn ? 1 : 0);
        return false;
      case 'poolmark':
        frame.resume = th.pool.length;
        return false;
      case 'tp':
        this.clock++;
        this.obs?.event({
          e: 'tp', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, name: op.name, attrs: op.attrs ?? {},
        });
        return false;
      default:
        return assertNever(op, 'op');
    }
  }

  private block(th: HwThread, kind: number): void {
    th.state = TS_BLOCKED;
    th.block = kind;
  }

  private unblock(th: HwThread, resume: number): void {
    assert(th.state === TS_BLOCKED, () => `cpu ${th.cpu}: unblock of a thread that is not blocked`);
    th.state = TS_RUN;
    th.block = BK_NONE;
    const frame = th.frames[th.frames.length - 1];
    assert(frame !== undefined, 'blocked thread without a frame');
    frame.resume = resume;
    if (th.waitUntil < this.tick + 1) th.waitUntil = this.tick + 1;
  }

  // ---------------------------------------------------------------------------------------------
  // Memory: the thread side

  private load(th: HwThread, frame: Frame, loc: number, lane: number, floorTick: number | undefined): number {
    this.stats.memOps++;
    this.stats.loads++;
    if (this.present[loc] === 0 && th.pendingCount[loc] === 0) {
      this.fetch(th, loc, lane);
      return 0;
    }
    return this.loadView(th, loc, lane, floorTick);
  }

  /** A load from the thread's view (or its own queued store), early when the floor allows. */
  private loadView(th: HwThread, loc: number, lane: number, floorTick: number | undefined): number {
    let word: number;
    let version: number;
    let own = false;
    th.lastLoadTick = this.tick;
    this.lastRead[loc] = this.tick;
    if (th.pendingCount[loc] !== 0) {
      word = this.forwarded(th, loc);
      version = -1;
      own = true;
    } else if (
      floorTick !== undefined &&
      th.history !== null &&
      floorTick < this.tick &&
      this.policy.earlyLoadProb > 0 &&
      this.rng.chance(this.policy.earlyLoadProb)
    ) {
      const lo = Math.max(
        floorTick,
        th.loadFloor,
        (th.ownTick as Float64Array)[loc] as number,
        (th.readArrival as Float64Array)[loc] as number,
        this.tick - this.policy.earlyLoadTicksMax,
      );
      const h = th.history[loc] ?? this.emptyPrereq;
      // A trimmed history cannot say what the view held before its oldest entry.
      const lo2 = h.length >= HISTORY_MAX * 3 ? Math.max(lo, h[0] as number) : lo;
      const oldestProb = this.policy.earlyLoadOldestProb ?? 0;
      const oldest = oldestProb > 0 && this.rng.chance(oldestProb);
      const at = lo2 >= this.tick ? this.tick : oldest ? lo2 : lo2 + this.rng.int(this.tick - lo2 + 1);
      word = this.locs.inits[loc] as number;
      version = 0;
      let arrival = 0;
      for (let i = h.length - 3; i >= 0; i -= 3) {
        if ((h[i] as number) <= at) {
          arrival = h[i] as number;
          version = h[i + 1] as number;
          word = h[i + 2] as number;
          break;
        }
      }
      assert(version <= (th.ver[loc] as number), 'an early load read a version the thread never had');
      (th.readArrival as Float64Array)[loc] = arrival;
      th.lastLoadTick = at;
      own = version > 0 && version === ((th.ownVer as Float64Array)[loc] as number);
    } else {
      word = th.val[loc] as number;
      version = th.ver[loc] as number;
      if (th.history !== null) {
        const h = th.history[loc] ?? this.emptyPrereq;
        (th.readArrival as Float64Array)[loc] = h.length > 0 ? (h[h.length - 3] as number) : 0;
        own = version > 0 && version === ((th.ownVer as Float64Array)[loc] as number);
      }
    }
    th.lastLoadOwn = own;
    th.lastLoadVersion = version;
    const value = lane < 0 ? word : laneOf(word, lane);
    this.clock++;
    if (this.obsLoad) (this.obs as MachineObserver).event({ e: 'load', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, loc, value, version, own });
    return value;
  }

  /** A read miss: block until the home sends the latest write (and makes this core a sharer). */
  private fetch(th: HwThread, loc: number, lane: number): void {
    th.fetchLoc = loc;
    th.fetchLane = lane;
    this.block(th, BK_FETCH);
    if (this.fetching[loc] === 1) return;
    this.fetching[loc] = 1;
    this.clock++;
    this.sendMsg(this.locs.homes[loc] as number, { t: 'fetch', src: this.id, thread: th.tir, loc, clock: this.clock });
  }

  private fetchResp(r: FetchResp): void {
    const loc = r.loc;
    this.present[loc] = 1;
    this.lastRead[loc] = this.tick;
    if (r.sharers !== undefined) this.learnSharers(loc, r.sharers, r.version);
    this.fetching[loc] = 0;
    for (const u of this.threads) {
      this.mergePrereqAll(u, r.prereq);
      this.mergeView(u, loc, r.version, r.value, -1);
    }
    for (const u of this.threads) {
      if (u.state !== TS_BLOCKED || u.block !== BK_FETCH || u.fetchLoc !== loc) continue;
      if (u.larxLoc === loc && u.larxVersion === -1) u.larxVersion = u.ver[loc] as number;
      const word = u.pendingCount[loc] !== 0 ? this.forwarded(u, loc) : (u.val[loc] as number);
      const value = u.fetchLane < 0 ? word : laneOf(word, u.fetchLane);
      // The load is satisfied now, not when it was issued: later loads that depend on it may not be
      // satisfied before this tick, nor read this location older than what it read.
      u.lastLoadTick = this.tick;
      u.lastLoadOwn = false;
      if (u.readArrival !== null) u.readArrival[loc] = this.tick;
      this.clock++;
      if (this.obsLoad) {
        (this.obs as MachineObserver).event({
          e: 'load', core: this.id, cpu: u.cpu, clock: this.clock, tick: this.tick, loc, value, version: u.ver[loc] as number,
          own: false,
        });
      }
      this.unblock(u, value);
    }
  }

  private learnSharers(loc: number, sharers: number[], version: number): void {
    if (version < (this.sharersVer[loc] as number)) return;
    this.sharersKnown[loc] = sharers;
    this.sharersVer[loc] = version;
  }

  private mergePrereqAll(th: HwThread, pre: number[]): void {
    for (let i = 0; i < pre.length; i += 3) {
      const loc = pre[i] as number;
      const ver = pre[i + 1] as number;
      const val = pre[i + 2] as number;
      this.mergeView(th, loc, ver, val, -1);
    }
    // The barriers behind these prerequisites have reached the thread: its later stores that are
    // ordered after the read (a barrier, or a dependency) are ordered after them for every thread.
    if (this.perThreadLwsync) for (let i = 0; i < pre.length; i++) th.pool.push(pre[i] as number);
  }

  /** Per-thread lwsync: adds `entries` (its first `end` numbers) to what the thread's later stores carry. */
  private inherit(th: HwThread, entries: number[], end = entries.length): void {
    if (mergeEntries(th.carry, (th.carryAt ??= new Map<number, number>()), entries, end)) th.carrySnap = null;
  }

  /** The prerequisites a store of `th` carries now (a snapshot: messages keep it). */
  private carryOf(th: HwThread): number[] {
    if (!this.perThreadLwsync || th.carry.length === 0) return this.emptyPrereq;
    return (th.carrySnap ??= th.carry.slice());
  }

  /** The prerequisites a store of `th` with `mark` carries: the thread's carry and the first `mark`
   * pool entries, one entry per location at the highest version. */
  private carryWith(th: HwThread, mark: number): number[] {
    if (!this.perThreadLwsync || mark === 0) return this.carryOf(th);
    assert(mark <= th.pool.length, () => `cpu ${th.cpu}: a store carries ${mark} pool numbers of ${th.pool.length}`);
    if (mark > th.ownMark) th.ownMark = mark;
    const out = th.carry.slice();
    const at = new Map<number, number>();
    for (let i = 0; i < out.length; i += 3) at.set(out[i] as number, i);
    mergeEntries(out, at, th.pool, mark);
    return out;
  }

  /** The thread's own latest value for `loc`: its view with its unordered stores laid over it. */
  private forwarded(th: HwThread, loc: number): number {
    let word = th.val[loc] as number;
    for (const p of th.pending) {
      if (p.loc !== loc) continue;
      word = p.lane < 0 ? p.value : mergeLane(word, p.lane, p.value);
    }
    return word;
  }

  private newWid(): number {
    const wid = this.id * 4294967296 + this.widNext++;
    assert(wid < Number.MAX_SAFE_INTEGER, 'write id overflow');
    return wid;
  }

  private store(th: HwThread, loc: number, value: number, lane: number, mark: number): void {
    this.stats.memOps++;
    this.stats.stores++;
    assert(Number.isFinite(value), () => `store of a non-finite value to ${this.locs.names[loc]}`);
    assert(lane < LANES_MAX, () => `byte lane ${lane} out of range`);
    const wid = this.newWid();
    th.pending.push({ wid, loc, value, lane });
    th.pendingCount[loc]!++;
    this.clock++;
    if (this.obs !== null) {
      this.obs.event({ e: 'store', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, loc, wid, value, lane });
    }
    const pol = this.policy;
    const delayed = pol.storeDelayProb > 0 && this.rng.chance(pol.storeDelayProb);
    if (th.queue.length === 0 && !delayed) {
      this.sendWrite(th, wid, loc, value, lane, mark);
      return;
    }
    const readyTick = delayed ? this.tick + 1 + this.rng.int(pol.storeDelayTicksMax) : this.tick;
    th.queue.push(this.queued('st', wid, loc, value, lane, 'xchg', 0, 0, readyTick, mark));
    this.pump(th);
  }

  private queued(kind: Queued['kind'], wid: number, loc: number, value: number, lane: number, op: RmwReq['op'], a: number, b: number, readyTick: number, mark = 0): Queued {
    return { kind, wid, loc, value, lane, op, a, b, readyTick, mark, fenceState: 0, fenceSid: 0, acksLeft: 0, entries: this.emptyPrereq };
  }

  private sendWrite(th: HwThread, wid: number, loc: number, value: number, lane: number, mark: number): void {
    const home = this.locs.homes[loc] as number;
    this.clock++;
    th.inflight++;
    const prereq = this.carryWith(th, mark);
    if (home === this.id) {
      this.orderWrite(this.id, th.tir, wid, loc, value, lane, prereq, this.clock);
    } else {
      this.sendMsg(home, { t: 'wreq', src: this.id, thread: th.tir, wid, loc, value, lane, prereq, clock: this.clock });
    }
  }

  private enqueueRmw(th: HwThread, loc: number, op: RmwReq['op'], a: number, b: number, mark = 0): void {
    this.stats.memOps++;
    this.stats.rmws++;
    const wid = this.newWid();
    th.rmwWid = wid;
    th.rmwIsStcx = op === 'stcx';
    th.rmwOp = op;
    th.queue.push(this.queued('rmw', wid, loc, 0, -1, op, a, b, this.tick, mark));
    this.block(th, BK_RMW);
    this.pump(th);
  }

  private larx(th: HwThread, frame: Frame, loc: number, floorTick: number | undefined): void {
    this.stats.memOps++;
    if (this.present[loc] === 0) {
      // A reservation needs a copy: fetch it first (the stcx. is checked at the home anyway).
      th.larxLoc = loc;
      th.larxVersion = -1;
      this.fetch(th, loc, -1);
      return;
    }
    if (th.pendingCount[loc] !== 0 || th.queue.length > 0) {
      // Read the reserved value only once our own stores to it are ordered (simple and sound).
      th.larxLoc = loc;
      this.block(th, BK_LARX_DRAIN);
      return;
    }
    if (floorTick !== undefined) {
      // A load like any other (it may read the view as it was since the floor), that reserves the
      // version it read: a stcx. after a stale one fails at the home, as a lost reservation.
      frame.resume = this.loadView(th, loc, -1, floorTick);
      th.larxLoc = loc;
      th.larxVersion = th.lastLoadVersion;
      return;
    }
    th.larxLoc = loc;
    th.larxVersion = th.ver[loc] as number;
    th.loadFloor = this.tick;
    th.lastLoadTick = this.tick;
    th.lastLoadOwn = false;
    this.lastRead[loc] = this.tick;
    frame.resume = th.val[loc] as number;
  }

  /**
   * Sends what the store queue may send: a store or atomic once its delay is over and no earlier
   * entry to the same location is still queued (stores to one location stay in order); nothing
   * past a fence until the fence is done. A fence at the head starts once the thread's earlier
   * stores are ordered.
   */
  private pump(th: HwThread): void {
    const q = th.queue;
    let ready = Infinity;
    let i = 0;
    while (i < q.length) {
      const e = q[i] as Queued;
      if (e.kind === 'fence') {
        if (i === 0 && e.fenceState === 0 && th.inflight === 0 && this.fenceStart(th, e)) {
          q.shift();
          continue;
        }
        break;
      }
      if (e.readyTick > this.tick) {
        if (e.readyTick < ready) ready = e.readyTick;
        i++;
        continue;
      }
      let blocked = false;
      for (let j = 0; j < i; j++) {
        const f = q[j] as Queued;
        if (f.loc === e.loc && f.kind !== 'fence') {
          blocked = true;
          break;
        }
      }
      if (blocked) {
        i++;
        continue;
      }
      q.splice(i, 1);
      if (e.kind === 'st') {
        this.sendWrite(th, e.wid, e.loc, e.value, e.lane, e.mark);
      } else {
        const home = this.locs.homes[e.loc] as number;
        this.clock++;
        const m: RmwReq = {
          t: 'rmwreq', src: this.id, thread: th.tir, wid: e.wid, loc: e.loc, op: e.op, a: e.a, b: e.b,
          prereq: this.carryWith(th, e.mark), clock: this.clock,
        };
        if (home === this.id) this.homeRmw(m);
        else this.sendMsg(home, m);
      }
    }
    th.queueReady = ready;
    this.checkDrain(th);
  }

  /** Starts propagating a fence; returns true when it completed at once. */
  private fenceStart(th: HwThread, f: Queued): boolean {
    if (this.perThreadLwsync) {
      // Group A is ordered at its homes (the thread's stores are): the later stores carry it.
      // An eieio's group A is the thread's own stores (f.a === 1) with what they carried; an
      // lwsync's all it has seen, and the prerequisites that came with it.
      if (f.a === 1) {
        this.inherit(th, this.ownGroup(th));
        this.inherit(th, th.pool, th.ownMark);
      } else {
        this.inherit(th, this.groupA(th));
        this.inherit(th, th.pool);
      }
      th.ownSince.length = 0;
      th.ownMark = 0;
      return true;
    }
    const entries = this.groupA(th);
    if (entries.length === 0 || this.ncores === 1) {
      this.mergeSyncLocal(entries, th);
      this.globalised(th, entries);
      return true;
    }
    f.fenceState = 1;
    f.fenceSid = this.sidNext++;
    f.entries = entries;
    this.mergeSyncLocal(entries, th);
    f.acksLeft = this.sendSyncReqs(th, f.fenceSid, entries);
    if (f.acksLeft === 0) {
      this.globalised(th, entries);
      return true;
    }
    return false;
  }

  /**
   * Sends a barrier's entries to the cores that need them and returns how many acks to expect:
   * the known sharers of the entries' locations (a core that holds no copy fetches the latest
   * write when it reads), or every core when a location's sharers are unknown.
   */
  private sendSyncReqs(th: HwThread, sid: number, entries: number[]): number {
    const targets = this.syncTargets;
    targets.fill(0);
    let all = false;
    for (let i = 0; i < entries.length && !all; i += 3) {
      const loc = entries[i] as number;
      const sh = this.sharersKnown[loc];
      if (sh === null || sh === undefined || (entries[i + 1] as number) > (this.sharersVer[loc] as number)) all = true;
      else for (const c of sh) targets[c] = 1;
    }
    this.clock++;
    let n = 0;
    for (let c = 0; c < this.ncores; c++) {
      if (c === this.id || (!all && targets[c] === 0)) continue;
      this.sendMsg(c, { t: 'syncreq', src: this.id, thread: th.tir, sid, entries, clock: this.clock });
      n++;
    }
    return n;
  }

  /** What a barrier must make visible everywhere: everything the thread has seen that is not yet known to be. */
  private groupA(th: HwThread): number[] {
    const entries: number[] = [];
    const kg = this.knownGlobal;
    const keep: number[] = [];
    for (const loc of th.dirty) {
      const ver = th.ver[loc] as number;
      if (ver > (kg[loc] as number)) {
        entries.push(loc, ver, th.val[loc] as number);
        keep.push(loc);
      } else {
        th.dirtyMark[loc] = 0;
      }
    }
    th.dirty = keep;
    return entries;
  }

  /** `entries` are now visible to every thread: remember it, and forget them as dirty. */
  private globalised(th: HwThread, entries: number[]): void {
    const kg = this.knownGlobal;
    for (let i = 0; i < entries.length; i += 3) {
      const loc = entries[i] as number;
      const ver = entries[i + 1] as number;
      if (ver > (kg[loc] as number)) kg[loc] = ver;
    }
    const keep: number[] = [];
    for (const loc of th.dirty) {
      if ((th.ver[loc] as number) > (kg[loc] as number)) keep.push(loc);
      else th.dirtyMark[loc] = 0;
    }
    th.dirty = keep;
  }

  private checkDrain(th: HwThread): void {
    if (th.state !== TS_BLOCKED) return;
    if (th.queue.length > 0 || th.pending.length > 0) return;
    if (th.block === BK_SYNC_DRAIN) {
      this.syncPropagate(th);
    } else if (th.block === BK_LARX_DRAIN) {
      const loc = th.larxLoc;
      th.larxVersion = th.ver[loc] as number;
      th.loadFloor = this.tick;
      th.lastLoadTick = this.tick;
      th.lastLoadOwn = false;
      this.unblock(th, th.val[loc] as number);
    }
  }

  /**
   * lwsync/eieio: a fence in the store queue (later stores wait for it; loads do not). With
   * per-thread ordering an eieio orders the later stores behind the thread's own earlier stores
   * only (ppc.cat's WW(eieio)): a write the thread has merely read is not in its group A, as it is
   * in lwsync's, so WRC+eieio+addr is allowed while MP+eieio+addr is not. The kernel model's
   * global ordering treats eieio as lwsync (stronger).
   */
  private lwsync(th: HwThread, eieio = false): void {
    if (th.queue.length === 0 && th.inflight === 0) {
      if (this.perThreadLwsync && eieio) {
        if (th.ownSince.length === 0) return;
      } else if (this.groupA(th).length === 0) return;
    }
    th.queue.push(this.queued('fence', 0, -1, 0, -1, 'xchg', eieio ? 1 : 0, 0, this.tick));
    this.pump(th);
  }

  /** An eieio's group A (per-thread ordering): the thread's own writes ordered since its last
   * fence, each at the version the thread sees (its own, or a later one it has taken in). */
  private ownGroup(th: HwThread): number[] {
    const entries: number[] = [];
    for (const loc of th.ownSince) {
      let dup = false;
      for (let i = 0; i < entries.length; i += 3) if (entries[i] === loc) dup = true;
      if (!dup) entries.push(loc, th.ver[loc] as number, th.val[loc] as number);
    }
    return entries;
  }

  private sync(th: HwThread): void {
    this.stats.syncs++;
    this.barrierEvent(th, 'sync', 'begin');
    th.loadFloor = this.tick;
    this.block(th, BK_SYNC_DRAIN);
    this.checkDrain(th);
  }

  /** Second half of sync: every core takes in the thread's cumulative view, then acknowledges. */
  private syncPropagate(th: HwThread): void {
    const entries = this.groupA(th);
    th.block = BK_SYNC_ACKS;
    if (entries.length === 0 || this.ncores === 1) {
      this.mergeSyncLocal(entries, th);
      this.syncDone(th, entries);
      return;
    }
    th.syncSid = this.sidNext++;
    th.syncEntries = entries;
    this.mergeSyncLocal(entries, th);
    th.syncAcksLeft = this.sendSyncReqs(th, th.syncSid, entries);
    if (th.syncAcksLeft === 0) this.syncDone(th, entries);
  }

  private mergeSyncLocal(entries: number[], except: HwThread | null): void {
    for (const u of this.threads) {
      if (u === except) continue;
      for (let i = 0; i < entries.length; i += 3) {
        const loc = entries[i] as number;
        // A core without a copy fetches the latest write when it reads: nothing to merge.
        if (this.present[loc] === 0) continue;
        const ver = entries[i + 1] as number;
        const val = entries[i + 2] as number;
        this.mergeView(u, loc, ver, val, -1);
      }
    }
  }

  private syncDone(th: HwThread, entries: number[]): void {
    this.globalised(th, entries);
    assert(th.pending.length === 0, 'sync completed with unordered own stores');
    th.syncEntries = [];
    th.loadFloor = this.tick;
    this.barrierEvent(th, 'sync', 'end');
    this.unblock(th, 0);
  }

  /** Raise a thread's view of `loc` to `ver` (never lower it). */
  private mergeView(th: HwThread, loc: number, ver: number, val: number, wid: number): boolean {
    if (ver <= (th.ver[loc] as number)) return false;
    th.ver[loc] = ver;
    th.val[loc] = val;
    if (th.dirtyMark[loc] === 0) {
      th.dirtyMark[loc] = 1;
      th.dirty.push(loc);
    }
    if (th.history !== null) {
      let h = th.history[loc];
      if (h === undefined) th.history[loc] = h = [];
      h.push(this.tick, ver, val);
      if (h.length > HISTORY_MAX * 3) h.splice(0, 3);
    }
    this.clock++;
    if (this.obsVisible) {
      (this.obs as MachineObserver).event({ e: 'visible', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, loc, wid, version: ver });
    }
    return true;
  }

  /** A write announced by its home becomes visible to `th` (with its prerequisites first). */
  private applyProp(th: HwThread, p: WriteProp): void {
    if (p.prereq.length > 0) this.mergePrereqAll(th, p.prereq);
    this.mergeView(th, p.loc, p.version, p.value, p.wid);
  }

  /** Our own write came back ordered: stop forwarding it, and release stores that waited on it. */
  private ackOwn(th: HwThread, p: WriteProp): void {
    const idx = th.pending.findIndex((w) => w.wid === p.wid);
    if (idx >= 0) {
      const w = th.pending[idx] as PendingWrite;
      assert(w.loc === p.loc, 'ack for a write to another location');
      th.pending.splice(idx, 1);
      th.pendingCount[p.loc]!--;
      assert((th.pendingCount[p.loc] as number) >= 0, 'negative pending count');
    }
    this.mergeView(th, p.loc, p.version, p.value, p.wid);
    if (this.perThreadLwsync) th.ownSince.push(p.loc);
    if (th.ownTick !== null) {
      th.ownTick[p.loc] = this.tick;
      if (p.version >= (th.ver[p.loc] as number)) (th.ownVer as Float64Array)[p.loc] = p.version;
    }
    if (idx >= 0) {
      th.inflight--;
      assert(th.inflight >= 0, 'more acks than stores in flight');
    }
    this.pump(th);
  }

  // ---------------------------------------------------------------------------------------------
  // Memory: the home side

  private homeWrite(m: WriteReq): void {
    this.orderWrite(m.src, m.thread, m.wid, m.loc, m.value, m.lane, m.prereq, m.clock);
  }

  /** The home puts a write in coherence order and announces it to every core. */
  private orderWrite(src: number, thread: number, wid: number, loc: number, value: number, lane: number, prereq: number[], clock: number): void {
    assert(this.locs.homes[loc] === this.id, () => `write to ${this.locs.names[loc]} sent to a core that is not its home`);
    const version = (this.homeVer[loc] as number) + 1;
    const word = lane < 0 ? value : mergeLane(this.homeVal[loc] as number, lane, value);
    this.homeVer[loc] = version;
    this.homeVal[loc] = word;
    this.homePrereq[loc] = prereq;
    this.clock = Math.max(this.clock, clock) + 1;
    if (this.obs !== null) {
      this.obs.event({
        e: 'version', core: this.id, clock: this.clock, tick: this.tick, loc, wid, version, value: word,
        cpu: src * this.topo.threadsPerCore + thread,
      });
    }
    this.announce({
      t: 'wprop', home: this.id, loc, version, value: word, wid, writerCore: src, writerThread: thread,
      prereq, clock: this.clock,
    });
  }

  private homeRmw(m: RmwReq): void {
    const loc = m.loc;
    assert(this.locs.homes[loc] === this.id, () => `atomic on ${this.locs.names[loc]} sent to a core that is not its home`);
    this.clock = Math.max(this.clock, m.clock) + 1;
    const old = this.homeVal[loc] as number;
    const oldVersion = this.homeVer[loc] as number;
    const oldPrereq = this.homePrereq[loc] ?? this.emptyPrereq;
    let next: number | null;
    switch (m.op) {
      case 'xchg':
        next = m.a;
        break;
      case 'cmpxchg':
        next = old === m.a ? m.b : null;
        break;
      case 'add':
        next = old + m.a;
        break;
      case 'or':
        assert(old < 2 ** 32 && m.a < 2 ** 32, 'or on a value wider than 32 bits');
        next = (old | m.a) >>> 0;
        break;
      case 'andc':
        assert(old < 2 ** 32 && m.a < 2 ** 32, 'andc on a value wider than 32 bits');
        next = (old & ~m.a) >>> 0;
        break;
      case 'stcx':
        next = oldVersion === m.b ? m.a : null;
        break;
      default:
        return assertNever(m.op, 'rmw op');
    }
    let version = -1;
    let value = old;
    if (next !== null) {
      version = oldVersion + 1;
      value = next;
      this.homeVer[loc] = version;
      this.homeVal[loc] = value;
      this.homePrereq[loc] = m.prereq;
      if (this.obs !== null) {
        this.obs.event({
          e: 'version', core: this.id, clock: this.clock, tick: this.tick, loc, wid: m.wid, version, value,
          cpu: m.src * this.topo.threadsPerCore + m.thread,
        });
      }
    }
    const resp: RmwResp = {
      t: 'rmwresp', home: this.id, thread: m.thread, wid: m.wid, loc, old, oldVersion, oldPrereq, version, value,
      clock: this.clock,
    };
    const sh = this.sharers[loc];
    if (sh !== null && sh !== undefined) resp.sharers = sh;
    if (m.src === this.id) this.rmwResp(resp);
    else this.sendMsg(m.src, resp);
    if (version >= 0) {
      this.announce({
        t: 'wprop', home: this.id, loc, version, value, wid: m.wid, writerCore: m.src, writerThread: m.thread,
        prereq: m.prereq, clock: this.clock,
      });
    }
  }

  private announce(p: WriteProp): void {
    const sh = this.sharers[p.loc];
    if (sh === null || sh === undefined) {
      for (let c = 0; c < this.ncores; c++) {
        if (c === this.id) continue;
        this.sendMsg(c, p);
      }
    } else {
      p.sharers = sh;
      let writerSent = p.writerCore === this.id;
      for (const c of sh) {
        if (c === this.id) continue;
        if (c === p.writerCore) writerSent = true;
        this.sendMsg(c, p);
      }
      if (!writerSent) this.sendMsg(p.writerCore, p);
    }
    this.receiveProp(p);
  }

  private homeFetch(src: number, thread: number, loc: number): void {
    assert(this.locs.homes[loc] === this.id, () => `fetch of ${this.locs.names[loc]} sent to a core that is not its home`);
    const sh = this.sharers[loc];
    assert(sh !== null && sh !== undefined, () => `fetch of broadcast location ${this.locs.names[loc]}`);
    let list = sh;
    if (!list.includes(src)) {
      // A new array: sharer lists already sent (and kept by their receivers) must not change.
      list = [...sh, src];
      this.sharers[loc] = list;
      this.sharersKnown[loc] = list;
    }
    this.clock++;
    this.sendMsg(src, {
      t: 'fetchresp', home: this.id, thread, loc, version: this.homeVer[loc] as number, value: this.homeVal[loc] as number,
      prereq: this.homePrereq[loc] ?? this.emptyPrereq, clock: this.clock, sharers: list,
    });
  }

  private receiveProp(p: WriteProp): void {
    if (p.sharers !== undefined && p.home !== this.id) {
      this.learnSharers(p.loc, p.sharers, p.version);
      if (this.policy.evictIdleTicks > 0 && p.writerCore !== this.id) this.maybeEvict(p.loc);
    }
    const pol = this.policy;
    for (const th of this.threads) {
      if (p.writerCore === this.id && p.writerThread === th.tir) {
        this.ackOwn(th, p);
        continue;
      }
      if (th.software === null) {
        this.applyProp(th, p);
        continue;
      }
      if (this.rng.chance(pol.applyImmediateProb)) {
        this.applyProp(th, p);
        continue;
      }
      const max = pol.applyTailProb > 0 && this.rng.chance(pol.applyTailProb) ? pol.applyTailTicksMax : pol.applyDelayTicksMax;
      this.applies.push(this.tick + 1 + this.rng.int(max), [th, p]);
    }
  }

  /**
   * Drops this core's copy of a directory-tracked location that no thread has read for
   * `evictIdleTicks`, and tells the home, which stops sending it the location's writes (and other
   * cores' syncs stop waiting for it). The next read fetches the latest write again. A copy that a
   * thread still relies on (own stores not yet ordered, a reservation being taken) is kept.
   */
  private maybeEvict(loc: number): void {
    if (this.present[loc] === 0 || this.fetching[loc] === 1) return;
    if (this.tick - (this.lastRead[loc] as number) <= this.policy.evictIdleTicks) return;
    for (const th of this.threads) {
      if (th.pendingCount[loc] !== 0) return;
      if (th.state === TS_BLOCKED && th.larxLoc === loc && th.block === BK_LARX_DRAIN) return;
    }
    this.present[loc] = 0;
    this.stats.evictions++;
    this.clock++;
    this.sendMsg(this.locs.homes[loc] as number, { t: 'evict', src: this.id, loc, clock: this.clock });
  }

  /** A sharer dropped its copy: later writes of the location are no longer sent to it. */
  private homeEvict(src: number, loc: number): void {
    assert(this.locs.homes[loc] === this.id, () => `eviction of ${this.locs.names[loc]} sent to a core that is not its home`);
    const sh = this.sharers[loc];
    assert(sh !== null && sh !== undefined, () => `eviction of broadcast location ${this.locs.names[loc]}`);
    if (!sh.includes(src)) return;
    // A new array: sharer lists already sent (and kept by their receivers) must not change.
    const next = sh.filter((c) => c !== src);
    this.sharers[loc] = next;
    this.sharersKnown[loc] = next;
  }

  private rmwResp(r: RmwResp): void {
    if (r.sharers !== undefined && r.home !== this.id) this.learnSharers(r.loc, r.sharers, Math.max(r.version, r.oldVersion));
    const th = this.threads[r.thread] as HwThread;
    assert(th.state === TS_BLOCKED && th.block === BK_RMW, () => `cpu ${th.cpu}: atomic answer while not waiting`);
    assert(r.wid === th.rmwWid, () => `cpu ${th.cpu}: answer for another atomic`);
    if (r.oldPrereq.length > 0) this.mergePrereqAll(th, r.oldPrereq);
    this.mergeView(th, r.loc, r.oldVersion, r.old, -1);
    if (r.version >= 0) {
      this.mergeView(th, r.loc, r.version, r.value, r.wid);
      if (this.perThreadLwsync) th.ownSince.push(r.loc);
    }
    // An atomic orders nothing by itself: acquire semantics come from the isync/lwsync/sync that
    // the software puts around it. Later loads of the same location read no older than this.
    if (th.ownTick !== null) th.ownTick[r.loc] = this.tick;
    this.clock++;
    if (this.obs !== null) {
      this.obs.event({
        e: 'rmw', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, loc: r.loc, op: th.rmwOp, old: r.old,
        oldVersion: r.oldVersion, value: r.value, version: r.version, wid: r.wid,
      });
    }
    const q = th.queue;
    assert(q.every((x) => x.wid !== r.wid), 'atomic answered before it was sent');
    // stcx answers success (1) or failure (0); other atomics answer the old value.
    this.unblock(th, th.rmwIsStcx ? (r.version >= 0 ? 1 : 0) : r.old);
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs from other cores

  /** Everything that arrives from another core comes through here. */
  receive(src: number, msg: CoreMsg): void {
    assert(src !== this.id, 'a core sent a message to itself through the bus');
    this.stats.msgsRecv++;
    this.clock = Math.max(this.clock, msg.clock) + 1;
    switch (msg.t) {
      case 'wreq':
        this.homeWrite(msg);
        return;
      case 'rmwreq':
        this.homeRmw(msg);
        return;
      case 'wprop':
        this.receiveProp(msg);
        return;
      case 'rmwresp':
        this.rmwResp(msg);
        return;
      case 'syncreq':
        this.receiveSync(msg);
        return;
      case 'syncack': {
        const th = this.threads[msg.thread] as HwThread;
        if (th.state === TS_BLOCKED && th.block === BK_SYNC_ACKS && th.syncSid === msg.sid) {
          th.syncAcksLeft--;
          assert(th.syncAcksLeft >= 0, 'more sync acks than cores');
          if (th.syncAcksLeft === 0) this.syncDone(th, th.syncEntries);
          return;
        }
        const f = th.queue[0];
        assert(f !== undefined && f.kind === 'fence' && f.fenceSid === msg.sid, () => `cpu ${th.cpu}: unexpected sync ack`);
        f.acksLeft--;
        assert(f.acksLeft >= 0, 'more fence acks than cores');
        if (f.acksLeft === 0) {
          th.queue.shift();
          this.globalised(th, f.entries);
          this.pump(th);
        }
        return;
      }
      case 'dbell':
        this.latchDoorbell(this.threadOfCpu(msg.cpu), 'hdbell', msg.id);
        return;
      case 'mfrr':
        this.icpSetMfrr(this.threadOfCpu(msg.cpu), msg.priority, msg.id);
        return;
      case 'fetch':
        this.homeFetch(msg.src, msg.thread, msg.loc);
        return;
      case 'fetchresp':
        this.fetchResp(msg);
        return;
      case 'evict':
        this.homeEvict(msg.src, msg.loc);
        return;
      default:
        assertNever(msg, 'message');
    }
  }

  private receiveSync(m: SyncReq): void {
    this.mergeSyncLocal(m.entries, null);
    this.clock++;
    this.sendMsg(m.src, { t: 'syncack', src: this.id, thread: m.thread, sid: m.sid, clock: this.clock });
  }

  private sendMsg(dst: number, msg: CoreMsg): void {
    assert(dst !== this.id, 'sendMsg to self');
    this.stats.msgsSent++;
    this.send(dst, msg);
  }

  private threadOfCpu(cpu: number): HwThread {
    const tpc = this.topo.threadsPerCore;
    assert(Math.floor(cpu / tpc) === this.id, () => `cpu ${cpu} is not on core ${this.id}`);
    return this.threads[cpu % tpc] as HwThread;
  }

  // ---------------------------------------------------------------------------------------------
  // Interrupts: doorbells, XICS ICP, decrementer, power saving

  private msgsnd(th: HwThread, cpu: number, id: number): void {
    const tpc = this.topo.threadsPerCore;
    let target = cpu;
    if (this.topo.cpuModel === 'power8') {
      // ISA 2.07: the msgsnd tag is a thread-in-core id; the doorbell stays in the core.
      target = this.id * tpc + (cpu % tpc);
    }
    this.clock++;
    this.obs?.event({ e: 'ipi_send', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, via: 'msgsnd', target, id });
    const core = Math.floor(target / tpc);
    if (core === this.id) this.latchDoorbell(this.threads[target % tpc] as HwThread, 'hdbell', id);
    else this.sendMsg(core, { t: 'dbell', src: this.id, srcThread: th.tir, cpu: target, id, clock: this.clock });
  }

  private msgsndp(th: HwThread, tir: number, id: number): void {
    assert(tir >= 0 && tir < this.topo.threadsPerCore, () => `msgsndp tag ${tir} is not a thread of this core`);
    const target = this.threads[tir] as HwThread;
    this.clock++;
    this.obs?.event({ e: 'ipi_send', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, via: 'msgsndp', target: target.cpu, id });
    this.latchDoorbell(target, 'pdbell', id);
  }

  /** An interrupt became pending: a thread spending a `delay` with EE on takes it now and spends
   * the rest of its delay when the interrupt returns. */
  private irqKick(th: HwThread): void {
    if (th.state !== TS_RUN || !th.delaying || !th.ee || th.waitUntil <= this.tick) return;
    if (th.software?.interrupt === undefined) return;
    const frame = th.frames[th.frames.length - 1];
    if (frame === undefined) return;
    frame.delayLeft = th.waitUntil - this.tick;
    th.waitUntil = this.tick;
    th.delaying = false;
  }

  private latchDoorbell(th: HwThread, kind: 'hdbell' | 'pdbell', id: number): void {
    if (kind === 'hdbell') th.hdbell = true;
    else th.pdbell = true;
    this.clock++;
    this.obs?.event({ e: 'irq_raise', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, source: kind, id });
    this.maybeWake(th);
    this.irqKick(th);
  }

  private clearDoorbell(th: HwThread, kind: 'msgclr' | 'msgclrp'): void {
    const was = kind === 'msgclr' ? th.hdbell : th.pdbell;
    if (kind === 'msgclr') th.hdbell = false;
    else th.pdbell = false;
    this.clock++;
    this.obs?.event({ e: 'doorbell_clear', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, kind, wasPending: was });
  }

  private mfrrStore(th: HwThread, cpu: number, priority: number, id: number): void {
    assert(priority >= 0 && priority <= 0xff, () => `MFRR priority ${priority} out of range`);
    this.clock++;
    this.obs?.event({ e: 'ipi_send', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, via: 'mfrr', target: cpu, id });
    const core = Math.floor(cpu / this.topo.threadsPerCore);
    if (core === this.id) this.icpSetMfrr(this.threadOfCpu(cpu), priority, id);
    else this.sendMsg(core, { t: 'mfrr', src: this.id, srcThread: th.tir, cpu, priority, id, clock: this.clock });
  }

  private icpSetMfrr(th: HwThread, priority: number, id: number): void {
    th.mfrr = priority;
    if (priority !== 0xff) th.ipiId = id;
    this.icpPresent(th, id);
  }

  /** Present the IPI when MFRR is more favoured than CPPR and than what is already pending. */
  private icpPresent(th: HwThread, id: number): void {
    if (th.mfrr < th.cppr && (th.xisr === 0 || th.mfrr < th.pendingPri)) {
      const was = th.xisr !== 0;
      th.xisr = 2;
      th.pendingPri = th.mfrr;
      if (!was) {
        this.clock++;
        this.obs?.event({ e: 'irq_raise', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, source: 'external', id });
        this.maybeWake(th);
        this.irqKick(th);
      }
    }
  }

  private icpAccept(th: HwThread): number {
    const xirr = ((th.cppr << 24) | th.xisr) >>> 0;
    if (th.xisr !== 0) {
      th.cppr = th.pendingPri;
      th.xisr = 0;
      th.pendingPri = 0xff;
    }
    return xirr;
  }

  private icpEoi(th: HwThread, xirr: number): void {
    th.cppr = (xirr >>> 24) & 0xff;
    this.icpPresent(th, th.ipiId);
  }

  private raiseDec(th: HwThread): void {
    th.decAt = -1;
    th.decPending = true;
    this.clock++;
    this.obs?.event({ e: 'irq_raise', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, source: 'dec', id: 0 });
    this.maybeWake(th);
    this.irqKick(th);
  }

  private pendingSource(th: HwThread): IrqSource | null {
    if (th.xisr !== 0) return 'external';
    if (th.hdbell) return 'hdbell';
    if (th.pdbell) return 'pdbell';
    if (th.decPending) return 'dec';
    return null;
  }

  private takeInterrupt(th: HwThread, source: IrqSource): void {
    const sw = th.software;
    assert(sw?.interrupt !== undefined, 'interrupt without a handler');
    // Doorbells and the decrementer are edge-like: taking the interrupt consumes them.
    if (source === 'hdbell') {
      th.hdbell = false;
      this.clock++;
      this.obs?.event({ e: 'doorbell_clear', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, kind: 'taken', wasPending: true });
    } else if (source === 'pdbell') {
      th.pdbell = false;
    } else if (source === 'dec') {
      th.decPending = false;
    }
    this.stats.irqsTaken++;
    th.frames.push({ gen: sw.interrupt(source), resume: 0, source, eeSaved: th.ee, delayLeft: 0 });
    th.ee = false;
    this.clock++;
    this.obs?.event({ e: 'irq_take', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, source });
  }

  private nap(th: HwThread, frame: Frame, wake: number): void {
    th.napWake = wake;
    const reason = this.wakeReason(th);
    this.clock++;
    if (reason !== 0) {
      // A pending source ends the power-saving state at once (it is not cleared by waking).
      frame.resume = reason;
      this.obs?.event({ e: 'wake', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, srr1: reason });
      return;
    }
    th.state = TS_NAP;
    this.obs?.event({ e: 'nap', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick });
  }

  private wakeReason(th: HwThread): number {
    const w = th.napWake;
    if (th.xisr !== 0 && (w & WAKE_ON.external) !== 0) return SRR1_WAKE.external;
    if (th.hdbell && (w & WAKE_ON.hdbell) !== 0) return SRR1_WAKE.hdbell;
    if (th.pdbell && (w & WAKE_ON.pdbell) !== 0) return SRR1_WAKE.pdbell;
    if (th.decPending && (w & WAKE_ON.dec) !== 0) return SRR1_WAKE.dec;
    return 0;
  }

  private maybeWake(th: HwThread): void {
    if (th.state !== TS_NAP) return;
    const reason = this.wakeReason(th);
    if (reason === 0) return;
    th.state = TS_RUN;
    const frame = th.frames[th.frames.length - 1];
    assert(frame !== undefined, 'napping thread without a frame');
    frame.resume = reason;
    if (th.waitUntil < this.tick + 1) th.waitUntil = this.tick + 1;
    this.clock++;
    this.obs?.event({ e: 'wake', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, srr1: reason });
  }

  // ---------------------------------------------------------------------------------------------
  // Events and inspection

  private barrierEvent(th: HwThread, kind: string, phase: 'begin' | 'end'): void {
    this.clock++;
    if (this.obs === null) return;
    this.obs.event({ e: 'barrier', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick, kind, phase });
  }

  private emitThreadEnd(th: HwThread): void {
    this.clock++;
    if (this.obs === null) return;
    this.obs.event({ e: 'thread_end', core: this.id, cpu: th.cpu, clock: this.clock, tick: this.tick });
  }

  /** The coherence-latest value of a location homed here. */
  homeValue(loc: number): number {
    assert(this.locs.homes[loc] === this.id, () => `${this.locs.names[loc]} is not homed on core ${this.id}`);
    return this.homeVal[loc] as number;
  }

  homeVersion(loc: number): number {
    return this.homeVer[loc] as number;
  }

  /** A thread's current view of a location (for tests and reports). */
  viewOf(cpu: number, loc: number): { version: number; value: number } {
    const th = this.threadOfCpu(cpu);
    return { version: th.ver[loc] as number, value: this.forwarded(th, loc) };
  }

  threadState(cpu: number): 'run' | 'blocked' | 'nap' | 'done' {
    const s = this.threadOfCpu(cpu).state;
    return s === TS_RUN ? 'run' : s === TS_BLOCKED ? 'blocked' : s === TS_NAP ? 'nap' : 'done';
  }
}
