/**
 * The distributed machine's deterministic half, shared by the core processes and by replay:
 *
 * - `MachineSpec`: what the controller hands every core process (a litmus run or a kernel
 *   scenario, with its seed). `buildCore(spec, id, send)` builds core `id` and its software from
 *   the spec alone, identically in every process and in replay.
 * - `CoreDriver`: a core's loop on its own time. Without a global clock a core's time is its local
 *   step count. Inputs are taken only between steps and recorded as (step, src, link seq, msg);
 *   when nothing is due the driver jumps to the core's next timer, and when nothing at all is
 *   pending it reports `idle` (the process then waits for the bus instead of spinning).
 * - `replayRecord(record)`: feeds each core its recorded inbox at the recorded steps, in one
 *   process, lets its outputs go nowhere but a divergence check (what a core sends on a link must
 *   be what the record says the receiver took with that link sequence number), and returns the
 *   same final state the distributed run gathered.
 *
 * The live rule and the replay rule are one function (`advance`): at step s, take the inputs of
 * s; if the core has work at s, step it and move to s + 1; else jump to the earlier of its next
 * timer and the next known input; with neither, stop (idle). The live loop never knows the next
 * input, so it jumps to the timer; an input that arrives later is then taken at that later step,
 * which is exactly what the record says.
 */
import { assert, Random } from '../stdx/index.js';
import { Core, LocationTable } from '../machine/index.js';
import type { CoreMsg, MachineObserver, MemoryPolicy, ThreadSoftware, Topology } from '../machine/index.js';
import { parseLitmus, evalProp, formatState } from '../litmus/index.js';
import type { LitmusTest, ObsVar } from '../litmus/index.js';
import { shownValue } from '../litmus/ast.js';
import { compile, LITMUS_CORE_MEMORY, litmusSoftware, placementMachine, swarmDraw } from '../litmus/run.js';
import type { Compiled, Placement, ThreadResult } from '../litmus/run.js';
import { resolveMachine } from '../machine/topology.js';
import { Kernel, cpuSoftware, resolveKernel, interruptsJson } from '../kernel/index.js';
import { StressWorkload } from './scenario-workload.js';
import { parseScenarioValue, scenarioCoreMemory } from './scenario.js';
import type { Scenario } from './scenario.js';

import { RECORD_FORMAT, RECORD_VERSION, MODEL_VERSION, InboxCursor, inboxChunks, msgHash } from './record-stream.js';
import type { InboxFile } from './record-stream.js';

export { RECORD_FORMAT, RECORD_VERSION, MODEL_VERSION };

/** One litmus run: the test's text (parsed again in every process), the run seed, a placement. */
export interface LitmusSpec {
  kind: 'litmus';
  file: string;
  text: string;
  runSeed: number;
  placement: Placement;
  instrMax: number;
  /** How the test's locations are kept coherent (absent: broadcast, as records before it). */
  locations?: 'broadcast' | 'directory';
}

/** A kernel scenario: the resolved scenario value, a kernel selection and a seed. */
export interface ScenarioSpec {
  kind: 'scenario';
  scenario: Scenario;
  kernel: string;
  patches: string[];
  revert: string[];
  seed: number;
  /** The kernel as the console names it, when it is not the version alone (`patches:...`, or
   * the version with ` -COMMIT` per reverted patch). */
  label?: string;
}

export type MachineSpec = LitmusSpec | ScenarioSpec;

/** What one core leaves behind (gathered by the controller, reproduced by replay). */
export interface CoreFinal {
  core: number;
  endStep: number;
  /** Locations homed here: [loc, version, value] triples, by location id. */
  homes: number[];
  /** Litmus: registers of the litmus threads on this core, by thread index. */
  regs: Array<{ thread: number; regs: Array<[string, number]>; timedOut: boolean }>;
  /** Scenario: the kernel's bookkeeping for this core's CPUs. */
  kernel?: {
    ipisSent: number;
    ipisHandled: number;
    stuck: Array<{ cpu: number; waitingFor: number; sinceStep: number; where: string }>;
    /** CPUs whose task sleeps until a task it woke has run (absent when none). */
    hung?: HungTask[];
    /** Offline CPUs that woke up, and how often (absent when none did): the 2015 storm. */
    offlineWakes?: Array<{ cpu: number; wakes: number }>;
    /** CPUs of the core offline at the end (absent when none). */
    offline?: number[];
    interrupts: Record<string, number[]>;
    marks: Record<string, number>;
  };
  stats: Record<string, number>;
}

