/**
 * `ipiscope run`: a kernel scenario on one process per core over NATS, ended by the kernel
 * model's verdict conditions, drained (the workload stops and the machine runs until nothing is in
 * flight; see controller.ts), always recorded (the record is the run directory's journal), and
 * judged by the ignored-IPI checker over the recorded run replayed in this process: events of all
 * cores merged in Lamport-clock order, which respects causality, so the checker sees every store
 * before its version and every send before its handling.
 *
 * After a drain nothing is in flight, so the judgement needs no settle time: every IPI whose
 * message byte is still unconsumed is ignored, every CPU still in csd_lock_wait waits forever
 * (hang). The checker's ignored set is cross-checked against the final ipi_message words at their
 * homes; if the two disagree the run is invalid, never judged on either alone.
 *
 * The verdict object is a pure function of (spec, the cores' final states, the end reason), so
 * `ipiscope replay` recomputes it from the replayed cores and must find the same bytes.
 */
import { assert, makeTempDir, removeTempDir } from '../stdx/index.js';
import type { MachineEvent, MachineObserver } from '../machine/index.js';
import { Console, Kernel, resolveKernel, softLockupSecs } from '../kernel/index.js';
import { IgnoredIpiChecker } from '../checker/ignored-ipi.js';
import { HostIpiRaceObserver, type HostIpiInterleaving } from '../checker/host-ipi-race.js';
import { LostIpiObserver, type LostFoundIpi } from '../checker/lost-ipi.js';
import type { IgnoredIpi } from '../checker/ignored-ipi.js';
import type { FaultPlan } from '../bus/fault-plan.js';
import { coreCount, MODEL_VERSION, RECORD_FORMAT, RECORD_VERSION, topologyOf } from '../sim/replay.js';
import { writeRecordFile } from '../sim/record-stream.js';
import { replayRun, type RunReplayResult } from '../core/index.js';
import type { CoreFinal, RunRecord, ScenarioSpec } from '../sim/replay.js';
import { StressWorkload } from '../sim/scenario-workload.js';
import type { Scenario } from '../sim/scenario.js';
import { busPolicyOf } from '../sim/scenario.js';
import { DEFAULT_CORE_LOOP } from '../bus/control.js';
import type { HopTicks } from '../core/run-core.js';
import { Controller, DRAIN_TIMEOUT_MS, type StartedController } from './controller.js';
import { TICKS_MAX_FOR_GOAL } from '../sim/run-sim.js';
import type { DrainOutcome, EndReason, FaultPlanUpdateNote, GenerationResult, GenerationTracing, HangWait, TraceOutcome } from './controller.js';
import { redactNatsUrls } from '../bus/nats-url.js';
import { laneOf } from '../machine/locations.js';

export interface RunScenarioOptions {
  scenario: Scenario;
  kernel?: string;
  /** As sim's --patches: exactly this patch set instead of the version. */
  patches?: string[];
  /** As sim's --revert: commits taken out of the version. */
  revert?: string[];
  seed?: number;
  servers?: string[];
  /** Spread cores over these server lists (core i uses coreServers[i % n]). */
  coreServers?: string[][];
  durationMs: number;
  faultPlan?: FaultPlan;
  /** IPI goal (default: the scenario's limit). */
  ipis?: number;
  /** Bound on emulated time: the run ends (then drains) at the first status wave that finds a core
   * past this tick, as sim's --ticks-max (default: none but the duration). */
  ticksMax?: number;
  /** Where to write the record (JSON); always kept in memory for the checker. */
  recordFile?: string;
  log?: (line: string) => void;
  /** Wall-clock µs per idle tick of a core (default 10). */
  idleTickUs?: number;
  /** Ticks a core may run ahead of the wall clock after an input (default: the loop's). */
  aheadTicksMax?: number;
  /** Pace every core to one wall clock at this many µs per tick (0: unpaced; default: the
   * scenario's `distributed.tickUs`, else 0). See `pacedScenario`. */
  tickUs?: number;
  /** The run's id (a subject token, unique on its NATS; default: made from the pid and the time). */
  runId?: string;
  /** Adopt core processes started by someone else (`--run <runId> --core N`, e.g. docker compose)
   * instead of spawning them: the controller waits up to `adoptTimeoutMs` (default 60 s) for all
   * of them to register, and tells them to exit at the end. Needs `runId` and `servers`. */
  adopt?: boolean;
  adoptTimeoutMs?: number;
  /** Called with the controller once the cores run (tests, live fault updates). */
  onStarted?: (pids: number[]) => void;
  /** Called with the run's id when the workload has stopped (the drain follows). */
  onEnding?: (runId: string) => void;
  /** Wall-clock bound of the drain (ms; default: the controller's DRAIN_TIMEOUT_MS). */
  drainTimeoutMs?: number;
  /** Trace the run: every core's spans, merged into `traceFile`, and/or sent to `otlpUrl`. */
  trace?: Pick<GenerationTracing, 'traceFile' | 'otlpUrl' | 'sampleRatio'>;
  /**
   * Before the run, run the same scenario and kernel this long (wall ms) on the next seed, on the
   * same core processes, and throw it away: the run then starts on JIT-warm cores. A core process
   * runs a small share of the workload, so V8 takes minutes to optimize its code; until then its
   * bus hops cost 3-4 times sim's ticks (see the README's Known limits). Default 0: none.
   */
  warmUpMs?: number;
}

/** What the warm-up generation (`warmUpMs`) did; its machine is not judged and not recorded. */
export interface WarmUpOutcome {
  seed: number;
  /** Wall ms from its StartRun to the end of its drain. */
  ms: number;
  end_reason: EndReason;
  /** IPIs handled when its workload stopped (the last status wave). */
  ipis_handled: number;
}


/** An ignored IPI; with KVM, the 2019 interleaving whose host_ipi overwrite preceded it (as sim names it);
 * `target_offline`: the target CPU is offline at the end (the IPI was sent as it went down; as sim says). */
export type RunIgnoredIpi = IgnoredIpi & { interleaving?: HostIpiInterleaving; target_offline?: true };

/** The `--json` verdict of `run` (the same keys as `sim`, plus the distributed ones). */
export interface RunVerdict {
  verdict: 'ok' | 'hang' | 'storm' | 'invalid';
  /** CPUs offline at the end and how often each woke while offline (as sim's `offline_wakes`). */
  offline_wakes: Record<string, number>;
  /** The kernel's commits applied (as sim's `patches`). */
  patches: string[];
  /** How often each named path of the kernel model was taken, over every core (as sim's `marks`). */
  marks: Record<string, number>;
  scenario: string;
  seed: number;
  kernel: string;
  ipis_sent: number;
  ipis_handled: number;
  ignored: RunIgnoredIpi[];
  /** With KVM: IPIs lost to a doorbell taken as a guest wake-up and found later, as sim's
   * `lost_found` (ticks on the target's core). Absent from records made before it existed. */
  lost_found?: LostFoundIpi[];
  lockups: Array<{ kind: string; cpu: number; seconds: number; line: string }>;
  interrupts: Record<string, number[]>;
  /**
   * CPUs that wait at the end; `forever`: on a drained, quiet machine (it never returns). `kind`:
   * `csd_lock_wait`, spinning for CPU `waiting_for`; `hung-task`, a task asleep until a task it woke
   * has run on CPU `waiting_for` (the 2012 wake_list hang).
   */
  stuck: Array<{ kind: 'csd_lock_wait' | 'hung-task'; cpu: number; where: string; waiting_for: number; since_steps: number; forever: boolean }>;
  end_reason: EndReason;
  /** The run was drained before it was judged (false: ended invalid before the drain). */
  drained: boolean;
  /** The wait the controller judged hung, on the machine's progress (see controller.ts). */
  hang_wait?: HangWait;
  /** Paced runs: the time scale and how well the cores kept to it (see `TimeScale`). */
  time_scale?: TimeScale;
  cores: number;
  steps_max: number;
  invalid_reason?: string;
  console: string;
}

export interface RunScenarioResult {
  verdict: RunVerdict;
  /** Fields that vary from run to run of the same record (wall time, bus, processes). */
  live: {
    processes: number;
    wall_ms: number;
    /** Wall time of the machine alone (StartRun to the end), without spawning and gathering. */
    generation_ms: number;
    bus: Record<string, number>;
    faults_injected: Record<string, number>;
    /** The bus faults injected, by link (`src->dst`) and kind. */
    faults_by_link: Record<string, Record<string, number>>;
    /** Fault plans sent live during the run (`ipiscope faults`). */
    fault_plan_updates: FaultPlanUpdateNote[];
    status_waves: number;
    /** [ms after the machine started, IPIs handled] per status wave until the workload stopped
     * (GenerationResult.progress): rates over a window of the run, e.g. after a warm-up. */
    progress: Array<[number, number]>;
    bus_msgs_per_s: number;
    ipis_per_s: number;
    /** How the drain went (waves, wall time; absent when the run ended invalid before it). */
    drain?: DrainOutcome;
    /** Wall ms from the start of the command (spawning included) until the controller saw what
     * ended the run (a hang, the IPI goal, the duration), before the drain and the judgement. */
    end_seen_ms: number;
    /** Wall ms from the start of the command until the machine's tick 0: spawning the core
     * processes, their start-up, and (paced) the common epoch every core waits for. */
    start_ms: number;
    /** The longest csd_lock_wait seen during the run, in the waiter's own steps. */
    wait_steps_max: number;
    /** The largest per-core-process memory seen (MB): `rss_mb_max`, `heap_used_mb_max`, ... */
    core_memory: Record<string, number>;
    /** Traced runs: the merged span file. */
    trace?: TraceOutcome;
    /** Why the record file could not be written (the verdict stands; the record is lost). */
    record_error?: string;
    /** The warm-up generation before the run (`warmUpMs`); `start_ms` includes it. */
    warm_up?: WarmUpOutcome;
  };
}

/**
 * The spec every core builds its machine from. The kernel's patches are spelled out: the cores
 * resolve `{kernel, patches, revert}`, where a `patches` list (even an empty one) replaces the
 * version, so an empty list would run every version as a kernel without any patch.
 */
export function scenarioSpecOf(s: Scenario, kernel: string | undefined, seed: number | undefined, sel: { patches?: string[]; revert?: string[] } = {}): ScenarioSpec {
  const k = kernel ?? s.kernel;
  // As sim's --patches / --revert: a patch list instead of the version, commits taken out of it.
  const set = resolveKernel({ kernel: k, ...(sel.patches !== undefined ? { patches: sel.patches } : {}), ...(sel.revert !== undefined ? { revert: sel.revert } : {}) });
  return { kind: 'scenario', scenario: s, kernel: k, patches: set.list(), revert: [], seed: seed ?? s.seed, ...(set.label !== k ? { label: set.label } : {}) };
}

/** The kernel as the console and the record name it. */
export function specLabel(spec: ScenarioSpec): string {
  return spec.label ?? spec.kernel;
}

/**
 * A paced run's time scale. `tick_us` of wall time per tick for every core; one emulated second
 * is `ticks_per_second` ticks, the scenario's own, as in `sim`. `lag`: how far cores fell behind
 * the clock (live, from the cores; a core behind for too long made the run invalid).
 * `hop_ticks`: what a bus message cost in ticks (receiver's step when taken minus sender's step
 * when sent, over every message of the run, from the replay), against `sim_hop_ticks_mean`, the
 * simulated bus's mean delay on a link within a socket and across sockets.
 */
export interface TimeScale {
  tick_us: number;
  ticks_per_second: number;
  lag: PaceLag;
  /** `to_drain`: the hops up to the drain (absent in records made before: every message's). */
  hop_ticks?: { messages: number; mean: number; p50: number; p90: number; p99: number; max: number; to_drain?: true };
  sim_hop_ticks_mean?: [number, number];
}

/** Pacing as the cores saw it (ticks behind the clock at the end of their slices, once caught up). */
export interface PaceLag {
  lag_ticks_max: number;
  lag_ticks_mean: number;
  /** Wall ms spent more than `lag_ticks_limit` behind, all cores together, and the longest stretch. */
  behind_ms: number;
  behind_stretch_ms_max: number;
  lagging_cores: number;
  lag_ticks_limit: number;
  /** The slowest core's time from tick 0 until it first reached the clock (startup). */
  catch_up_ms_max: number;
  /** CPU time of all core processes during the run, their loop's slices and timer sleeps. */
  cores_cpu_ms: number;
  slices: number;
  sleeps: number;
  /** Slices that found nothing due: timer wakes before the tick they slept for. */
  idle_wakes: number;
}

/**
 * The scenario a run paces with: `tickUs` when given (0 turns pacing off), else the scenario's
 * own. The result travels in the spec, so the record (and replay) know the run's time scale.
 */
export function pacedScenario(s: Scenario, tickUs: number | undefined): Scenario {
  if (tickUs === undefined) return s;
  return { ...s, distributed: { ...s.distributed, tickUs } };
}

export function isPaced(s: Scenario): boolean {
  return (s.distributed?.tickUs ?? 0) > 0;
}