/**
 * A CPU of the core whose task sleeps uninterruptibly until a task it woke has run (the
 * scenarios' `wakeWait`): what the kernel's hung-task detector watches. `comm`/`pid` are the
 * sleeper's; `taskCpu` is the CPU the woken task must run on.
 */
export interface HungTask {
  cpu: number;
  taskCpu: number;
  comm: string;
  pid: number;
  sinceStep: number;
}

/** A built core and how to read its final state. */
export interface BuiltCore {
  core: Core;
  topology: Topology;
  locations: LocationTable;
  /** Kernel instance of this process (scenario runs). */
  kernel?: Kernel;
  /** The workload driving the kernel (scenario runs): a distributed run stops it to drain. */
  workload?: StressWorkload;
  final(endStep: number): CoreFinal;
  /** For the stop conditions: CPUs of this core stuck in csd_lock_wait since a step. */
  stuck(): Array<{ cpu: number; waitingFor: number; sinceStep: number; where: string }>;
  /** For the stop conditions: CPUs of this core whose task sleeps until a woken task has run. */
  hung(): HungTask[];
  /** For the stop conditions: the most wake-ups of one offline CPU of this core. */
  offlineWakesMax(): number;
  /** The live loss watch (KVM scenarios): doorbells of this core's CPUs dropped with message lanes
   * left pending and unread for half a second of the scenario's clock (Kernel.LOSS_CONFIRM_SECS) and
   * not found since, as flat triples [cpu, lanes (bit per message), tick of the drop]. */
  lostIpis(): number[];
  ipisHandled(): number;
  ipisSent(): number;
}

/** The machine shape of a spec (without building anything). */
export function topologyOf(spec: MachineSpec): Topology {
  if (spec.kind === 'litmus') {
    const test = parseLitmus(spec.text, spec.file);
    return placementMachine(test.threads.length, spec.placement).topology;
  }
  return resolveMachine(spec.scenario.machine);
}

export function coreCount(t: Topology): number {
  return t.sockets * t.coresPerSocket;
}

/** Builds core `id` of the machine `spec` describes. Same spec, same core, in any process. */
export function buildCore(
  spec: MachineSpec,
  id: number,
  send: (dst: number, msg: CoreMsg) => void,
  nowStep: () => number,
  observer: MachineObserver | null = null,
): BuiltCore {
  return spec.kind === 'litmus' ? buildLitmusCore(spec, id, send, observer) : buildScenarioCore(spec, id, send, nowStep, observer);
}

function homesOf(core: Core, locs: LocationTable, id: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < locs.size; l++) {
    if (locs.homes[l] === id) out.push(l, core.homeVersion(l), core.homeValue(l));
  }
  return out;
}

function statsOf(core: Core): Record<string, number> {
  return { ...core.stats };
}

// ---------------------------------------------------------------------------------------------
// Litmus

/** The litmus machine of one run: the same draws as `runLitmus`, so histograms compare. */
function litmusSetup(spec: LitmusSpec): {
  test: LitmusTest;
  topology: Topology;
  cpus: number[];
  locNames: string[];
  locIds: number[];
  locations: LocationTable;
  policy: MemoryPolicy;
  startSkewTicksMax: number;
  startStaggerTicks: number;
  compiled: Compiled;
} {
  const test = parseLitmus(spec.text, spec.file);
  const compiled = compile(test);
  const { topology, cpus } = placementMachine(test.threads.length, spec.placement);
  const ncores = coreCount(topology);
  const locNames = [...compiled.locIndex.keys()];
  const homes = new Random(spec.runSeed, 'homes');
  const locations = new LocationTable();
  const locIds = locNames.map((name) => locations.add(name, homes.int(ncores), test.initMem.get(name) ?? 0, spec.locations !== 'directory'));
  locations.freeze();
  const draw = swarmDraw(new Random(spec.runSeed, 'swarm'));
  return { test, topology, cpus, locNames, locIds, locations, policy: draw.policy, startSkewTicksMax: draw.startSkewTicksMax, startStaggerTicks: draw.startStaggerTicks, compiled };
}