/** The lag part of the time scale, from the cores' `pace_*` counters. */
function paceLagOf(c: Record<string, number>, limit: number): PaceLag {
  return {
    lag_ticks_max: c.pace_lag_ticks_max ?? 0,
    lag_ticks_mean: Math.round((10 * (c.pace_lag_ticks_sum ?? 0)) / Math.max(1, c.pace_lag_samples ?? 0)) / 10,
    behind_ms: c.pace_behind_ms ?? 0,
    behind_stretch_ms_max: c.pace_behind_stretch_ms_max ?? 0,
    lagging_cores: c.pace_lagging_cores ?? 0,
    lag_ticks_limit: limit,
    catch_up_ms_max: c.pace_catch_up_ms_max ?? 0,
    cores_cpu_ms: c.pace_cpu_ms ?? 0,
    slices: c.pace_slices ?? 0,
    sleeps: c.pace_sleeps ?? 0,
    idle_wakes: c.pace_idle_wakes ?? 0,
  };
}

/** The spec of `o`'s run on `seed`: its scenario (paced), kernel and patch selection. */
function runSpecOf(o: RunScenarioOptions, seed: number | undefined): ScenarioSpec {
  return scenarioSpecOf(o.scenario, o.kernel, seed, { ...(o.patches !== undefined ? { patches: o.patches } : {}), ...(o.revert !== undefined ? { revert: o.revert } : {}) });
}

export async function runScenarioDistributed(o: RunScenarioOptions): Promise<RunScenarioResult> {
  o = { ...o, scenario: pacedScenario(o.scenario, o.tickUs) };
  const spec = runSpecOf(o, o.seed);
  const topology = topologyOf(spec);
  const n = coreCount(topology);
  const t0 = Date.now();
  // The cores stream their inbox records here; the judgement replays them from disk, then the
  // directory goes (after the record file, when asked for, has copied them).
  const dir = makeTempDir('ipiscope-run-');
  try {
    return await runIn(o, spec, n, t0, dir);
  } finally {
    removeTempDir(dir);
  }
}

async function runIn(o: RunScenarioOptions, spec: ScenarioSpec, n: number, t0: number, dir: string): Promise<RunScenarioResult> {
  const ctl = await startController(o, spec, n);
  let g: GenerationResult;
  let warmUp: WarmUpOutcome | undefined;
  try {
    announce(ctl, o, n);
    if ((o.warmUpMs ?? 0) > 0) warmUp = await loggedWarmUp(ctl, o, spec, (spec.seed + 1) >>> 0, t0);
    g = await scenarioGeneration(ctl, o, spec, dir);
  } finally {
    await ctl.stop();
  }
  return judgedRun(o, spec, n, ctl.runId, g, t0, o.recordFile, warmUp);
}

/** What `runSeedsDistributed` did: a result per seed, in the order given, and the whole. */
export interface RunSeedsResult {
  results: RunScenarioResult[];
  runId: string;
  processes: number;
  /** Wall ms from the start of the command to the end of the last seed (the processes stopped). */
  wall_ms: number;
  /** Wall ms from the start of the command until the first seed's StartRun: spawning and start-up
   * of the processes, and the warm-up. */
  setup_ms: number;
  warm_up?: WarmUpOutcome;
  /** Seeds not run because the process set broke (a core process exited): the swarm stopped. */
  not_run?: { seeds: number[]; reason: string };
}

/** The record file of one seed of a swarm: `FILE.seed-N` (each replays on its own). */
export function seedRecordFile(file: string, seed: number): string {
  return `${file}.seed-${seed}`;
}

/**
 * A swarm over one set of core processes (`run --seeds`): the processes start once (and warm up
 * once, on a seed after the list's largest), then each seed is a generation of its own on them,
 * judged as a single run is (its own drain, record and verdict; `recordFile` becomes one file per
 * seed, see `seedRecordFile`). Later seeds start in about a second instead of the 5-11 s of
 * spawning 32 processes, and run on JIT-warm code (a core's bus hops cost 3-4 times sim's ticks
 * for its first minutes). Each result's `start_ms`, `end_seen_ms` and `wall_ms` count from that
 * seed's own start. A core process that exits (or two processes answering for one core, or a
 * core that never answered a seed's StartRun) ends the swarm after the seed it broke: the later
 * seeds are listed as not run. Untraced (trace one seed with a single run).
 */
export async function runSeedsDistributed(o: RunScenarioOptions & { seeds: number[]; onSeed?: (r: RunScenarioResult) => void }): Promise<RunSeedsResult> {
  assert(o.seeds.length > 0, 'a swarm needs a seed');
  assert(o.trace === undefined, 'a swarm is not traced');
  o = { ...o, scenario: pacedScenario(o.scenario, o.tickUs) };
  const specs = o.seeds.map((seed) => runSpecOf(o, seed));
  const first = specs[0] as ScenarioSpec;
  const n = coreCount(topologyOf(first));
  const t0 = Date.now();
  const ctl = await startController(o, first, n);
  const results: RunScenarioResult[] = [];
  let warmUp: WarmUpOutcome | undefined;
  let setupMs = 0;
  let notRun: RunSeedsResult['not_run'];
  try {
    announce(ctl, o, n);
    if ((o.warmUpMs ?? 0) > 0) warmUp = await loggedWarmUp(ctl, o, first, (Math.max(...o.seeds) + 1) >>> 0, t0);
    setupMs = Date.now() - t0;
    for (const [i, spec] of specs.entries()) {
      // A core process gone for good: every later seed would only wait for it and be invalid.
      if (ctl.processSetBroken !== '') {
        notRun = { seeds: o.seeds.slice(i), reason: ctl.processSetBroken };
        o.log?.(`swarm stopped: ${notRun.reason}; seeds not run: ${notRun.seeds.join(', ')}`);
        break;
      }
      const ts = Date.now();
      const dir = makeTempDir('ipiscope-run-');
      try {
        const g = await scenarioGeneration(ctl, o, spec, dir);
        const r = judgedRun(o, spec, n, ctl.runId, g, ts, o.recordFile !== undefined ? seedRecordFile(o.recordFile, spec.seed) : undefined);
        results.push(r);
        o.onSeed?.(r);
      } finally {
        removeTempDir(dir);
      }
    }
  } finally {
    await ctl.stop();
  }
  return {
    results, runId: ctl.runId, processes: n, wall_ms: Date.now() - t0, setup_ms: setupMs,
    ...(warmUp !== undefined ? { warm_up: warmUp } : {}), ...(notRun !== undefined ? { not_run: notRun } : {}),
  };
}

async function startController(o: RunScenarioOptions, spec: ScenarioSpec, n: number): Promise<StartedController> {
  let runId = o.runId ?? '';
  const ctl = await new Controller({
    cores: n,
    ...(o.servers !== undefined ? { servers: o.servers } : {}),
    ...(o.coreServers !== undefined ? { coreServers: (c: number) => o.coreServers?.[c % o.coreServers.length] ?? [] } : {}),
    seed: spec.seed,
    ...(o.runId !== undefined ? { runId: o.runId } : {}),
    ...(o.adopt === true ? { mode: 'adopt' as const, registerTimeoutMs: o.adoptTimeoutMs ?? 60_000 } : {}),
    ...(o.log !== undefined ? { log: o.log } : {}),
    ...(o.trace !== undefined ? { preloadTracing: true } : {}),
    // (Called during a generation, once the controller has started and `runId` is set.)
    ...(o.onEnding !== undefined ? { onGenerationEnding: () => o.onEnding?.(runId) } : {}),
  }).start();
  runId = ctl.runId;
  return ctl;
}

function announce(ctl: StartedController, o: RunScenarioOptions, n: number): void {
  o.log?.(`run ${ctl.runId} on NATS ${redactNatsUrls(ctl.servers)} (${n} core processes); change its faults live with \`ipiscope faults ${ctl.runId} PLAN --nats ${redactNatsUrls(ctl.servers)}\``);
  o.onStarted?.(ctl.pids);
}

/** The warm-up generation on `seed`, logged. */
async function loggedWarmUp(ctl: StartedController, o: RunScenarioOptions, spec: ScenarioSpec, seed: number, t0: number): Promise<WarmUpOutcome> {
  const w = await warmUpGeneration(ctl, o, spec, seed);
  o.log?.(`warm-up: seed ${w.seed} for ${w.ms} ms (${w.ipis_handled} IPIs, ended by ${w.end_reason}), thrown away; the run starts ${Date.now() - t0} ms after the command`);
  return w;
}

/** The scenario's generation of `spec` on the started cores, ended by its verdict conditions. */
function scenarioGeneration(ctl: StartedController, o: RunScenarioOptions, spec: ScenarioSpec, dir: string): Promise<GenerationResult> {
  const tps = distTicksPerSecond(o.scenario);
  return ctl.runGeneration(spec, {
    end: {
      kind: 'scenario',
      ipis: o.ipis ?? o.scenario.limits.ipis,
      // The kernel's soft-lockup threshold (2 x watchdog_thresh), as the detectors of `sim`.
      hangSteps: Math.floor(softLockupSecs(o.scenario.detectors) * tps),
      // And the hung-task detector's timeout (a task asleep until the task it woke has run).
      hungSteps: Math.floor(o.scenario.detectors.hungTaskTimeoutSecs * tps),
      // And the storm of wake-ups of an offline thread (the 2015 bug), as sim's storm check.
      stormWakes: o.scenario.limits.stormWakes,
      // And, where the scenario asks for it, the first CALL_FUNCTION lost to the 2019 race.
      stopAtLost: o.scenario.distributed?.stopAtLost === true,
      ticksPerSecond: tps,
      durationMs: o.durationMs,
      // A distributed run is bounded by --duration (and --ipis, --ticks-max); a scenario's bound on
      // emulated time is for `sim`, where a run costs no wall time to speak of.
      stepsMax: o.ticksMax ?? Math.max(o.scenario.limits.ticksMax, TICKS_MAX_FOR_GOAL),
      ...drainOptions(o),
    },
    ...coreLoopOf(o, dir),
    ...(o.faultPlan !== undefined ? { faultPlan: o.faultPlan } : {}),
    // Judged after a drain: an unconsumed IPI is ignored at once (settle 0), late after 1 s.
    ...(o.trace !== undefined ? { tracing: { ...o.trace, settleTicks: 0, lateTicks: tps } } : {}),
  });
}

/** A generation's record, verdict (judged over the replayed record) and live figures; the record
 * goes to `recordFile` when given. `t0`: the start its wall times count from. */
function judgedRun(o: RunScenarioOptions, spec: ScenarioSpec, n: number, runId: string, g: GenerationResult, t0: number, recordFile: string | undefined, warmUp?: WarmUpOutcome): RunScenarioResult {
  const topology = topologyOf(spec);
  const wallMs = Date.now() - t0;
  const drained = g.drain?.settled === true;
  const record: RunRecord = {
    format: RECORD_FORMAT, version: RECORD_VERSION, runId, spec, topology,
    software: { ipiscope: '0.1.0', identity: specLabel(spec), model: MODEL_VERSION },
    cores: g.records, finals: g.finals, verdict: {}, lamport: 1,
  };
  const lag = isPaced(o.scenario) ? paceLagOf(g.counters, paceOptionsOf(o.scenario).lagTicksMax) : undefined;
  let verdict = verdictOf(spec, g.finals, g.reason, g.invalidReason, drained, g.hangWait, lag);
  if (verdict.verdict !== 'invalid' && g.records.length !== n) {
    verdict = verdictOf(spec, g.finals, 'invalid', `only ${g.records.length} of ${n} core records were written`, drained, undefined, lag);
  }
  verdict = judgeLiveRun(record, g.finals, verdict);
  record.verdict = verdict as unknown as Record<string, unknown>;
  let recordError: string | undefined;
  if (recordFile !== undefined) {
    // The path was checked before the run, but a disk fills up: the verdict is not lost with it.
    try {
      writeRecord(recordFile, record);
    } catch (e) {
      if (!(e instanceof Error && 'code' in e)) throw e;
      recordError = e.message;
    }
  }
  const msgs = g.counters.bus_delivered ?? 0;
  const handled = verdict.ipis_handled;
  return {
    verdict,
    live: {
      processes: n, wall_ms: wallMs, generation_ms: g.wallMs, bus: pick(g.counters, 'bus_'), faults_injected: g.faultsInjected, faults_by_link: g.faultsByLink, fault_plan_updates: g.faultPlanUpdates, status_waves: g.statusWaves, progress: g.progress,
      bus_msgs_per_s: Math.round((msgs * 1000) / Math.max(1, g.wallMs)), ipis_per_s: Math.round((handled * 1000) / Math.max(1, g.wallMs)),
      ...(g.drain !== undefined ? { drain: g.drain } : {}),
      end_seen_ms: g.endSeenUnixMs - t0,
      start_ms: g.startedUnixMs - t0,
      wait_steps_max: g.waitStepsMax,
      core_memory: pick(g.counters, 'mem_'),
      ...(g.trace !== undefined ? { trace: g.trace } : {}),
      ...(recordError !== undefined ? { record_error: recordError } : {}),
      ...(warmUp !== undefined ? { warm_up: warmUp } : {}),
    },
  };
}

/**
 * The drain's bounds: `drainTimeoutMs` when given. Paced, a step costs wall time: the drain settles
 * on emulated time (PACED_DRAIN_SETTLE_TICKS, still far more than any path to a demux) and may
 * take 40,000 ticks of wall time.
 */