function buildLitmusCore(
  spec: LitmusSpec,
  id: number,
  send: (dst: number, msg: CoreMsg) => void,
  observer: MachineObserver | null,
): BuiltCore {
  const s = litmusSetup(spec);
  const results = new Map<number, ThreadResult>();
  const byCpu = new Map<number, ThreadSoftware>();
  s.cpus.forEach((cpu, t) => {
    const out: ThreadResult = { regs: new Map(s.compiled.initRegs[t]), timedOut: false };
    results.set(t, out);
    byCpu.set(cpu, litmusSoftware(s.compiled, t, out, spec.instrMax, s.locIds));
  });
  const core = new Core({
    id,
    topology: s.topology,
    locations: s.locations,
    seed: spec.runSeed,
    policy: s.policy,
    software: (cpu) => byCpu.get(cpu) ?? null,
    send,
    observer,
    ...LITMUS_CORE_MEMORY,
    startSkewTicksMax: s.startSkewTicksMax,
    startStaggerTicks: s.startStaggerTicks,
  });
  const tpc = s.topology.threadsPerCore;
  return {
    core,
    topology: s.topology,
    locations: s.locations,
    final(endStep) {
      const regs: CoreFinal['regs'] = [];
      s.cpus.forEach((cpu, t) => {
        if (Math.floor(cpu / tpc) !== id) return;
        const r = results.get(t) as ThreadResult;
        regs.push({ thread: t, regs: [...r.regs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), timedOut: r.timedOut });
      });
      return { core: id, endStep, homes: homesOf(core, s.locations, id), regs, stats: statsOf(core) };
    },
    stuck: () => [],
    hung: () => [],
    offlineWakesMax: () => 0,
    lostIpis: () => [],
    ipisHandled: () => 0,
    ipisSent: () => 0,
  };
}

/** The outcome of one litmus run, from every core's final state. */
export interface LitmusOutcome {
  key: string;
  hit: boolean;
  /** Left out by the test's `filter`. */
  filtered: boolean;
  /** Why the run does not count (a thread looped past its bound), or undefined. */
  invalid: string | undefined;
  state: Map<string, number>;
}

export function litmusOutcome(spec: LitmusSpec, finals: CoreFinal[]): LitmusOutcome {
  const test = parseLitmus(spec.text, spec.file);
  const compiled = compile(test);
  const locNames = [...compiled.locIndex.keys()];
  const mem = new Map<string, number>();
  const regsOf = new Map<number, Map<string, number>>();
  let timedOut = false;
  for (const f of finals) {
    for (let i = 0; i < f.homes.length; i += 3) {
      const name = locNames[f.homes[i] as number];
      assert(name !== undefined, () => `litmus location ${f.homes[i]} exists`);
      mem.set(name, f.homes[i + 2] as number);
    }
    for (const r of f.regs) {
      regsOf.set(r.thread, new Map(r.regs));
      if (r.timedOut) timedOut = true;
    }
  }
  assert(regsOf.size === test.threads.length, () => `every litmus thread reported (${regsOf.size} of ${test.threads.length})`);
  const lookup = (v: ObsVar): number | string => {
    if (v.kind === 'loc') return shownValue(mem.get(v.loc) ?? test.initMem.get(v.loc) ?? 0, locNames);
    return shownValue(regsOf.get(v.thread)?.get(v.reg) ?? 0, locNames);
  };
  const key = formatState(compiled.vars, lookup);
  const state = new Map<string, number>();
  regsOf.forEach((regs, t) => {
    for (const reg of compiled.regNames[t] as string[]) state.set(`${t}:${reg}`, regs.get(reg) ?? 0);
  });
  for (const [k, v] of mem) state.set(k, v);
  return {
    key,
    hit: evalProp(test.condition, lookup),
    filtered: test.filter !== undefined && !evalProp(test.filter, lookup),
    invalid: timedOut ? `a thread ran past ${spec.instrMax} instructions (a loop that never exits, or one longer than --instr-max)` : undefined,
    state,
  };
}

// ---------------------------------------------------------------------------------------------
// Kernel scenarios

function buildScenarioCore(
  spec: ScenarioSpec,
  id: number,
  send: (dst: number, msg: CoreMsg) => void,
  nowStep: () => number,
  observer: MachineObserver | null,
): BuiltCore {
  const s = parseScenarioValue(spec.scenario, `scenario ${spec.scenario.name}`);
  const topo = resolveMachine(s.machine);
  const patches = resolveKernel({ kernel: spec.kernel, patches: spec.patches, revert: spec.revert });
  const wl = new StressWorkload(s, topo, spec.seed, () => nowStep());
  const k = new Kernel({
    topology: topo,
    patches,
    ablations: { demuxReadRelaxed: s.ablations.demuxReadRelaxed },
    csdPairs: wl.csdPairs(),
    tasks: wl.tasks,
    kvm: s.kvm,
  });
  k.locs.freeze();
  const core = new Core({
    id,
    topology: topo,
    locations: k.locs,
    seed: spec.seed,
    // As in sim (early loads, e.g. the 2012 wake_list read, need the view history).
    ...scenarioCoreMemory(s),
    software: (cpu) => cpuSoftware(k, wl, cpu),
    send,
    observer,
  });
  const tpc = topo.threadsPerCore;
  const mine = (cpu: number): boolean => Math.floor(cpu / tpc) === id;
  // The loss watch reads only this core's CPUs' message words, which this core homes.
  if (s.kvm) k.lossWatch = { now: nowStep, messageWord: (cpu) => core.homeValue(k.ipiMessage[cpu] as number) };
  const stuck = (): Array<{ cpu: number; waitingFor: number; sinceStep: number; where: string }> =>
    k.cpus
      .map((c, cpu) => ({ c, cpu }))
      .filter(({ c, cpu }) => mine(cpu) && c.waitingFor >= 0)
      .map(({ c, cpu }) => ({ cpu, waitingFor: c.waitingFor, sinceStep: c.waitingSince, where: `csd_lock_wait (${c.waitingWhere})` }));
  const offline = (): number[] => k.cpus.flatMap((c, cpu) => (mine(cpu) && !c.online ? [cpu] : []));
  const offlineWakes = (): Array<{ cpu: number; wakes: number }> =>
    k.cpus.flatMap((c, cpu) => (mine(cpu) && c.offlineWakes > 0 ? [{ cpu, wakes: c.offlineWakes }] : []));
  const hung = (): HungTask[] =>
    k.cpus.flatMap((c, cpu) => (mine(cpu) && c.blockedOn !== null ? [{ cpu, taskCpu: c.blockedOn.cpu, comm: c.comm, pid: c.pid, sinceStep: c.blockedSince }] : []));
  return {
    core,
    topology: topo,
    locations: k.locs,
    kernel: k,
    workload: wl,
    final(endStep) {
      const all = interruptsJson(k);
      const interrupts: Record<string, number[]> = {};
      for (const [line, perCpu] of Object.entries(all)) interrupts[line] = perCpu.map((n, cpu) => (mine(cpu) ? n : 0));
      const marks: Record<string, number> = {};
      for (const [m, n] of [...k.marks.counts.entries()].sort()) marks[m] = n;
      const [sleeping, wakes, down] = [hung(), offlineWakes(), offline()];
      return {
        core: id,
        endStep,
        homes: homesOf(core, k.locs, id),
        regs: [],
        // The hung tasks, offline wake-ups and offline CPUs only when there are some.
        kernel: {
          ipisSent: k.ipisSent, ipisHandled: k.ipisHandled, stuck: stuck(),
          ...(sleeping.length > 0 ? { hung: sleeping } : {}), ...(wakes.length > 0 ? { offlineWakes: wakes } : {}), ...(down.length > 0 ? { offline: down } : {}),
          interrupts, marks,
        },
        stats: statsOf(core),
      };
    },
    stuck,
    hung,
    // The kernel's own storm counter: only this core's CPUs run in this process.
    offlineWakesMax: () => k.offlineWakesMax,
    lostIpis: () => {
      k.confirmLosses(s.clock.ticksPerSecond);
      return k.lossesOutstanding().flatMap((l) => [l.cpu, l.lanes, l.tick]);
    },
    ipisHandled: () => k.ipisHandled,
    ipisSent: () => k.ipisSent,
  };
}

// ---------------------------------------------------------------------------------------------
// The loop rule, shared by live cores and replay

/** One input as recorded: [step, src, link seq, msg]. */
export type InboxEntry = [number, number, number, CoreMsg];

/** `paced`: the core waits for a timer that the wall clock has not reached yet (live only).
 * `sent`: the last step sent a bus message (live only, see CoreDriver.sent). */
export type AdvanceResult = 'idle' | 'budget' | 'limit' | 'paced' | 'sent';