function drainOptions(o: RunScenarioOptions): { drainSettleSteps?: number; drainTimeoutMs?: number } {
  const paced = isPaced(o.scenario);
  const timeoutMs = o.drainTimeoutMs ?? (paced ? Math.max(DRAIN_TIMEOUT_MS, (40_000 * paceOptionsOf(o.scenario).tickUs) / 1000) : undefined);
  return { ...(paced ? { drainSettleSteps: PACED_DRAIN_SETTLE_TICKS } : {}), ...(timeoutMs !== undefined ? { drainTimeoutMs: timeoutMs } : {}) };
}

/**
 * The cores' loop in a run's generations, the run's own and the warm-up's alike: their inbox records
 * go to `recordDir`; the idle pace; and, paced, the cores' clock and status waves often enough to
 * catch a lockup in time.
 */
function coreLoopOf(o: RunScenarioOptions, recordDir: string): { recordDir: string; idleTickUs: number; aheadTicksMax?: number; pace?: ReturnType<typeof paceOptionsOf>; statusEveryMs?: number } {
  return {
    recordDir,
    idleTickUs: o.idleTickUs ?? 10,
    ...(o.aheadTicksMax !== undefined ? { aheadTicksMax: o.aheadTicksMax } : {}),
    ...(isPaced(o.scenario) ? { pace: paceOptionsOf(o.scenario), statusEveryMs: PACED_STATUS_EVERY_MS } : {}),
  };
}

/**
 * The warm-up (`warmUpMs`): the same scenario, kernel and pace on `seed` (the run's next seed; in a
 * swarm, the one after its largest, so that no seed of it is run twice), bounded by wall
 * time only (a hang or a lockup in it does not end it early), in a record directory of its own
 * that goes with it. Its machine is thrown away: the run's own generation builds a fresh one
 * from its spec, and a core drops any message of an ended generation.
 */
async function warmUpGeneration(ctl: StartedController, o: RunScenarioOptions, spec: ScenarioSpec, seed: number): Promise<WarmUpOutcome> {
  const warmSpec: ScenarioSpec = { ...spec, seed };
  const dir = makeTempDir('ipiscope-warm-up-');
  try {
    const w = await ctl.runGeneration(warmSpec, {
      end: {
        kind: 'scenario', ipis: 0, hangSteps: Number.MAX_SAFE_INTEGER, hungSteps: Number.MAX_SAFE_INTEGER, stormWakes: Number.MAX_SAFE_INTEGER,
        durationMs: o.warmUpMs ?? 0, stepsMax: Number.MAX_SAFE_INTEGER,
        ...drainOptions(o),
      },
      ...coreLoopOf(o, dir),
    });
    const last = w.progress[w.progress.length - 1];
    return { seed, ms: w.wallMs, end_reason: w.reason, ipis_handled: last !== undefined ? last[1] : 0 };
  } finally {
    removeTempDir(dir);
  }
}

/** Writes a run record file (see sim/record-stream.ts: a header line, then the cores' inputs). */
export function writeRecord(file: string, rec: RunRecord): void {
  writeRecordFile(file, rec);
}