export class CoreDriver {
  /** The step the core is at: inputs taken now are taken at this step. */
  step = 0;
  steps = 0;
  /** Bus messages sent in the current step, counted by a live host's send callback: `advance`
   * stops after such a step, so that the host hands them to the transport at once (the NATS client
   * writes what was published when the host's synchronous work ends) instead of after a whole
   * slice. Replay never counts: where a live slice ends changes nothing the record holds. */
  sent = 0;

  constructor(readonly core: Core) {}

  /** Takes one input at the current step. */
  take(src: number, msg: CoreMsg): void {
    assert(this.core.tick <= this.step, 'a core never runs ahead of its driver');
    this.core.tick = this.step;
    this.core.receive(src, msg);
  }

  /**
   * Runs the core until it has nothing to do, at most `budget` steps, never reaching `limitStep`
   * (an end step), and jumping no further than `horizon` (the step of the next known input) nor,
   * over idle time, than `jumpMax` (live pacing).
   */
  advance(budget: number, horizon = Infinity, limitStep = Infinity, jumpMax = Infinity): AdvanceResult {
    assert(budget > 0, 'a positive step budget');
    for (let i = 0; i < budget; i++) {
      if (this.step >= limitStep) return 'limit';
      // Inputs are due at this step (replay): they are taken before the core steps here.
      if (this.step >= horizon) return 'idle';
      const t = this.core.nextEventTick();
      if (t <= this.step) {
        this.core.step(this.step);
        this.step++;
        this.steps++;
        if (this.sent > 0) {
          this.sent = 0;
          return 'sent';
        }
        continue;
      }
      const next = Math.min(t, horizon, limitStep);
      if (next === Infinity) return 'idle';
      assert(next > this.step, 'the driver only moves forward');
      if (next > jumpMax) {
        // Live pacing: idle time passes no faster than the wall clock allows. A chain of partial
        // jumps with no input between them ends where one jump would, so replay needs no pacing.
        if (jumpMax > this.step) this.step = jumpMax;
        return 'paced';
      }
      this.step = next;
    }
    return 'budget';
  }
}

// ---------------------------------------------------------------------------------------------
// Records and replay

export interface CoreRecord {
  core: number;
  /** The step at which the core stopped (it took inputs up to it, and stepped before it). */
  endStep: number;
  /** Inputs; the link seq is the sender's transport number (absolute over the process life).
   * In memory (small records), or on disk in `inboxFile` (see record-stream.ts). */
  inbox?: InboxEntry[];
  inboxFile?: InboxFile;
  /** The number of inputs (records on disk say it). */
  inputs?: number;
  /** Per destination core: the sender's last link seq before this machine started. */
  sendBase: Record<string, number>;
}

/** A recorded distributed run: enough to replay it in one process. */
export interface RunRecord {
  format: typeof RECORD_FORMAT;
  version: typeof RECORD_VERSION;
  runId: string;
  spec: MachineSpec;
  topology: Topology;
  /** ipiscope version and the software identity (litmus test or kernel label). */
  software: { ipiscope: string; identity: string; model?: number };
  cores: CoreRecord[];
  /** What the distributed run gathered, for the equality check. */
  finals: CoreFinal[];
  /** The distributed run's verdict object (printed by `run --json`). */
  verdict: Record<string, unknown>;
  /** 1: the cores' Lamport clocks advanced the same with or without an observer, so the clocks in
   * the recorded messages agree with the events a replay emits. Absent in older records, whose
   * replayed events of different cores can be ordered against causality. */
  lamport?: 1;
}

export interface ReplayResult {
  finals: CoreFinal[];
  /** Differences between what cores sent and what the record says their peers received. */
  divergences: string[];
  /** Differences between the replayed and the recorded final state. */
  mismatches: string[];
}

const REPLAY_STEP_BUDGET = 1 << 20;

/** Replays a record in this process and compares the result with the recorded one. */
export function replayRecord(rec: RunRecord, observer: MachineObserver | null = null): ReplayResult {
  const { finals, links } = replayCores(rec, (_cr, id, send, nowStep) => ({ built: buildCore(rec.spec, id, send, nowStep, observer), stopWorkload: () => undefined, drainStep: Infinity }));
  return { finals, divergences: links.divergences(), mismatches: compareFinals(rec, finals) };
}

/** A core to replay, as `replayCores` asks for it: built from the spec, with the step (Infinity:
 * none) at which its workload stops and how to stop it (the drain of a distributed run). */
export interface ReplayedCore {
  built: BuiltCore;
  stopWorkload: () => void;
  drainStep: number;
}

/**
 * The replay loop, for every replay: each core, in core order, is fed its recorded inputs at the
 * recorded steps, one chunk at a time, with its workload stopped at its drain step (the driver is
 * held at that step so that the stop falls between the same two steps as it did live); what it
 * sends and takes goes to `ReplayLinks`.
 */
export function replayCores(
  rec: RunRecord,
  build: (cr: CoreRecord, id: number, send: (dst: number, msg: CoreMsg) => void, nowStep: () => number) => ReplayedCore,
): { finals: CoreFinal[]; links: ReplayLinks } {
  assert(rec.format === RECORD_FORMAT && rec.version === RECORD_VERSION, 'a record as read by readRecordFile');
  const links = new ReplayLinks(rec);
  const finals: CoreFinal[] = [];
  for (const cr of [...rec.cores].sort((a, b) => a.core - b.core)) {
    const id = cr.core;
    let driver: CoreDriver | null = null;
    const { built, stopWorkload, drainStep } = build(cr, id, (dst, msg) => links.sent(id, dst, msg, driver?.step ?? 0), () => driver?.step ?? 0);
    const d = new CoreDriver(built.core);
    driver = d;
    links.drainStep[id] = drainStep;
    assert(drainStep === Infinity || drainStep <= cr.endStep, () => `core ${id}: drain step ${drainStep} after the end step ${cr.endStep}`);
    let stopped = false;
    // The workload stops at the drain step, never past it (the horizon holds the driver there).
    const stopIfDue = (): void => {
      if (stopped || d.step < drainStep) return;
      assert(d.step === drainStep, () => `core ${id}: replay passed the drain step`);
      stopWorkload();
      stopped = true;
    };
    const inbox = new InboxCursor(inboxChunks(cr, `core ${id}`, coreCount(rec.topology)));
    const takeDue = (): void => {
      while (inbox.peekStep() === d.step) {
        const [step, src, seq, msg] = inbox.next();
        links.took(id, src, seq, msg, step);
        d.take(src, msg);
      }
    };
    for (let rounds = 0; ; rounds++) {
      assert(rounds < 1e9, () => `core ${id}: replay did not end`);
      stopIfDue();
      takeDue();
      const horizon = Math.min(inbox.peekStep(), stopped ? Infinity : drainStep);
      assert(horizon >= d.step, () => `core ${id}: record out of step order at entry ${inbox.taken}`);
      const r = d.advance(REPLAY_STEP_BUDGET, horizon, cr.endStep);
      if (r === 'limit') {
        stopIfDue();
        takeDue();
        break;
      }
      if (r === 'idle' && horizon === Infinity) break;
    }
    assert(inbox.done, () => `core ${id}: ${inbox.rest()} recorded inputs after its end step`);
    finals.push(built.final(cr.endStep));
  }
  return { finals, links };
}

/** A growable typed array of numbers. */
class Grow {
  a: Float64Array;
  n = 0;
  constructor(cap = 16) {
    this.a = new Float64Array(cap);
  }
  push(x: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }
}

/**
 * What every core sent and took during a replay, per link, compactly (a content hash and a step
 * per message, not the messages): a long run's ten million messages fit. It checks the record
 * (every message a core took must be one its sender sent again, with the same link seq and the
 * same content) and measures the bus hops of the run (receiver's step when taken minus sender's
 * step when sent).
 */
export class ReplayLinks {
  private readonly n: number;
  /** Per link src * n + dst: the hash and step of each message sent, in link order. */
  private readonly sentHash: Grow[] = [];
  private readonly sentStep: Grow[] = [];
  /** Per link: seq, hash and step of each message taken, in the receiver's order. */
  private readonly takenSeq: Grow[] = [];
  private readonly takenHash: Grow[] = [];
  private readonly takenStep: Grow[] = [];
  private readonly base: Map<number, Record<string, number>>;
  /** Per core: the step its workload stopped at (the drain; Infinity: none), set by the replay. */
  readonly drainStep: number[];

  constructor(private readonly rec: RunRecord) {
    this.n = coreCount(rec.topology);
    this.drainStep = new Array<number>(this.n).fill(Infinity);
    this.base = new Map(rec.cores.map((c) => [c.core, c.sendBase]));
  }