function pick(c: Record<string, number>, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/**
 * Paced runs: how often the controller asks every core for its status (wall ms). A wave is a request
 * and a reply per core: at 100 ms, 640 control messages a second on a 32-core run besides about
 * 3,000 machine messages, each waking a core process. The conditions it checks are seconds long
 * (the soft-lockup threshold, the duration).
 */
const PACED_STATUS_EVERY_MS = 250;

/** Paced runs: emulated ticks every busy core runs between the two quiet waves that settle a drain
 * (2 emulated s in the 2019 scenarios; a doorbell reaches its demux within a few hundred ticks). */
export const PACED_DRAIN_SETTLE_TICKS = 2000;

/**
 * Paced runs: the drain's clock runs this many times as fast as the run's (CoreLoopOptions.drainTickUs).
 * The drain waits for the actions under way (a guest entry lasts up to 1,500 ticks in the 2019
 * scenarios) and then for the settle ticks: 4-8 s of wall time at the run's pace, most of a
 * minute's margin, and a second or two at this one. What a tick costs there changes no judgement:
 * the settle is counted once the bus is quiet, and the hop statistics stop at the drain.
 */
export const PACED_DRAIN_SPEEDUP = 4;

/** The controller's pace options of a paced scenario (defaults: the core loop's). */
function paceOptionsOf(s: Scenario): { tickUs: number; lagTicksMax: number; behindMsMax: number; drainTickUs: number } {
  const tickUs = s.distributed?.tickUs ?? 0;
  return {
    tickUs,
    drainTickUs: tickUs / PACED_DRAIN_SPEEDUP,
    lagTicksMax: s.distributed?.lagTicksMax ?? DEFAULT_CORE_LOOP.lagTicksMax,
    behindMsMax: s.distributed?.behindMsMax ?? DEFAULT_CORE_LOOP.behindMsMax,
  };
}

/**
 * Emulated time in distributed mode. Paced runs (`distributed.tickUs`) keep the scenario's own
 * scale, as in `sim`: every core's tick follows one wall clock and a bus hop costs a few ticks.
 *
 * Unpaced runs: a core's clock is its local step count, and a step waiting
 * for the bus is paced at about 10 us of wall time, so a message between processes costs on the
 * order of 100 steps, not the few ticks of the simulated bus: the detectors' seconds are counted
 * on at least 100,000 steps (a scenario's sim compression would make every cross-core IPI look
 * like seconds and every wait like a lockup).
 */
export function distTicksPerSecond(s: Scenario): number {
  if (isPaced(s)) return s.clock.ticksPerSecond;
  return Math.max(s.clock.ticksPerSecond, DIST_TICKS_PER_SECOND_MIN);
}

export const DIST_TICKS_PER_SECOND_MIN = 100_000;

/** The verdict from the cores' final states: a pure function, shared with replay. */
export function verdictOf(
  spec: ScenarioSpec,
  finals: CoreFinal[],
  reason: EndReason,
  invalidReason?: string,
  drained = false,
  hangWait?: HangWait,
  lag?: PaceLag,
): RunVerdict {
  const s = spec.scenario;
  const tps = distTicksPerSecond(s);
  const hungSecs = s.detectors.hungTaskTimeoutSecs;
  const con = new Console({ ticksPerSecond: tps });
  const label = specLabel(spec);
  con.printk(0, `Linux version ${label} (ipiscope) #1 SMP`);
  const ncores = coreCount(topologyOf(spec));
  const lost = ncores - finals.length;
  con.printk(0, `scenario ${s.name}: ${ncores} core processes over NATS${lost > 0 ? ` (${lost} gave no final state)` : ''}, seed ${spec.seed}`);
  if (isPaced(s)) {
    const us = s.distributed?.tickUs ?? 0;
    con.printk(0, `ipiscope: every core paced to one clock at ${us} us per tick: 1 emulated s = ${tps} ticks = ${Math.round(us * tps) / 1e6} s of wall time`);
  }
  let sent = 0;
  let handled = 0;
  const interrupts: Record<string, number[]> = {};
  const stuck: RunVerdict['stuck'] = [];
  const lockups: RunVerdict['lockups'] = [];
  let stepsMax = 0;
  for (const f of finals) {
    stepsMax = Math.max(stepsMax, f.endStep);
    const k = f.kernel;
    if (k === undefined) continue;
    sent += k.ipisSent;
    handled += k.ipisHandled;
    for (const [line, counts] of Object.entries(k.interrupts)) {
      const acc = (interrupts[line] ??= new Array<number>(counts.length).fill(0));
      counts.forEach((c, i) => (acc[i] = (acc[i] ?? 0) + c));
    }
    for (const st of k.stuck) {
      const since = f.endStep - st.sinceStep;
      stuck.push({ kind: 'csd_lock_wait', cpu: st.cpu, where: st.where, waiting_for: st.waitingFor, since_steps: since, forever: drained });
      if (drained) {
        con.printk(f.endStep, `ipiscope: CPU#${st.cpu} waits in ${st.where} for CPU#${st.waitingFor} forever: the machine is drained and quiet, no interrupt is pending`);
      } else if (since > softLockupSecs(s.detectors) * tps) {
        // Records of earlier versions: the waiter's own steps (which a starved peer makes long).
        const secs = Math.floor(since / tps);
        const line = `watchdog: BUG: soft lockup - CPU#${st.cpu} stuck for ${secs}s! [${st.where}, waiting for CPU#${st.waitingFor}]`;
        con.printk(f.endStep, line);
        lockups.push({ kind: 'soft-lockup', cpu: st.cpu, seconds: secs, line });
      }
    }
    for (const h of k.hung ?? []) {
      const since = f.endStep - h.sinceStep;
      const where = `task ${h.comm}:${h.pid} asleep until the task it woke has run on CPU#${h.taskCpu}`;
      stuck.push({ kind: 'hung-task', cpu: h.cpu, where, waiting_for: h.taskCpu, since_steps: since, forever: drained });
      if (drained) {
        con.printk(f.endStep, `ipiscope: CPU#${h.cpu}'s ${where} sleeps forever: the machine is drained and quiet, no interrupt is pending`);
      } else if (since > hungSecs * tps && hangWait?.cpu !== h.cpu) {
        const line = `INFO: task ${h.comm}:${h.pid} blocked for more than ${hungSecs} seconds.`;
        con.printk(f.endStep, line);
        lockups.push({ kind: 'hung-task', cpu: h.cpu, seconds: hungSecs, line });
      }
    }
  }
  stuck.sort((a, b) => a.cpu - b.cpu);
  if (hangWait?.kind === 'hung-task') {
    // The hung-task detector's words (kernel/hung_task.c); the sleeper's comm:pid when it still sleeps.
    const h = finals.flatMap((f) => f.kernel?.hung ?? []).find((x) => x.cpu === hangWait.cpu);
    const line = `INFO: task ${h !== undefined ? `${h.comm}:${h.pid}` : `of CPU#${hangWait.cpu}`} blocked for more than ${hungSecs} seconds.`;
    con.printk(stepsMax, line);
    lockups.push({ kind: 'hung-task', cpu: hangWait.cpu, seconds: hungSecs, line });
  } else if (hangWait !== undefined) {
    // The watchdog's seconds are the machine's: the slowest busy core's steps during the wait.
    const secs = Math.floor(hangWait.machine_steps / tps);
    const line = `watchdog: BUG: soft lockup - CPU#${hangWait.cpu} stuck for ${secs}s! [csd_lock_wait, waiting for CPU#${hangWait.waiting_for}]`;
    con.printk(stepsMax, line);
    lockups.push({ kind: 'soft-lockup', cpu: hangWait.cpu, seconds: secs, line });
  }
  // A hang: a soft lockup on the machine's clock (what ended the run), or, after a drain, a CPU
  // that waits forever whatever ended the run. Not drained (records of earlier versions): the old
  // step-based rule.
  // The 2015 storm, as sim says it: an offline thread woken again and again.
  const wakes = finals.flatMap((f) => f.kernel?.offlineWakes ?? []);
  const offlineWakes: Record<string, number> = {};
  for (const c of finals.flatMap((f) => f.kernel?.offline ?? []).sort((a, b) => a - b)) offlineWakes[String(c)] = wakes.find((o) => o.cpu === c)?.wakes ?? 0;
  const storming = wakes.filter((o) => o.wakes > s.limits.stormWakes).sort((a, b) => a.cpu - b.cpu);
  for (const o of storming) con.printk(stepsMax, `cpu ${o.cpu}: offline thread woke ${o.wakes} times (SRR1 wake reason not cleared)`);
  let verdict: RunVerdict['verdict'] =
    reason === 'storm' || storming.length > 0 ? 'storm' : reason === 'hang' || lockups.length > 0 || (drained && stuck.length > 0) ? 'hang' : 'ok';
  if (reason === 'invalid' || reason === 'timeout') verdict = 'invalid';
  if (reason === 'lost' && verdict !== 'invalid') {
    con.printk(
      stepsMax,
      'ipiscope: the run ended at a CALL_FUNCTION lost to the 2019 race (its doorbell or XICS interrupt taken as a guest wake-up, host_ipi == 0, with its message pending) ' +
        `while a CPU waited for it; the workload stopped and the machine drained: ${stuck.some((x) => x.kind === 'csd_lock_wait' && x.forever) ? 'nothing will ever answer it' : 'it was answered during the drain'}`,
    );
  }
  if (drained && hangWait !== undefined && !stuck.some((x) => x.cpu === hangWait.cpu)) {
    con.printk(
      stepsMax,
      hangWait.kind === 'hung-task'
        ? `ipiscope: the task that CPU#${hangWait.cpu}'s task woke ran during the drain: a hung-task report (its wake-up was late), not a sleep forever`
        : `ipiscope: CPU#${hangWait.cpu} got its answer during the drain: a soft lockup (its IPI was late), not a wait forever`,
    );
  }
  const marks = marksOf(finals);
  const staleWakeList = marks['scheduler_ipi: wake_list empty, nothing to do'] ?? 0;
  if (stuck.some((x) => x.kind === 'hung-task' && x.forever) && staleWakeList > 0) {
    // As sim explains it (run-sim.ts): the model's own record of the path taken.
    con.printk(
      stepsMax,
      `ipiscope: scheduler_ipi() read its CPU's wake_list empty ${staleWakeList === 1 ? 'once' : `${staleWakeList} times`} while a wake-up had queued a task on it ` +
        "(a stale read: before 9fb1b36ca123 nothing orders the waker's llist_add before its message store, nor the demux's read of the message before the read of the list); " +
        'the task stays TASK_WAKING, and no later wake-up sends an IPI for it: the list is not empty',
    );
  }
  if (verdict === 'invalid') con.printk(stepsMax, `ipiscope: run invalid: ${invalidReason ?? reason}`);
  const v: RunVerdict = {
    verdict, scenario: s.name, seed: spec.seed, kernel: label, ipis_sent: sent, ipis_handled: handled, ignored: [],
    lockups, interrupts, stuck, offline_wakes: offlineWakes, patches: spec.patches, marks, end_reason: reason, drained, cores: finals.length, steps_max: stepsMax, console: con.text(),
  };
  if (hangWait !== undefined) v.hang_wait = hangWait;
  if (isPaced(s)) v.time_scale = { tick_us: s.distributed?.tickUs ?? 0, ticks_per_second: tps, lag: lag ?? paceLagOf({}, paceOptionsOf(s).lagTicksMax) };
  if (verdict === 'invalid') v.invalid_reason = invalidReason ?? `run ended by ${reason}`;
  return v;
}

/**
 * Replays the record with one checker over every core's events, merged in Lamport order. Drained
 * runs: every IPI not consumed (nothing is in flight any more). Older records: those ordered a
 * settle time before the end, in steps (which starved processes make unreliable).
 */
export function checkIgnored(rec: RunRecord, drained = false): IgnoredIpi[] {
  return judgeEvents(rec, observedReplay(rec), drained).ignored;
}

/** A record replayed once with the checkers' observer: the replay, and the events they read. */
interface ObservedReplay {
  replayed: RunReplayResult;
  events: MachineEvent[];
  messageLocs: number[];
  hostIpi: number[];
}

function observedReplay(rec: RunRecord): ObservedReplay {
  const spec = rec.spec as ScenarioSpec;
  const { ipiMessage: messageLocs, hostIpi } = kernelLocsOf(rec);
  const isMessage = new Set(messageLocs);
  const kvm = spec.scenario.kvm;
  const isHostIpi = new Set(kvm ? hostIpi : []);
  // Only what the checkers read is kept (the tracepoint, the accesses to ipi_message words and,
  // with KVM, the accesses to host_ipi, the doorbells and MFRR stores sent and the hypervisor
  // doorbell and external interrupts): a long run has tens of millions of events, which would not
  // fit in memory.
  const events: MachineEvent[] = [];
  const collect: MachineObserver = {
    ignores: kvm ? ['visible'] : ['visible', 'load'],
    event: (e) => {
      const keep =
        e.e === 'tp' ? e.name === 'ipi_message_set'
        : e.e === 'load' ? isHostIpi.has(e.loc)
        : e.e === 'ipi_send' ? kvm && (e.via === 'msgsnd' || e.via === 'mfrr')
        : e.e === 'irq_take' || e.e === 'irq_return' ? kvm && (e.source === 'hdbell' || e.source === 'external')
        : isMessage.has(locAccessed(e)) || isHostIpi.has(locAccessed(e));
      if (keep) events.push(e);
    },
  };
  return { replayed: replayRun(rec, collect), events, messageLocs, hostIpi };
}

function locAccessed(e: MachineEvent): number {
  return e.e === 'store' || e.e === 'version' || e.e === 'rmw' || e.e === 'load' ? e.loc : -1;
}

/** The checkers over an observed replay's events, and the bus hops of the replay (see `HopTicks`). */
function judgeEvents(rec: RunRecord, o: ObservedReplay, drained: boolean): { ignored: RunIgnoredIpi[]; lostFound: LostFoundIpi[] | undefined; hopTicks: HopTicks | undefined; hopsToDrain: boolean } {
  const spec = rec.spec as ScenarioSpec;
  const { replayed, events, messageLocs, hostIpi } = o;
  const isMessage = new Set(messageLocs);
  const kvm = spec.scenario.kvm;
  // A record made before the drain ran a clock of its own counted the drain's hops too: its
  // verdict is compared with the same figures (`hop_ticks.to_drain` absent).
  const recordedHops = (rec.verdict as { time_scale?: TimeScale }).time_scale?.hop_ticks;
  const hopsToDrain = recordedHops === undefined || recordedHops.to_drain === true;
  const hopTicks = replayed.hopTicks?.(hopsToDrain);
  events.sort((a, b) => a.clock - b.clock || a.core - b.core);
  const checker = new IgnoredIpiChecker({ messageLocs });
  // As in sim: which of the 2019 commit's interleavings preceded each ignored IPI, if one did.
  const races = kvm ? new HostIpiRaceObserver(hostIpi, messageLocs) : null;
  // With KVM: the IPIs lost to a dropped doorbell and found later (as sim's `lost_found`), fed
  // each event after the checker, whose tracking of the IPIs it reads.
  const lost = kvm ? new LostIpiObserver(hostIpi, checker) : null;
  for (const e of events) {
    if (e.e === 'tp' || (e.e !== 'load' && isMessage.has(locAccessed(e)))) checker.event(e);
    if (e.e !== 'load' && e.e !== 'ipi_send' && e.e !== 'irq_take' && e.e !== 'irq_return') races?.event(e);
    lost?.event(e);
  }
  const lostFound = lost?.found;
  const named = (ignored: IgnoredIpi[]): RunIgnoredIpi[] =>
    ignored.map((i) => {
      const o = races?.lastOverwrite(i.sender_cpu, i.target_cpu);
      return o === undefined ? i : { ...i, interleaving: o.interleaving };
    });
  if (drained) return { ignored: named(checker.result(Number.MAX_SAFE_INTEGER, 0).ignored), lostFound, hopTicks, hopsToDrain };
  const end = Math.max(0, ...rec.cores.map((c) => c.endStep));
  return { ignored: named(checker.result(end, Math.floor(spec.scenario.limits.settleSecs * distTicksPerSecond(spec.scenario))).ignored), lostFound, hopTicks, hopsToDrain };
}

/** The kernel model's marks summed over the cores, by name. */
function marksOf(finals: CoreFinal[]): Record<string, number> {
  const m = new Map<string, number>();
  for (const f of finals) for (const [k, n] of Object.entries(f.kernel?.marks ?? {})) m.set(k, (m.get(k) ?? 0) + n);
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Location ids of ipi_message[cpu] and host_ipi[cpu], by cpu (the kernel's layout, built from the spec alone). */
function kernelLocsOf(rec: RunRecord): { ipiMessage: number[]; hostIpi: number[] } {
  const spec = rec.spec as ScenarioSpec;
  const wl = new StressWorkload(spec.scenario, rec.topology, spec.seed, () => 0);
  const k = new Kernel({ topology: rec.topology, patches: resolveKernel({ kernel: spec.kernel, patches: spec.patches, revert: spec.revert }), csdPairs: wl.csdPairs(), tasks: wl.tasks, kvm: spec.scenario.kvm });
  return { ipiMessage: k.ipiMessage, hostIpi: k.hostIpi };
}

/**
 * Fills in the verdict's ignored IPIs (a valid verdict only), over the record replayed in this
 * process with the checkers' observer. On a drained run the checker's set must name exactly the
 * (target, message) lanes still set in the final ipi_message words at their homes: the checker
 * follows IPIs through the event stream, the words are the machine's memory, and a disagreement
 * means one of them is wrong, so the run is declared invalid with both. Shared with replay, which
 * must come to the same verdict.
 */
export function judgeIgnored(rec: RunRecord, finals: CoreFinal[], v: RunVerdict): RunVerdict {
  if (v.verdict === 'invalid') return v;
  return judgeObserved(rec, observedReplay(rec), finals, v);
}

/**
 * A record replayed once, and judged: `verdictFor` makes the verdict from the replayed cores'
 * final states, then the ignored IPIs are filled in from the same replay's events (as
 * `judgeIgnored`, which replays the record itself). `ipiscope replay` needs both the replay (its
 * final states and divergences) and the judgement: one replay instead of two.
 */
export function replayAndJudge(rec: RunRecord, verdictFor: (finals: CoreFinal[]) => RunVerdict): { replayed: RunReplayResult; verdict: RunVerdict } {
  const o = observedReplay(rec);
  const v = verdictFor(o.replayed.finals);
  return { replayed: o.replayed, verdict: v.verdict === 'invalid' ? v : judgeObserved(rec, o, o.replayed.finals, v) };
}

/**
 * A live run's judgement (`judgeIgnored`), which must be of the machine the cores ran: the replay
 * in this process has to take every message as its sender sent it again and end in the cores' own
 * final states (the record holds them). Otherwise the events judged are another machine's, and
 * the run is declared invalid with the first differences, never judged on the replay alone.
 */
export function judgeLiveRun(rec: RunRecord, finals: CoreFinal[], v: RunVerdict): RunVerdict {
  if (v.verdict === 'invalid') return v;
  const o = observedReplay(rec);
  const diffs = [...o.replayed.divergences, ...o.replayed.mismatches];
  if (diffs.length > 0) {
    // The divergences are listed up to 20 (ReplayLinks.divergences).
    const n = `${diffs.length}${o.replayed.divergences.length >= 20 ? '+' : ''}`;
    const reason = `the run's record does not replay to the machine the cores ran (${n} difference${n === '1' ? '' : 's'}; first: ${diffs.slice(0, 3).join('; ')})`;
    return verdictOf(rec.spec as ScenarioSpec, finals, 'invalid', reason, v.drained, undefined, v.time_scale?.lag);
  }
  return judgeObserved(rec, o, finals, v);
}

function judgeObserved(rec: RunRecord, o: ObservedReplay, finals: CoreFinal[], v: RunVerdict): RunVerdict {
  const { ignored: found, lostFound, hopTicks, hopsToDrain } = judgeEvents(rec, o, v.drained);
  const offline = new Set(finals.flatMap((f) => f.kernel?.offline ?? []));
  const ignored = found.map((i): RunIgnoredIpi => (offline.has(i.target_cpu) ? { ...i, target_offline: true } : i));
  if (lostFound !== undefined) v = { ...v, lost_found: lostFound };
  if (v.time_scale !== undefined && hopTicks !== undefined) v = { ...v, time_scale: { ...v.time_scale, ...hopStatsOf(hopTicks, (rec.spec as ScenarioSpec).scenario, hopsToDrain) } };
  if (!v.drained) return { ...v, ignored };
  const fromChecker = new Set(ignored.map((i) => `${i.target_cpu}:${i.msg}`));
  const fromMemory = new Set<string>();
  const cpuOfLoc = new Map(o.messageLocs.map((l, cpu) => [l, cpu]));
  for (const f of finals) {
    for (let i = 0; i + 2 < f.homes.length; i += 3) {
      const cpu = cpuOfLoc.get(f.homes[i] as number);
      if (cpu === undefined) continue;
      const word = f.homes[i + 2] as number;
      for (let msg = 0; msg < 4; msg++) if (laneOf(word, msg) !== 0) fromMemory.add(`${cpu}:${msg}`);
    }
  }
  const onlyChecker = [...fromChecker].filter((x) => !fromMemory.has(x));
  const onlyMemory = [...fromMemory].filter((x) => !fromChecker.has(x));
  if (onlyChecker.length === 0 && onlyMemory.length === 0) return { ...v, ignored };
  const reason =
    `the ignored-IPI checker and the final ipi_message words disagree (cpu:msg only in the checker: ${onlyChecker.slice(0, 8).join(' ') || 'none'}; ` +
    `only in memory: ${onlyMemory.slice(0, 8).join(' ') || 'none'})`;
  return verdictOf(rec.spec as ScenarioSpec, finals, 'invalid', reason, v.drained, undefined, v.time_scale?.lag);
}

/** Hop statistics (ticks) of a replay, and the simulated bus's mean delays for comparison. */
function hopStatsOf(h: HopTicks, s: Scenario, toDrain: boolean): Pick<TimeScale, 'hop_ticks' | 'sim_hop_ticks_mean'> {
  const sorted = [...h.entries()].sort((a, b) => a[0] - b[0]);
  const messages = sorted.reduce((a, [, c]) => a + c, 0);
  const at = (q: number): number => {
    let acc = 0;
    for (const [t, c] of sorted) if ((acc += c) >= q * messages) return t;
    return sorted.length > 0 ? (sorted[sorted.length - 1] as [number, number])[0] : 0;
  };
  const mean = messages === 0 ? 0 : sorted.reduce((a, [t, c]) => a + t * c, 0) / messages;
  // SimBus: delayTicksMin + floor(Exp(delayTicksMean)) (+ crossSocketTicks across sockets).
  const b = busPolicyOf(s);
  const expFloor = b.delayTicksMean > 0 ? 1 / (Math.exp(1 / b.delayTicksMean) - 1) : 0;
  const same = Math.round((b.delayTicksMin + expFloor) * 10) / 10;
  return {
    hop_ticks: { messages, mean: Math.round(mean * 10) / 10, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length > 0 ? (sorted[sorted.length - 1] as [number, number])[0] : 0, ...(toDrain ? { to_drain: true as const } : {}) },
    sim_hop_ticks_mean: [same, Math.round((same + b.crossSocketTicks) * 10) / 10],
  };
}