  private at(arr: Grow[], link: number): Grow {
    return (arr[link] ??= new Grow());
  }

  sent(src: number, dst: number, msg: CoreMsg, step: number): void {
    if (dst < 0 || dst >= this.n) return;
    const l = src * this.n + dst;
    this.at(this.sentHash, l).push(msgHash(msg));
    this.at(this.sentStep, l).push(step);
  }

  took(dst: number, src: number, seq: number, msg: CoreMsg, step: number): void {
    const l = src * this.n + dst;
    this.at(this.takenSeq, l).push(seq);
    this.at(this.takenHash, l).push(msgHash(msg));
    this.at(this.takenStep, l).push(step);
  }

  /** Index in the sender's link order of a taken message's seq. */
  private index(src: number, dst: number, seq: number): number {
    return seq - (this.base.get(src)?.[String(dst)] ?? 0) - 1;
  }

  /** Messages taken that their sender did not send again, or sent with other content (at most 20). */
  divergences(): string[] {
    const out: string[] = [];
    for (const cr of [...this.rec.cores].sort((a, b) => a.core - b.core)) {
      const dst = cr.core;
      for (let src = 0; src < this.n; src++) {
        const l = src * this.n + dst;
        const seqs = this.takenSeq[l];
        if (seqs === undefined) continue;
        const hashes = this.takenHash[l] as Grow;
        const steps = this.takenStep[l] as Grow;
        const sh = this.sentHash[l];
        for (let k = 0; k < seqs.n && out.length < 20; k++) {
          const seq = seqs.a[k] as number;
          const i = this.index(src, dst, seq);
          if (sh === undefined || i < 0 || i >= sh.n) {
            out.push(`core ${dst} took #${seq} from core ${src} at step ${steps.a[k] as number}, which core ${src} never sent in replay`);
          } else if (sh.a[i] !== hashes.a[k]) {
            out.push(`link ${src}->${dst} #${seq} (taken at step ${steps.a[k] as number}): the record's message is not the one core ${src} sent again in replay (content hash differs)`);
          }
        }
      }
    }
    return out;
  }

  /**
   * Bus hops in ticks (value -> count) over every message taken whose send was replayed, up to the
   * drain: a message sent or taken once its core's workload had stopped is left out (a paced
   * drain may run a faster clock, CoreLoopOptions.drainTickUs, where a hop costs more ticks).
   * `toDrain` false: every message, as records made before that counted them.
   */
  hopTicks(toDrain = true): Map<number, number> {
    const h = new Map<number, number>();
    for (let l = 0; l < this.n * this.n; l++) {
      const seqs = this.takenSeq[l];
      const ss = this.sentStep[l];
      if (seqs === undefined || ss === undefined) continue;
      const src = Math.floor(l / this.n);
      const dst = l % this.n;
      const steps = this.takenStep[l] as Grow;
      const srcDrain = toDrain ? (this.drainStep[src] as number) : Infinity;
      const dstDrain = toDrain ? (this.drainStep[dst] as number) : Infinity;
      for (let k = 0; k < seqs.n; k++) {
        const i = this.index(src, dst, seqs.a[k] as number);
        if (i < 0 || i >= ss.n) continue;
        if ((steps.a[k] as number) >= dstDrain || (ss.a[i] as number) >= srcDrain) continue;
        const t = (steps.a[k] as number) - (ss.a[i] as number);
        h.set(t, (h.get(t) ?? 0) + 1);
      }
    }
    return h;
  }
}

/** Differences between the replayed and the recorded final states. */
export function compareFinals(rec: RunRecord, finals: CoreFinal[]): string[] {
  const mismatches: string[] = [];
  for (const f of finals) {
    const r = rec.finals.find((x) => x.core === f.core);
    if (r === undefined) mismatches.push(`core ${f.core}: no recorded final state`);
    else if (JSON.stringify(r) !== JSON.stringify(f)) mismatches.push(`core ${f.core}: final state differs (${firstDiff(r, f)})`);
  }
  return mismatches;
}

function firstDiff(a: CoreFinal, b: CoreFinal): string {
  for (const k of Object.keys(a) as (keyof CoreFinal)[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return `${k}: recorded ${JSON.stringify(a[k]).slice(0, 200)}, replayed ${JSON.stringify(b[k]).slice(0, 200)}`;
  }
  return 'field set';
}
