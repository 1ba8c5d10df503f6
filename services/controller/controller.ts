/**
 * The controller of a distributed run: starts one process per physical core (or adopts cores that
 * register themselves), hands each generation's machine spec to every core, decides when a
 * generation is over, gathers every core's final state, and never leaves a process behind.
 *
 * End of a generation:
 * - `quiet` (litmus, finite software): distributed termination detection by counting waves. Every
 *   core answers a status request with (sent, received, finished, quiescent, idle); the controller
 *   ends the generation when two consecutive waves both show every core finished, quiescent and
 *   idle, the machine-wide sums agree (sent == received), and no core's counts moved between the
 *   waves. A message in flight is sent but not received, so it keeps the sums apart.
 * - `scenario` (kernel software runs forever): the kernel model's verdict conditions, from the
 *   same waves: a suspected hang, the IPI goal reached, the wall-clock duration spent, or a core
 *   past `stepsMax`. A hang is judged on the machine's progress, not on one core's clock: a CPU
 *   spinning in csd_lock_wait is hung when its own core has counted `hangSteps` steps of the wait
 *   AND every other core that is not idle has run `hangSteps` steps since the wait was first seen.
 *   Each process keeps its own step count, and 32 processes on 2 CPUs starve each other: the
 *   spinner runs ahead while the CPU it waits for (or any CPU on the chain of csd locks and
 *   barriers its answer needs) got no CPU time. The slowest busy core is the machine's clock, as
 *   a global virtual time: when even it has run `hangSteps` steps, every CPU has had that much
 *   emulated time to answer, which is what the kernel's soft-lockup watchdog measures. A task
 *   asleep until a task it woke has run (the hung-task detector's watch) is judged by the same
 *   rule against `hungSteps`. Then the drain (below), then the final states.
 *
 * The drain (scenario runs): every core stops its workload at its current step (no new actions,
 * so no new IPIs; actions under way finish) and keeps stepping. The generation is settled when two
 * waves both show the bus quiet (sent == received, every core quiescent) and no CPU with an
 * interrupt pending or inside a handler, the per-core counts (sent, received, IPIs handled,
 * ipi_message words, waiting CPUs) are the same in both, and every core that is not idle has run
 * `drainSettleSteps` steps between them. Nothing can then make a demux run again: a message byte
 * still set is lost, not in flight, and a CPU still in csd_lock_wait waits forever. A drain that
 * does not settle within `drainTimeoutMs` makes the generation invalid, with what was not quiet.
 *
 * Faults: the network part of the fault plan is applied by each core's transport at the sender;
 * the process part (pause / kill / restart) is carried out here with SIGSTOP/SIGCONT and SIGKILL
 * (+ respawn). A killed or restarted core loses its whole machine state (its threads, its homes'
 * coherence order and its unacknowledged outgoing links), which no scenario here tolerates: the
 * generation ends as invalid, with the reason. A pause loses nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { assert, pidAlive, UserError } from '../stdx/index.js';
import { decodeControlMsg, encodeControlMsg } from '../bus/codec.js';
import type { ControlMsg } from '../bus/codec.js';
import { coreControlSubject, controllerSubject, DEFAULT_CORE_LOOP, FILE_CHUNK_MAX } from '../bus/control.js';
import type { CoreFileKind, CoreLoopOptions, CoreResultsJson } from '../bus/control.js';
import type { CoreTracingOptions } from '../core/core-tracing.js';
import { emptyFaultPlan, parseFaultPlanValue, processFaultsOf, type FaultPlan } from '../bus/fault-plan.js';
import { NatsServer, type StartedNatsServer } from '../bus/nats-launcher.js';
import { faultsSubject } from '../bus/nats-transport.js';
import { natsConnectTarget, natsUrlsHaveCredentials, redactNatsUrls } from '../bus/nats-url.js';
import { coreCount, topologyOf } from '../sim/replay.js';
import type { CoreFinal, CoreRecord, MachineSpec } from '../sim/replay.js';
import { PPC_MSG, ppcMsgName } from '../kernel/kernel.js';
import { hostIpisAreDoorbells, resolveKernel } from '../kernel/index.js';

export interface ControllerOptions {
  /** NATS URLs; none: a private nats-server on a free loopback port, stopped at the end. */
  servers?: string[];
  /** Core processes to start (or adopt). */
  cores: number;
  /** Per core, the server list it connects to (spreading cores over a cluster's nodes). */
  coreServers?: (core: number) => string[];
  runId?: string;
  /** Seed of the transports' fault streams. */
  seed?: number;
  /** `spawn` (default) starts the processes; `adopt` waits for cores that register themselves. */
  mode?: 'spawn' | 'adopt';
  /** Time allowed for every core to register (ms). Default 60000. */
  registerTimeoutMs?: number;
  log?: (line: string) => void;
  /** Called when every core has started a generation (its machine runs from now on). */
  onGenerationStarted?: (generation: number) => void;
  /** Called when a generation's workload has stopped (its drain and gathering follow). */
  onGenerationEnding?: (generation: number) => void;
  /** Spawned cores load the tracing modules before they register (generations will be traced):
   * loaded at StartRun instead, a late core would be starved by the peers already running. */
  preloadTracing?: boolean;
}

export type EndPolicy =
  | { kind: 'quiet'; timeoutMs: number }
  | {
      kind: 'scenario';
      ipis: number;
      hangSteps: number;
      /** The kernel's hung-task timeout in steps: a task asleep until a task it woke has run,
       * that long on the machine's clock (as `hangSteps`), ends the run as hung. 0: not watched. */
      hungSteps?: number;
      /** An offline CPU woken more often than this is a storm (the scenario's `stormWakes`): the
       * run ends, with no drain (a latched doorbell keeps waking it). 0: not watched. */
      stormWakes?: number;
      /** End the run (reason `lost`, then the drain judges it) at the first CALL_FUNCTION the loss
       * watch confirms lost while a CPU waits for its target in csd_lock_wait. */
      stopAtLost?: boolean;
      /** The scenario's clock, for the seconds in the loss lines (else ticks). */
      ticksPerSecond?: number;
      durationMs: number;
      stepsMax: number;
      /** Steps every busy core must run between the two quiet waves that settle the drain
       * (default DRAIN_SETTLE_STEPS). */
      drainSettleSteps?: number;
      /** Wall-clock bound of the drain (ms; default DRAIN_TIMEOUT_MS); past it the generation is
       * invalid. */
      drainTimeoutMs?: number;
    };

/**
 * Steps each busy core runs between the two quiet waves that settle a drain: far more than any
 * path from a message store to its doorbell, or from a doorbell to the demux (guest exit included,
 * at most a few hundred ticks in the scenarios), so a demux under way shows up as a change.
 */
export const DRAIN_SETTLE_STEPS = 10_000;
/** Wall-clock bound of a drain: 32 starved processes settle in a few seconds. */
export const DRAIN_TIMEOUT_MS = 20_000;

/** A paced generation (CoreLoopOptions): the tick, and how much lag breaks the time scale. */
export interface PaceOptions {
  tickUs: number;
  lagTicksMax?: number;
  behindMsMax?: number;
  catchUpMsMax?: number;
  /** Tick 0 is this long after every core has answered its StartRun (built its machine): the
   * time StartClock takes to reach them all (default 100 ms + 2 ms per core). */
  startDelayMs?: number;
  /** The clock's pace from the drain on (CoreLoopOptions.drainTickUs; default: tickUs). */
  drainTickUs?: number;
}

export type EndReason = 'finished' | 'ipis' | 'hang' | 'lost' | 'storm' | 'duration' | 'steps-max' | 'timeout' | 'invalid';

export interface GenerationOptions {
  end: EndPolicy;
  faultPlan?: FaultPlan;
  /** Directory for the cores' inbox records ('' = no record). */
  recordDir?: string;
  sliceSteps?: number;
  /** Wall-clock µs per idle tick (see CoreLoopOptions). Default 0 (no pacing). */
  idleTickUs?: number;
  /** Ticks local time may run ahead of the wall clock after an input (see CoreLoopOptions). */
  aheadTicksMax?: number;
  /** Pace every step of every core to one wall clock (see CoreLoopOptions.tickUs); absent: off. */
  pace?: PaceOptions;
  /** Scenario runs: wall ms between two status waves while the machine runs (default 20). Each
   * wave costs every core a request; a paced machine moves no faster than its clock anyway. */
  statusEveryMs?: number;
  /** Trace every core's machine (off when absent: no observer is attached anywhere). */
  tracing?: GenerationTracing;
}

/**
 * Tracing of a generation. Each core traces its own machine (`service.instance.id` = `core-<n>`)
 * and writes its own span file next to `traceFile` (`<traceFile>.gen-<g>.core-<n>.part`); once
 * every core has stopped (its file flushed), the parts are concatenated into `traceFile` in core
 * order and removed. A line is a whole OTLP export request, so the concatenation is a valid span
 * file. `otlpUrl` is sent to by each core directly.
 */
export interface GenerationTracing extends Omit<CoreTracingOptions, 'traceFile'> {
  traceFile?: string;
}

/** What became of a traced generation's span files. */
export interface TraceOutcome {
  /** The merged span file ('' when only OTLP was asked for). */
  file: string;
  /** Core span files merged into it. */
  parts: number;
  /** Cores whose span file was missing (a core that died); their spans are not in `file`. */
  missing: number[];
  bytes: number;
}

export interface GenerationResult {
  generation: number;
  reason: EndReason;
  invalidReason?: string;
  finals: CoreFinal[];
  records: CoreRecord[];
  counters: Record<string, number>;
  faultsInjected: Record<string, number>;
  /** The bus faults injected, by link (`src->dst`) and kind. */
  faultsByLink: Record<string, Record<string, number>>;
  statusWaves: number;
  /** Per core: the last status it reported. */
  lastStatus: CoreStatus[];
  /** When the controller saw the end condition (a hang, the IPI goal, ...), before the drain. */
  endSeenUnixMs: number;
  /** When the machine's tick 0 was: paced, the common epoch of every core's clock; unpaced, when
   * every core had answered StartRun. */
  startedUnixMs: number;
  wallMs: number;
  /** Scenario runs: the longest csd_lock_wait any wave saw, in the waiter's own steps (what the
   * step-based hang rule compared with `hangSteps`). */
  waitStepsMax: number;
  /** Scenario runs ended by a hang: the wait that was judged hung. */
  hangWait?: HangWait;
  /** Scenario runs: how the drain went (absent when the generation ended invalid before it). */
  drain?: DrainOutcome;
  /** Traced generations: the merged span file. */
  trace?: TraceOutcome;
  /** Fault plans sent live during the generation (`ipiscope faults`), in the order they came. */
  faultPlanUpdates: FaultPlanUpdateNote[];
  /**
   * Scenario runs: the machine's progress as the status waves saw it, until the workload stopped:
   * [ms after the generation started, IPIs handled machine-wide], one pair per wave (a wave's time
   * is when its last answer came). At most PROGRESS_SAMPLES_MAX pairs: a long run keeps every
   * second one of them each time they fill up.
   */
  progress: Array<[number, number]>;
}

/** A live fault-plan update as the controller took it (times from the start of the generation). */
export interface FaultPlanUpdateNote {
  version: number;
  generation: number;
  /** When it came, in ms after the generation started. */
  at_ms: number;
  rules: number;
  /** Pause/kill/restart faults of the plan scheduled by this update (not those already done or
   * scheduled by the plan before). */
  process_faults_scheduled: number;
  /** Process faults that cannot be carried out: the run adopted its cores (no process to signal). */
  process_faults_not_applicable: number;
}

/**
 * A wait judged hung: the waiter's own steps, and the slowest busy core's steps since. `kind`:
 * `soft-lockup` (absent in older records), a CPU spinning in csd_lock_wait for CPU `waiting_for`;
 * `hung-task`, a task of CPU `cpu` asleep until a task it woke has run on CPU `waiting_for`.
 */
export interface HangWait {
  kind?: 'soft-lockup' | 'hung-task';
  cpu: number;
  waiting_for: number;
  own_steps: number;
  machine_steps: number;
}

export interface DrainOutcome {
  settled: boolean;
  waves: number;
  wallMs: number;
  /** IPIs handled machine-wide when the workload stopped (the first drain wave); the IPIs handled
   * at the end minus this many were in flight when the run ended. */
  ipisHandledAtStop: number;
  /** Why the drain did not settle (with `settled: false`). */
  reason?: string;
}

export interface CoreStatus {
  core: number;
  step: number;
  sent: number;
  received: number;
  finished: boolean;
  quiescent: boolean;
  idle: boolean;
  ipisHandled: number;
  ipisSent: number;
  stuck: number[];
  /** CPUs whose task sleeps until a task it woke has run: flat triples [cpu, the woken task's
   * CPU, steps slept]. */
  hung: number[];
  /** The most wake-ups of one offline CPU of the core. */
  offlineWakesMax: number;
  /** IPIs the loss watch confirmed lost and no demux has found since: flat triples [cpu, message
   * lanes, step of the drop]. */
  lost: number[];
  invalidReason: string;
  /** Once draining: the workload's stop step and the per-CPU state the drain judges. */
  drain: { drainStep: number; cpus: Array<{ cpu: number; messageWord: number; irqPending: boolean; inIrq: boolean }> } | null;
}

/**
 * The compiled core entry point, next to this module in dist/. An untraced core starts from the
 * bundle `npm run build` makes (scripts/bundle-core.mjs: one file boots faster, about 0.9 s less
 * for 32 processes on 2 CPUs) when it is there and no older than main.js (a `tsc` run alone
 * rewrites main.js and leaves an old bundle behind); a traced one from main.js, whose tracing
 * modules load from dist/ as they are.
 */
export function coreMainPath(traced = true): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const p = resolve(here, '..', 'core', 'main.js');
  if (!existsSync(p)) throw new UserError(`core entry point ${p} not found; run \`npm run build\` first.`);
  if (traced) return p;
  const bundle = resolve(here, '..', 'core', 'main.bundle.js');
  try {
    return statSync(bundle).mtimeMs >= statSync(p).mtimeMs ? bundle : p;
  } catch {
    return p;
  }
}

/** How long a core may take to answer StartRun / a status request (reconnects included). */
const START_DEADLINE_MS = 10_000;
const STATUS_DEADLINE_MS = 5_000;
/** A scenario run logs a progress line this often (wall ms). */
const PROGRESS_EVERY_MS = 30_000;
/** StopRun writes the core's record: a first attempt gets half the time. */
const STOP_DEADLINE_MS = 20_000;
/** Bound on GenerationResult.progress (a 20 ms wave period fills it in 80 s). */
export const PROGRESS_SAMPLES_MAX = 4096;

/** Appends the progress sample of a wave, keeping the waves whose number is a multiple of
 * `every`; when the series is full, every second sample goes and `every` doubles. */
export function addProgress(progress: Array<[number, number]>, stride: { every: number; waves: number }, sample: [number, number]): void {
  const wave = stride.waves++;
  if (wave % stride.every !== 0) return;
  progress.push(sample);
  if (progress.length < PROGRESS_SAMPLES_MAX) return;
  let j = 0;
  for (let i = 0; i < progress.length; i += 2) progress[j++] = progress[i] as [number, number];
  progress.length = j;
  stride.every *= 2;
}

/**
 * V8 flags of a core process: a small young generation (the default semi-space of 16 MB is most
 * of a core's resident memory; its garbage is short-lived messages and generator frames), and,
 * untraced, an old generation of 24 MB: a core's live heap is about 14 MB however long it runs
 * (a heap snapshot 95 s and 10.5 min into a 32-core v5.4 run: 13.4 and 13.9 MB, the growth all
 * compiled code; its record goes to disk, acknowledged envelopes leave the retransmit buffer),
 * but V8 lets the heap grow toward the cap before it collects: uncapped, a long 32-core run went
 * from 69 to 99 MB resident; with 32 MB, 75 MB after 10.5 min and 82 MB after 49.5 min; with 24 MB,
 * 70 MB over 11 min and 72 MB over a 44.5-min 100,000-IPI run, the same hops and IPI rate, 3% more
 * CPU per tick (wake-list-2012: 71 MB, V8 heap 18 MB used of 24). A core that did outgrow it would
 * die, and the run would be invalid, never wrong.
 * Traced cores load OpenTelemetry and keep spans in flight: 64 MB. Their live heap is about
 * 17 MB (a heap snapshot 28 s into a 32-core v5.4 run: code 6, strings 4); uncapped, V8 let them
 * reach 113-127 MB resident, capped they stay at 77 MB (the same run, the same IPI rate). Spans
 * waiting for an OTLP endpoint that does not answer are bounded too (tracing/create-tracing.ts).
 * One V8 platform worker thread (`--v8-pool-size=1`, default 4): tens of core processes share a
 * few CPUs, so more helper threads for concurrent compiling and marking buy nothing, and each
 * costs stack and allocator pages (3 MB less resident in a 32-process run, same CPU time).
 */
const CORE_NODE_FLAGS = ['--max-semi-space-size=2', '--v8-pool-size=1'];
const CORE_UNTRACED_NODE_FLAGS = ['--max-old-space-size=24'];
export const CORE_TRACED_NODE_FLAGS = ['--max-old-space-size=64'];
/** The heap flags of a traced core, for core processes started elsewhere (docker compose). */
export const CORE_TRACED_HEAP_FLAGS = [CORE_NODE_FLAGS[0] as string, ...CORE_TRACED_NODE_FLAGS];

/** IPISCOPE_CORE_NODE_FLAGS: more V8/Node flags for every core process (space-separated; e.g.
 * `--cpu-prof --cpu-prof-dir=DIR` to profile the cores, or heap limits to study their memory). */
function coreNodeFlags(traced: boolean): string[] {
  const extra = (process.env.IPISCOPE_CORE_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
  return [...CORE_NODE_FLAGS, ...(traced ? CORE_TRACED_NODE_FLAGS : CORE_UNTRACED_NODE_FLAGS), ...extra];
}

// Children never outlive us (same policy as the nats launcher).
const liveCores = new Set<ChildProcess>();
let hooks = false;
function installHooks(): void {
  if (hooks) return;
  hooks = true;
  const killAll = (): void => {
    for (const c of liveCores) {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone already
      }
    }
    liveCores.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      const pids = [...liveCores].map((c) => c.pid).filter((p): p is number => p !== undefined);
      killAll();
      // The temporary directories go in the exit handlers: not before the cores are dead, or one
      // that was opening its record file there makes the directory again.
      waitDeadSync(pids, 2000);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/**
 * Waits (blocking, at most `ms`) until every process of `pids` is gone or a zombie: a process killed
 * by SIGKILL finishes the system call it is in first. Linux only (/proc); elsewhere it returns.
 */
function waitDeadSync(pids: number[], ms: number): void {
  const until = Date.now() + ms;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (const pid of pids) while (pidAlive(pid) && Date.now() < until) Atomics.wait(nap, 0, 0, 5);
}

export class Controller {
  constructor(private readonly opts: ControllerOptions) {}

  async start(): Promise<StartedController> {
    let server: StartedNatsServer | undefined;
    let servers = this.opts.servers;
    if (servers === undefined || servers.length === 0) {
      server = await new NatsServer({ name: 'ipiscope-run' }).start();
      servers = [server.url];
    }
    const c = new StartedController(this.opts, servers, server);
    try {
      await c.init();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }
}

export class StartedController {
  readonly runId: string;
  private nc!: NatsConnection;
  private readonly children = new Map<number, ChildProcess>();
  private readonly registered = new Map<number, { pid: number; epoch: number }>();
  private readonly heartbeats = new Map<number, number>();
  private generation = 0;
  private unexpectedExit = '';
  /** Two processes answer for one core (a core of an earlier run with the same id still runs). */
  private twinCore = '';
  /** The last generation could not start on every core (one never answered StartRun, retried for
   * START_DEADLINE_MS: an adopted core that is gone, say), or ''. */
  private startFailure = '';

  /** Why these core processes can run no further generation (one of them exited when it was not
   * told to, two processes answer for one core, or one never answered StartRun), or '' while they
   * can. */
  get processSetBroken(): string {
    return this.twinCore || this.unexpectedExit || this.startFailure;
  }
  private stopping = false;
  private waiters: Array<() => void> = [];
  readonly ncores: number;
  faultsInjected: Record<string, number> = {};

  constructor(
    private readonly opts: ControllerOptions,
    readonly servers: string[],
    private readonly server: StartedNatsServer | undefined,
  ) {
    this.runId = opts.runId ?? `run-${process.pid}-${Date.now().toString(36)}`;
    this.ncores = opts.cores;
    assert(this.ncores >= 1, 'at least one core');
  }

  /** A run id chosen by the user must not be one a live run uses on this NATS: their cores would
   * take each other's messages. Nobody subscribed to the controller subject: free. */
  private async checkRunIdFree(): Promise<void> {
    try {
      await this.nc.request(controllerSubject(this.runId), new Uint8Array(0), { timeout: 500 });
    } catch (e) {
      if (/no responders/i.test((e as Error).message)) return;
    }
    throw new UserError(`run id ${this.runId} is in use on NATS at ${redactNatsUrls(this.servers, ', ')}: another run listens on its subjects; pick another --run-id`);
  }

  get pids(): number[] {
    return [...this.children.values()].map((c) => c.pid ?? -1);
  }

  /** @internal */
  async init(): Promise<void> {
    try {
      this.nc = await connect({ ...natsConnectTarget(this.servers), name: `ipiscope-${this.runId}-controller`, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    } catch (e) {
      // The first connect does not retry: an address nobody serves is a user's mistake, said plainly.
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new UserError(
        `cannot connect to NATS at ${redactNatsUrls(this.servers, ', ')}: ${(e as Error).message}${cause !== undefined ? ` (${cause})` : ''}; ` +
          'start a nats-server there, fix the URL, or leave out --nats (and IPISCOPE_NATS) to let ipiscope start a private one',
      );
    }
    if (this.opts.runId !== undefined) await this.checkRunIdFree();
    // Live fault-plan updates (`ipiscope faults`): the transports of the cores take the bus rules
    // from the same message; the controller carries out the process faults and answers the sender.
    this.nc.subscribe(faultsSubject(this.runId), { callback: (err, m) => (err === null ? this.onFaultPlanUpdate(m) : undefined) });
    this.nc.subscribe(controllerSubject(this.runId), {
      callback: (err, m) => {
        if (err !== null) return;
        try {
          this.onControl(decodeControlMsg(m.data));
        } catch {
          // a malformed control message is ignored; the core will time out
        }
      },
    });
    await this.nc.flush();
    if ((this.opts.mode ?? 'spawn') === 'spawn') {
      installHooks();
      for (let core = 0; core < this.ncores; core++) this.spawnCore(core);
    }
    const deadline = Date.now() + (this.opts.registerTimeoutMs ?? 60_000);
    while (this.registered.size < this.ncores) {
      if (this.twinCore !== '') throw new UserError(this.twinCore);
      if (this.unexpectedExit !== '') throw new UserError(`a core process failed to start: ${this.unexpectedExit}`);
      if (Date.now() > deadline) {
        const missing = Array.from({ length: this.ncores }, (_, i) => i).filter((i) => !this.registered.has(i));
        throw new UserError(
          `only ${this.registered.size} of ${this.ncores} cores registered on ${controllerSubject(this.runId)} ` +
            `within ${this.opts.registerTimeoutMs ?? 60_000} ms (missing: ${missing.slice(0, 16).join(', ')}${missing.length > 16 ? ', ...' : ''}); ` +
            `check that the cores reach NATS at ${redactNatsUrls(this.servers, ', ')}` +
            `${this.opts.mode === 'adopt' ? ` and were started with --run ${this.runId} --core N for N in 0..${this.ncores - 1}` : ''}.`,
        );
      }
      await this.until(200);
    }
    // On a private nats-server this controller started a moment ago (no --nats), nothing but the
    // processes it spawned can listen: the probe would only cost its 150 ms.
    if (this.server === undefined || this.opts.mode === 'adopt') await this.checkOneProcessPerCore();
  }

  /**
   * Every core's control subject must have one listener: a core process of an earlier run with the
   * same id (left waiting by a failed --adopt, say) would take the messages of the new one. Each
   * core is asked once and its answers are counted for a moment; heartbeats catch a twin later.
   */
  private async checkOneProcessPerCore(): Promise<void> {
    const probe = encodeControlMsg({ kind: 'statusRequest', fields: { runId: this.runId, generation: 0, wave: 0 } });
    const counts = await Promise.all(
      Array.from({ length: this.ncores }, async (_, core) => {
        let n = 0;
        try {
          for await (const _m of await this.nc.requestMany(coreControlSubject(this.runId, core), probe, { strategy: 'timer', maxWait: 150 })) n++;
        } catch {
          // no responders yet, or a timeout: not two of them
        }
        return n;
      }),
    );
    const twins = counts.flatMap((n, core) => (n > 1 ? [core] : []));
    if (twins.length > 0) {
      this.twin(twins.join(', '), `${Math.max(...counts)} answers to one request`);
      throw new UserError(this.twinCore);
    }
  }

  /** Two processes answer for these cores: the first such finding stops the run (see `twinCore`). */
  private twin(cores: string, evidence: string): void {
    this.twinCore ||=
      `two processes answer for core ${cores} of run ${this.runId} (${evidence}): ` +
      'a core process of an earlier run with this id is still running; stop it, or pick another --run-id';
    this.wake();
  }

  private spawnCore(core: number): void {
    const servers = this.opts.coreServers?.(core) ?? this.servers;
    // Credentials travel in the environment, not on a command line every local user can read.
    const secret = natsUrlsHaveCredentials(servers);
    const child = spawn(
      process.execPath,
      [...coreNodeFlags(this.opts.preloadTracing === true), coreMainPath(this.opts.preloadTracing === true), '--run', this.runId, '--core', String(core), ...(secret ? [] : ['--nats', servers.join(',')]), '--seed', String(this.opts.seed ?? 0), '--watch-parent', 'yes', ...(this.opts.preloadTracing === true ? ['--preload-tracing'] : [])],
      { stdio: ['pipe', 'ignore', 'pipe'], ...(secret ? { env: { ...process.env, IPISCOPE_NATS: servers.join(',') } } : {}) },
    );
    liveCores.add(child);
    this.children.set(core, child);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
      this.opts.log?.(`core ${core}: ${d.trimEnd()}`);
    });
    child.on('exit', (code, sig) => {
      liveCores.delete(child);
      if (this.children.get(core) === child) this.children.delete(core);
      if (!this.stopping && !child.killedOnPurpose) {
        this.unexpectedExit ||= `core ${core} (pid ${child.pid}) exited (code ${code}, signal ${sig})${stderr !== '' ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        this.wake();
      }
    });
  }

  private onControl(c: ControlMsg): void {
    const f = c.fields;
    const core = Number(f.core);
    // A core of another machine size (a core-7 left over next to a 4-core scenario) is not ours.
    if (!Number.isInteger(core) || core < 0 || core >= this.ncores) return;
    if (c.kind === 'registerCore') {
      const known = this.registered.get(core);
      const child = this.children.get(core);
      // Spawned: the registration must come from our child (a restarted one registers anew).
      // Adopted: a second process for a core that already registered is a twin.
      const stranger = this.opts.mode === 'adopt' ? known !== undefined && known.epoch !== Number(f.senderEpoch) : child !== undefined && child.pid !== Number(f.pid);
      if (stranger && !this.stopping) {
        this.twin(`${core}`, `pids ${known?.pid ?? child?.pid ?? '?'} and ${String(f.pid)}`);
        return;
      }
      this.registered.set(core, { pid: Number(f.pid), epoch: Number(f.senderEpoch) });
      this.wake();
    } else if (c.kind === 'heartbeat') {
      this.heartbeats.set(core, Date.now());
      // Every process has its own sender epoch: heartbeats of another one for a registered core
      // mean two processes take that core's messages (their machines would mix on the bus).
      const known = this.registered.get(core);
      if (known !== undefined && known.epoch !== Number(f.senderEpoch) && !this.stopping) this.twin(`${core}`, `sender epochs ${known.epoch} and ${String(f.senderEpoch)}`);
      // Adopted cores may have registered before this controller listened (docker compose starts
      // them first): their heartbeats, every 500 ms, register them too.
      if (this.opts.mode === 'adopt' && !this.registered.has(core)) {
        this.registered.set(core, { pid: -1, epoch: Number(f.senderEpoch) });
        this.wake();
      }
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private until(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== done);
        r();
      }, ms);
      const done = (): void => {
        clearTimeout(t);
        r();
      };
      this.waiters.push(done);
    });
  }

  private async request(core: number, m: ControlMsg, timeoutMs = 10_000): Promise<ControlMsg> {
    const reply = await this.nc.request(coreControlSubject(this.runId, core), encodeControlMsg(m), { timeout: timeoutMs });
    return decodeControlMsg(reply.data);
  }

  /**
   * A request that survives a core's reconnect to another NATS node: "no responders" and timeouts
   * are retried until `deadlineMs` after the first attempt (the request must be idempotent).
   */
  private async requestRetrying(core: number, m: ControlMsg, deadlineMs: number, attemptMs = 1000): Promise<ControlMsg> {
    const end = Date.now() + deadlineMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request(core, m, Math.max(1, Math.min(attemptMs, end - Date.now())));
      } catch (e) {
        if (this.killedNow.has(core)) {
          throw new Error(`core ${core} was killed by the fault plan while it was asked for ${m.kind}`, { cause: e });
        }
        if (Date.now() + 20 >= end || this.stopping) {
          throw new Error(`core ${core} did not answer ${m.kind} in ${deadlineMs} ms (${attempt} attempts; last: ${(e as Error).message})`, { cause: e });
        }
        await this.until(20);
      }
    }
  }

  /**
   * Copies a file core `core` wrote in generation `gen` (FileChunkRequest) to `dest`, chunk by
   * chunk; returns its size, or why it could not. A partial copy is removed.
   */
  private async fetchCoreFile(core: number, gen: number, file: CoreFileKind, dest: string): Promise<number | string> {
    mkdirSync(dirname(dest), { recursive: true });
    const fd = openSync(dest, 'w');
    let offset = 0;
    let ok = false;
    try {
      for (;;) {
        let r: ControlMsg;
        try {
          r = await this.requestRetrying(core, { kind: 'fileChunkRequest', fields: { runId: this.runId, generation: gen, file, offset, maxBytes: FILE_CHUNK_MAX } }, STOP_DEADLINE_MS, STOP_DEADLINE_MS / 2);
        } catch (e) {
          return (e as Error).message;
        }
        const f = r.fields;
        if (r.kind !== 'fileChunk' || Number(f.offset) !== offset || String(f.file) !== file) return `core ${core} answered ${r.kind} for ${String(f.file)} at ${String(f.offset)}, not ${file} at ${offset}`;
        if (String(f.error ?? '') !== '') return String(f.error);
        const data = f.data instanceof Uint8Array ? f.data : new Uint8Array(0);
        if (data.length > 0) writeSync(fd, data, 0, data.length);
        offset += data.length;
        const total = Number(f.totalBytes);
        if (offset >= total || data.length === 0) {
          ok = offset === total;
          return ok ? offset : `the file ended at byte ${offset} of ${total}`;
        }
      }
    } finally {
      closeSync(fd);
      if (!ok) rmSync(dest, { force: true });
    }
  }

  /** Sends a new fault plan to every transport (live change during a run). */
  updateFaultPlan(plan: FaultPlan, version: number): void {
    this.nc.publish(faultsSubject(this.runId), encodeControlMsg({ kind: 'faultPlanUpdate', fields: { runId: this.runId, planVersion: version, faultPlanJson: JSON.stringify(plan) } }));
  }

  /** Runs one machine (a generation) on the cores and gathers its final state. */
  async runGeneration(spec: MachineSpec, o: GenerationOptions): Promise<GenerationResult> {
    const t0 = Date.now();
    const gen = ++this.generation;
    this.ending = 0;
    const n = coreCount(topologyOf(spec));
    if (n > this.ncores) throw new UserError(`the machine has ${n} cores but only ${this.ncores} core processes run`);
    // Adopted cores were started by someone else (docker compose passes --preload-tracing).
    assert(o.tracing === undefined || this.opts.preloadTracing === true || this.opts.mode === 'adopt', 'a traced generation runs on cores started with preloadTracing (they get the heap tracing needs)');
    const loop: CoreLoopOptions = {
      sliceSteps: o.sliceSteps ?? 512, recordDir: o.recordDir ?? '', idleTickUs: o.idleTickUs ?? 0,
      // Adopted cores may run anywhere (a container each): their files come over the bus.
      filesAtCore: this.opts.mode === 'adopt',
      aheadTicksMax: o.aheadTicksMax ?? DEFAULT_CORE_LOOP.aheadTicksMax,
      tickUs: o.pace?.tickUs ?? 0,
      // Paced: held until every core has built its machine (StartClock, below).
      epochMs: 0,
      lagTicksMax: o.pace?.lagTicksMax ?? DEFAULT_CORE_LOOP.lagTicksMax,
      behindMsMax: o.pace?.behindMsMax ?? DEFAULT_CORE_LOOP.behindMsMax,
      catchUpMsMax: o.pace?.catchUpMsMax ?? DEFAULT_CORE_LOOP.catchUpMsMax,
      ...(o.pace?.drainTickUs !== undefined ? { drainTickUs: o.pace.drainTickUs } : {}),
    };
    const plan = o.faultPlan ?? emptyFaultPlan();
    // The run's start for the fault plan's times, the same for every core and for the process faults.
    const startUnixMs = Date.now();
    if (this.opts.mode === 'adopt' && processFaultsOf(plan).length > 0) {
      throw new UserError('the fault plan pauses, kills or restarts cores, which needs core processes this controller started; these cores were adopted');
    }
    const cores = Array.from({ length: n }, (_, i) => i);
    let startError = '';
    await Promise.all(
      cores.map((core) =>
        this.requestRetrying(core, {
          kind: 'startRun',
          fields: {
            runId: this.runId, seed: String(this.opts.seed ?? 0), topologyJson: JSON.stringify(topologyOf(spec)),
            scenarioJson: JSON.stringify(spec), faultPlanJson: JSON.stringify(plan), startUnixMs,
            generation: gen, optionsJson: JSON.stringify(loop),
            ...(o.tracing !== undefined ? { tracingJson: coreTracingJson(o.tracing, gen, core) } : {}),
          },
        }, START_DEADLINE_MS, START_DEADLINE_MS / 2).catch((e: unknown) => {
          startError ||= (e as Error).message;
        }),
      ),
    );
    if (loop.tickUs > 0 && startError === '') {
      // Every machine is built: one tick 0 for all, a margin from now. Before, a fixed guess of
      // 300 ms + 30 ms per core after StartRun left a 32-core run 0.7 s idle with every core built.
      loop.epochMs = Date.now() + (o.pace?.startDelayMs ?? 100 + 2 * n);
      await Promise.all(
        cores.map((core) =>
          this.requestRetrying(core, { kind: 'startClock', fields: { runId: this.runId, generation: gen, epochMs: loop.epochMs } }, START_DEADLINE_MS, START_DEADLINE_MS / 2).catch((e: unknown) => {
            startError ||= (e as Error).message;
          }),
        ),
      );
    }
    const startedUnixMs = loop.tickUs > 0 ? loop.epochMs : Date.now();
    this.opts.onGenerationStarted?.(gen);
    this.genStartUnixMs = startUnixMs;
    this.genTimers = [];
    this.processFaultsScheduled.clear();
    this.faultPlanUpdates = [];
    this.running = gen;
    this.scheduleProcessFaults(plan, this.genStartUnixMs);
    const timers = this.genTimers;
    let reason: EndReason = 'timeout';
    let invalidReason: string | undefined;
    let prev: CoreStatus[] | null = null;
    let last: CoreStatus[] = [];
    let waves = 0;
    const end = o.end;
    const waits = new Map<string, number[]>();
    const sleeps = new Map<string, number[]>();
    let hangWait: HangWait | null = null;
    let waitStepsMax = 0;
    const lostSeen = new Set<string>();
    // What a lost IPI's interrupt was: a doorbell where every host IPI is one (POWER9 v5.x), else
    // a doorbell (to a sibling) or an XICS IPI.
    const patches = spec.kind === 'scenario' ? resolveKernel({ kernel: spec.kernel, patches: spec.patches, revert: spec.revert }) : null;
    const lostVia = patches !== null && hostIpisAreDoorbells(topologyOf(spec).cpuModel, (c) => patches.has(c)) ? 'doorbell' : 'interrupt';
    let endSeenUnixMs = 0;
    let lastProgressMs = Date.now();
    const progress: Array<[number, number]> = [];
    const progressStride = { every: 1, waves: 0 };
    const deadline = t0 + (end.kind === 'quiet' ? end.timeoutMs : end.durationMs);
    try {
      for (;;) {
        if (startError !== '') {
          reason = 'invalid';
          invalidReason = `generation ${gen} did not start on every core: ${startError}`;
          this.startFailure = invalidReason;
          break;
        }
        if (this.unexpectedExit !== '' || this.processFaultInvalid !== '' || this.twinCore !== '') {
          reason = 'invalid';
          invalidReason = this.processFaultInvalid || this.twinCore || this.unexpectedExit;
          break;
        }
        waves++;
        let statuses: CoreStatus[];
        try {
          statuses = await Promise.all(cores.map(async (core) => toStatus(await this.requestRetrying(core, { kind: 'statusRequest', fields: { runId: this.runId, generation: gen, wave: waves } }, STATUS_DEADLINE_MS))));
        } catch (e) {
          if (this.pausedNow.size > 0) {
            await this.until(20);
            continue;
          }
          reason = 'invalid';
          // A wave under way when the plan killed a core fails on it: the plan's reason, not this.
          invalidReason = this.processFaultInvalid || this.twinCore || this.unexpectedExit || `a core stopped answering status requests: ${(e as Error).message}`;
          break;
        }
        last = statuses;
        const bad = statuses.find((s) => s.invalidReason !== '');
        if (bad !== undefined) {
          reason = 'invalid';
          invalidReason = bad.invalidReason;
          break;
        }
        const sent = statuses.reduce((a, s) => a + s.sent, 0);
        const received = statuses.reduce((a, s) => a + s.received, 0);
        if (end.kind === 'quiet') {
          const quiet = sent === received && statuses.every((s) => s.finished && s.quiescent && s.idle);
          if (quiet && prev !== null && sameCounts(prev, statuses)) {
            reason = 'finished';
            break;
          }
          prev = quiet ? statuses : null;
          if (Date.now() > deadline) {
            reason = 'timeout';
            invalidReason = `no quiet end within ${end.timeoutMs} ms (sent ${sent}, received ${received}; ${statuses.map(describeStatus).join(', ')})`;
            break;
          }
          await this.until(1);
        } else {
          const handled = statuses.reduce((a, s) => a + s.ipisHandled, 0);
          addProgress(progress, progressStride, [Date.now() - t0, handled]);
          if (Date.now() - lastProgressMs >= PROGRESS_EVERY_MS) {
            // A long run says how it goes (stderr of `ipiscope run`), never silent for minutes.
            lastProgressMs = Date.now();
            const steps = statuses.map((s) => s.step);
            this.opts.log?.(
              `progress: ${Math.round((Date.now() - t0) / 1000)} s, ${handled} IPIs handled${end.ipis > 0 ? ` of ${end.ipis}` : ''}, ` +
                `sent ${sent} bus messages, ticks ${Math.min(...steps)}-${Math.max(...steps)} over the cores`,
            );
          }
          for (const s of statuses) for (let i = 2; i < s.stuck.length; i += 3) waitStepsMax = Math.max(waitStepsMax, s.stuck[i] as number);
          // Losses the cores' watch confirmed, said once each as they are seen.
          const losses = lostIpisSeen(statuses, lostSeen, end.ticksPerSecond, lostVia);
          for (const l of losses.lines) this.opts.log?.(`${l} (${((Date.now() - t0) / 1000).toFixed(1)} s into the machine)`);
          const lostCallWaited = losses.callWaited;
          hangWait = hangSuspected(statuses, waits, end.hangSteps);
          const hungTask = (end.hungSteps ?? 0) > 0 ? hangSuspected(statuses, sleeps, end.hungSteps ?? 0, 'hung-task') : null;
          hangWait ??= hungTask;
          if (hangWait !== null) {
            // Said at once: the drain that judges it (wait forever, or late) takes a few seconds more.
            this.opts.log?.(
              (hangWait.kind === 'hung-task'
                ? `hang: a task of CPU ${hangWait.cpu} has slept past the hung-task timeout until a task it woke runs on CPU ${hangWait.waiting_for}, `
                : `hang: CPU ${hangWait.cpu} has spun in csd_lock_wait for CPU ${hangWait.waiting_for} past the soft-lockup threshold, `) +
                `${((Date.now() - t0) / 1000).toFixed(1)} s into the machine; draining it before the verdict`,
            );
            reason = 'hang';
          } else if (end.stopAtLost === true && lostCallWaited) {
            this.opts.log?.('lost: a CPU waits in csd_lock_wait for a CALL_FUNCTION that was lost; draining the machine to judge it');
            reason = 'lost';
          } else if ((end.stormWakes ?? 0) > 0 && statuses.some((s) => s.offlineWakesMax > (end.stormWakes ?? 0))) {
            const s = statuses.reduce((a, b) => (b.offlineWakesMax > a.offlineWakesMax ? b : a));
            this.opts.log?.(`storm: an offline CPU of core ${s.core} has woken ${s.offlineWakesMax} times, ${((Date.now() - t0) / 1000).toFixed(1)} s into the machine`);
            reason = 'storm';
          } else if (end.ipis > 0 && handled >= end.ipis) reason = 'ipis';
          else if (statuses.some((s) => s.step >= end.stepsMax)) reason = 'steps-max';
          else if (Date.now() > deadline) reason = 'duration';
          else if (sent === received && statuses.every((s) => s.finished && s.quiescent && s.idle)) reason = 'finished';
          else {
            await this.until(o.statusEveryMs ?? 20);
            continue;
          }
          break;
        }
      }
    } finally {
      endSeenUnixMs = Date.now();
      this.running = 0;
      this.ending = gen;
      this.opts.onGenerationEnding?.(gen);
      for (const t of timers) clearTimeout(t);
      for (const core of this.pausedNow) this.children.get(core)?.kill('SIGCONT');
      this.pausedNow.clear();
    }
    let drain: DrainOutcome | undefined;
    // A storm is not drained: the offline thread's latched doorbell keeps it waking for ever.
    if (end.kind === 'scenario' && reason !== 'invalid' && reason !== 'timeout' && reason !== 'storm') {
      const d0 = Date.now();
      const settleSteps = end.drainSettleSteps ?? DRAIN_SETTLE_STEPS;
      // Paced, the settle steps take their ticks of wall time: the second wave is asked for then.
      const settleWaitMs = loop.tickUs > 0 ? (settleSteps * (loop.drainTickUs || loop.tickUs)) / 1000 : 0;
      const r = await this.drainGeneration(gen, cores, settleSteps, end.drainTimeoutMs ?? DRAIN_TIMEOUT_MS, o.statusEveryMs ?? 20, settleWaitMs);
      waves += r.waves;
      if (r.statuses.length > 0) last = r.statuses;
      drain = { settled: r.invalidReason === undefined, waves: r.waves, wallMs: Date.now() - d0, ipisHandledAtStop: r.ipisHandledAtStop };
      if (r.invalidReason !== undefined) {
        drain.reason = r.invalidReason;
        invalidReason = `the run ended (${reason}) but could not be judged: ${r.invalidReason}`;
        reason = 'invalid';
      }
    }
    const finals: CoreFinal[] = [];
    const records: CoreRecord[] = [];
    const counters: Record<string, number> = {};
    const results = await Promise.all(
      cores.map(async (core) => {
        if (!this.children.has(core) && (this.opts.mode ?? 'spawn') === 'spawn') return null;
        try {
          return await this.requestRetrying(core, { kind: 'stopRun', fields: { runId: this.runId, reason, generation: gen, exit: false } }, STOP_DEADLINE_MS, STOP_DEADLINE_MS / 2);
        } catch {
          return null;
        }
      }),
    );
    for (const r of results) {
      if (r === null) continue;
      const f = r.fields;
      if (f.verdict === 'invalid' && reason !== 'invalid') {
        reason = 'invalid';
        invalidReason = String(f.reason);
      }
      if (typeof f.counters === 'object' && f.counters !== null) {
        for (const [k, v] of Object.entries(f.counters as Record<string, number>)) {
          // Summed over the cores, except the `_max` ones (pacing), which are maxima.
          counters[k] = k.endsWith('_max') ? Math.max(counters[k] ?? 0, Number(v)) : (counters[k] ?? 0) + Number(v);
        }
      }
      const rj = String(f.resultsJson ?? '');
      if (rj === '') continue;
      const res = JSON.parse(rj) as CoreResultsJson;
      finals.push(res.final as CoreFinal);
      if (res.record !== undefined) records.push(res.record as CoreRecord);
    }
    if (loop.filesAtCore === true && reason !== 'invalid') {
      // The cores' files are on their own disks: fetch them over the bus, or the run cannot be judged.
      for (const rec of records) {
        if (rec.inboxFile === undefined) continue;
        const dest = join(loop.recordDir, `gen-${gen}-core-${rec.core}.inbox.jsonl`);
        const got = await this.fetchCoreFile(rec.core, gen, 'inbox', dest);
        const want = rec.inboxFile.at + rec.inboxFile.bytes;
        if (typeof got === 'string' || got !== want) {
          reason = 'invalid';
          invalidReason = `the inbox record of core ${rec.core} could not be fetched: ${typeof got === 'string' ? got : `${got} bytes of ${want}`}`;
          break;
        }
        rec.inboxFile = { ...rec.inboxFile, path: dest };
      }
    }
    if (loop.filesAtCore === true && o.tracing?.traceFile !== undefined) {
      for (const core of cores) {
        const got = await this.fetchCoreFile(core, gen, 'trace', coreSpanFile(o.tracing.traceFile, gen, core));
        if (typeof got === 'string') this.opts.log?.(`core ${core}: its span file could not be fetched: ${got}`);
      }
    }
    if (reason !== 'invalid' && finals.length !== n) {
      reason = 'invalid';
      invalidReason = `only ${finals.length} of ${n} cores returned their final state`;
    }
    // The bus faults the cores injected, by link, and their totals by kind.
    const faultsByLink: Record<string, Record<string, number>> = {};
    const busFaults: Record<string, number> = {};
    for (const [k, v] of Object.entries(counters)) {
      const m = /^faultlink_(\w+)@(.+)$/.exec(k);
      if (m === null) continue;
      const [kind, link] = [m[1] as string, m[2] as string];
      (faultsByLink[link] ??= {})[kind] = v;
      busFaults[kind] = (busFaults[kind] ?? 0) + v;
    }
    Object.assign(this.faultsInjected, busFaults);
    finals.sort((a, b) => a.core - b.core);
    records.sort((a, b) => a.core - b.core);
    const out: GenerationResult = {
      generation: gen, reason, finals, records, counters, faultsInjected: { ...this.faultsInjected }, faultsByLink, statusWaves: waves,
      lastStatus: last, wallMs: Date.now() - t0, waitStepsMax, endSeenUnixMs, startedUnixMs, faultPlanUpdates: this.faultPlanUpdates,
      progress,
    };
    if (hangWait !== null) out.hangWait = hangWait;
    if (drain !== undefined) out.drain = drain;
    if (invalidReason !== undefined) out.invalidReason = invalidReason;
    if (o.tracing?.traceFile !== undefined) out.trace = mergeSpanFiles(o.tracing.traceFile, gen, cores);
    this.ending = 0;
    return out;
  }

  /**
   * The drain (see the file comment): stop every core's workload, then status waves until the
   * machine is settled or `timeoutMs` has passed. Returns the waves run, the last statuses, and
   * why it did not settle (undefined when it did).
   *
   * The two waves that settle it are compared, not the waves between them: the counts compared
   * only grow (sent, received, IPIs handled and sent) or would differ (a message byte set, a
   * waiter), so no demux, send or IPI between them leaves both alike, and a timer's handler that
   * a wave between them happened to land in changes none of them. So after the first quiet wave
   * the next is asked for `settleWaitMs` later (paced: the wall time of the settle steps), not
   * every `everyMs`: on a busy 32-core machine some CPU is in a timer's handler at one wave in a
   * few, and a run of eight quiet waves in a row took seconds to come. A core that is behind its
   * clock then is asked again a fifth of that later.
   */
  private async drainGeneration(
    gen: number,
    cores: number[],
    settleSteps: number,
    timeoutMs: number,
    everyMs: number,
    settleWaitMs = 0,
  ): Promise<{ waves: number; statuses: CoreStatus[]; ipisHandledAtStop: number; invalidReason?: string }> {
    const deadline = Date.now() + timeoutMs;
    let ipisHandledAtStop = -1;
    let prev: CoreStatus[] | null = null;
    let last: CoreStatus[] = [];
    let notQuiet = 'no status wave answered yet';
    for (let waves = 1; ; waves++) {
      if (this.unexpectedExit !== '') return { waves, statuses: last, ipisHandledAtStop, invalidReason: this.unexpectedExit };
      let statuses: CoreStatus[];
      try {
        statuses = await Promise.all(
          cores.map(async (core) =>
            toStatus(await this.requestRetrying(core, { kind: 'statusRequest', fields: { runId: this.runId, generation: gen, wave: waves, drain: true } }, STATUS_DEADLINE_MS)),
          ),
        );
      } catch (e) {
        return { waves, statuses: last, ipisHandledAtStop, invalidReason: `a core stopped answering during the drain: ${(e as Error).message}` };
      }
      last = statuses;
      if (ipisHandledAtStop < 0) ipisHandledAtStop = statuses.reduce((a, s) => a + s.ipisHandled, 0);
      const bad = statuses.find((s) => s.invalidReason !== '');
      if (bad !== undefined) return { waves, statuses, ipisHandledAtStop, invalidReason: bad.invalidReason };
      notQuiet = whyNotQuiet(statuses);
      let waitMs = everyMs;
      if (notQuiet === '') {
        if (prev !== null && !sameDrainCounts(prev, statuses)) prev = null;
        if (prev === null) {
          prev = statuses;
          waitMs = Math.max(everyMs, settleWaitMs);
        } else if (settledSince(prev, statuses, settleSteps)) return { waves, statuses, ipisHandledAtStop };
        // Quiet and alike, but a core behind its clock has not run the settle steps yet: soon.
        else if (settleWaitMs > 0) waitMs = Math.min(everyMs, Math.max(20, settleWaitMs / 5));
      } else {
        prev = null;
      }
      if (Date.now() > deadline) {
        return { waves, statuses, ipisHandledAtStop, invalidReason: `the machine did not drain within ${timeoutMs} ms (${notQuiet === '' ? `quiet, but not for ${settleSteps} steps of every busy core` : notQuiet})` };
      }
      await this.until(waitMs);
    }
  }

  private readonly pausedNow = new Set<number>();
  /** Cores whose process the fault plan killed (and did not restart): nothing asks them again. */
  private readonly killedNow = new Set<number>();
  private processFaultInvalid = '';

  /** While a generation runs: its number, when it started, and its process-fault timers. */
  private running = 0;
  /** The generation whose workload has stopped and which is being drained and gathered (0: none). */
  private ending = 0;
  private genStartUnixMs = 0;
  private genTimers: NodeJS.Timeout[] = [];
  /** Process faults of this generation already scheduled (kind/core/at_ms): a live plan that
   * repeats the plan before it does not pause or kill twice. */
  private readonly processFaultsScheduled = new Set<string>();
  private faultPlanUpdates: FaultPlanUpdateNote[] = [];
  private faultPlanVersion = 0;

  /**
   * Schedules the plan's pause/kill/restart faults at `at_ms` after `baseUnixMs` (at once when that
   * has passed); returns how many it scheduled. Timers go to `genTimers`, cleared when the
   * generation's machine stops.
   */
  private scheduleProcessFaults(plan: FaultPlan, baseUnixMs: number): { scheduled: number; notApplicable: number } {
    const faults = processFaultsOf(plan);
    // Adopted cores are someone else's processes (another container, maybe another host).
    if (this.opts.mode === 'adopt') return { scheduled: 0, notApplicable: faults.length };
    const timers = this.genTimers;
    const count = (k: string): void => {
      this.faultsInjected[k] = (this.faultsInjected[k] ?? 0) + 1;
    };
    let scheduled = 0;
    for (const f of faults) {
      const key = `${f.kind}/${f.core}/${f.atMs}`;
      if (this.processFaultsScheduled.has(key)) continue;
      this.processFaultsScheduled.add(key);
      scheduled++;
      const child = (): ChildProcess | undefined => this.children.get(f.core);
      timers.push(
        setTimeout(() => {
          const c = child();
          if (c === undefined) return;
          if (f.kind === 'pause') {
            count('pause');
            this.pausedNow.add(f.core);
            c.kill('SIGSTOP');
            timers.push(
              setTimeout(() => {
                this.pausedNow.delete(f.core);
                c.kill('SIGCONT');
              }, f.durationMs),
            );
          } else {
            count(f.kind);
            (c as ChildProcess & { killedOnPurpose?: boolean }).killedOnPurpose = true;
            c.kill('SIGKILL');
            // Gone now, not when its exit is seen: the end of the run asks no dead process for
            // its results (it waited the whole stop deadline, 20 s, for one).
            if (this.children.get(f.core) === c) this.children.delete(f.core);
            const atMs = Date.now() - baseUnixMs;
            this.processFaultInvalid ||=
              `core ${f.core} was ${f.kind === 'kill' ? 'killed' : 'killed and restarted'} by the fault plan ${atMs} ms into the run (its at_ms: ${f.atMs}): ` +
              (f.kind === 'kill'
                ? 'its threads, its homes and its links are gone, so the run cannot be trusted'
                : 'the new process has lost the old one\'s threads, homes and links, so the run cannot be trusted');
            if (f.kind === 'restart') this.spawnCore(f.core);
            else this.killedNow.add(f.core);
            this.wake();
          }
        }, Math.max(0, baseUnixMs + f.atMs - Date.now())),
      );
    }
    return { scheduled, notApplicable: 0 };
  }

  /**
   * A fault plan sent live on the run's faults subject. The cores' transports take its bus rules
   * from the same message (a version not newer than theirs is ignored there too); here its process
   * faults are scheduled, with `at_ms` counted from the generation's start like the plan's, and the
   * sender is answered (JSON) with what was taken. Between generations only the bus rules apply.
   */
  private onFaultPlanUpdate(m: Msg): void {
    let answer: Record<string, unknown>;
    try {
      const c = decodeControlMsg(m.data);
      // `ipiscope faults --from-now` asks where the run is before it shifts the plan's times.
      if (c.kind === 'statusRequest') answer = { ok: true, run: this.runId, generation: this.running, at_ms: this.runAtMs(), cores: this.ncores, ...(this.running === 0 && this.ending > 0 ? { ending: this.ending } : {}) };
      else if (c.kind === 'faultPlanUpdate') answer = this.takeFaultPlan(Number(c.fields.planVersion ?? 0), String(c.fields.faultPlanJson));
      else return;
    } catch (e) {
      answer = { ok: false, run: this.runId, error: (e as Error).message };
    }
    if (m.reply !== undefined && m.reply !== '') m.respond(new TextEncoder().encode(JSON.stringify(answer)));
  }

  /** Takes a live plan (throws on a malformed one); the answer for its sender. */
  private takeFaultPlan(version: number, planJson: string): Record<string, unknown> {
    const plan = parseFaultPlanValue(JSON.parse(planJson), 'fault plan update');
    if (version <= this.faultPlanVersion) {
      return { ok: false, run: this.runId, error: `plan version ${version} is not newer than ${this.faultPlanVersion}, so the cores ignore it` };
    }
    this.faultPlanVersion = version;
    if (this.running === 0 && (this.ending > 0 || this.stopping)) {
      // Too late for the machine: its workload has stopped (the cores' transports take the bus
      // rules, for the drain's messages and a next machine, if any). Said, so nobody waits for it.
      return {
        ok: true, run: this.runId, version, generation: this.ending, late: true, rules: plan.faults.length,
        process_faults_scheduled: 0, process_faults_late: processFaultsOf(plan).length,
        error: `generation ${this.ending} was ending (its workload had stopped): the plan does nothing to it`,
      };
    }
    const p = this.running > 0 ? this.scheduleProcessFaults(plan, this.genStartUnixMs) : { scheduled: 0, notApplicable: 0 };
    const note: FaultPlanUpdateNote = {
      version, generation: this.running, at_ms: this.runAtMs(), rules: plan.faults.length,
      process_faults_scheduled: p.scheduled, process_faults_not_applicable: p.notApplicable,
    };
    if (this.running > 0) this.faultPlanUpdates.push(note);
    // Partitions whose whole time has passed when the plan is taken (at_ms counts from the start
    // of the run) do nothing: said, so that nobody waits for them (`faults --from-now` shifts
    // them). A process fault that is due is carried out at once instead.
    const now = this.runAtMs();
    const pastDue = this.running > 0 ? plan.faults.filter((r) => r.type === 'partition' && r.at_ms + r.heal_after_ms <= now).length : 0;
    return { ok: true, run: this.runId, ...note, ...(pastDue > 0 ? { past_due: pastDue } : {}) };
  }

  /** Ms since the running generation started (0 between generations). */
  private runAtMs(): number {
    return this.running > 0 ? Date.now() - this.genStartUnixMs : 0;
  }

  /** Ends every core process and the private NATS; safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const exits = [...this.children.values()].map(
      (c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))),
    );
    if (this.nc !== undefined && !this.nc.isClosed()) {
      // Spawned cores, and adopted ones once a machine ran on them (a run of the compose stack
      // ends its core containers; cores left waiting by a failed adoption are not ours to end).
      const cores = this.opts.mode !== 'adopt' ? [...this.children.keys()] : this.generation > 0 ? [...this.registered.keys()] : [];
      await Promise.all(
        // Only to a process known by its epoch: another one on the subject stays out of it. A
        // spawned core that never registered ends when its stdin closes (below).
        cores.filter((core) => this.registered.has(core)).map((core) =>
          this.request(core, { kind: 'stopRun', fields: { runId: this.runId, reason: 'end', generation: this.generation, exit: true, senderEpoch: this.registered.get(core)?.epoch ?? 0 } }, 2000).catch(() => undefined),
        ),
      );
    }
    const kill = setTimeout(() => {
      for (const c of this.children.values()) c.kill('SIGKILL');
    }, 3000);
    for (const c of this.children.values()) c.stdin?.end();
    await Promise.all(exits);
    clearTimeout(kill);
    this.children.clear();
    if (this.nc !== undefined && !this.nc.isClosed()) await this.nc.close();
    if (this.server !== undefined && this.server.running) await this.server.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

declare module 'node:child_process' {
  interface ChildProcess {
    killedOnPurpose?: boolean;
  }
}

/** Core `core`'s span file of generation `gen`, next to the merged one. */
export function coreSpanFile(traceFile: string, gen: number, core: number): string {
  return `${traceFile}.gen-${gen}.core-${core}.part`;
}

function coreTracingJson(t: GenerationTracing, gen: number, core: number): string {
  const c: CoreTracingOptions = { ...t };
  if (t.traceFile !== undefined) c.traceFile = coreSpanFile(t.traceFile, gen, core);
  return JSON.stringify(c);
}

/**
 * Concatenates the cores' span files into `traceFile` (core order) and removes them. Every line of
 * a part is one whole export request, so the result is a span file as `ipiscope analyze` reads it.
 */
export function mergeSpanFiles(traceFile: string, gen: number, cores: number[]): TraceOutcome {
  const out = openSync(traceFile, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  let parts = 0;
  const missing: number[] = [];
  try {
    for (const core of cores) {
      const part = coreSpanFile(traceFile, gen, core);
      if (!existsSync(part)) {
        missing.push(core);
        continue;
      }
      // Copied in chunks: a long run's parts are hundreds of MB.
      const fd = openSync(part, 'r');
      let last = 0x0a;
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n === 0) break;
          writeSync(out, buf, 0, n);
          last = buf[n - 1] as number;
          bytes += n;
        }
      } finally {
        closeSync(fd);
      }
      // A part cut short (its core died mid-write) must not glue its last line to the next.
      if (last !== 0x0a) writeSync(out, '\n');
      parts++;
      rmSync(part, { force: true });
    }
  } finally {
    closeSync(out);
  }
  return { file: traceFile, parts, missing, bytes };
}

function toStatus(m: ControlMsg): CoreStatus {
  const f = m.fields;
  return {
    core: Number(f.core), step: Number(f.step), sent: Number(f.sent), received: Number(f.received),
    finished: f.finished === true, quiescent: f.quiescent === true, idle: f.idle === true,
    ipisHandled: Number(f.ipisHandled), ipisSent: Number(f.ipisSent),
    stuck: Array.isArray(f.stuck) ? (f.stuck as unknown[]).map(Number) : [],
    hung: Array.isArray(f.hung) ? (f.hung as unknown[]).map(Number) : [],
    offlineWakesMax: Number(f.offlineWakesMax ?? 0),
    lost: Array.isArray(f.lost) ? (f.lost as unknown[]).map(Number) : [],
    invalidReason: String(f.invalidReason ?? ''),
    drain: typeof f.drainJson === 'string' && f.drainJson !== '' ? (JSON.parse(f.drainJson) as CoreStatus['drain']) : null,
  };
}

/** One core's part of a termination wave, for a timeout's reason. */
function describeStatus(s: CoreStatus): string {
  const flags = [s.finished ? '' : 'running', s.quiescent ? '' : 'stores queued', s.idle ? '' : 'busy'].filter((x) => x !== '');
  return `core ${s.core} step ${s.step} sent ${s.sent} received ${s.received}${flags.length > 0 ? ` ${flags.join('+')}` : ' quiet'}`;
}

function sameCounts(a: CoreStatus[], b: CoreStatus[]): boolean {
  return a.every((s, i) => s.sent === b[i]?.sent && s.received === b[i]?.received && s.step === b[i]?.step);
}

/**
 * The losses the cores' watch confirmed (`CoreStatus.lost`), as the lines that say them (each once:
 * `seen` keeps the ones said), and whether a lost CALL_FUNCTION has a CPU waiting for its target in
 * csd_lock_wait (what `stopAtLost` ends a run on).
 */
export function lostIpisSeen(statuses: CoreStatus[], seen: Set<string>, ticksPerSecond?: number, what: 'doorbell' | 'interrupt' = 'interrupt'): { lines: string[]; callWaited: boolean } {
  const lines: string[] = [];
  let callWaited = false;
  for (const st of statuses) {
    for (let i = 0; i + 2 < st.lost.length; i += 3) {
      const [cpu, lanes, tick] = [st.lost[i] as number, st.lost[i + 1] as number, st.lost[i + 2] as number];
      const waiters: number[] = [];
      for (const x of statuses) for (let j = 0; j + 2 < x.stuck.length; j += 3) if (x.stuck[j + 1] === cpu) waiters.push(x.stuck[j] as number);
      if ((lanes & (1 << PPC_MSG.CALL_FUNCTION)) !== 0 && waiters.length > 0) callWaited = true;
      const key = `${cpu}:${tick}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const names = [0, 1, 2, 3].filter((m) => (lanes & (1 << m)) !== 0).map(ppcMsgName).join(' and ');
      const at = ticksPerSecond !== undefined ? `${(tick / ticksPerSecond).toFixed(3)} s (tick ${tick})` : `tick ${tick}`;
      waiters.sort((a, b) => a - b);
      lines.push(
        `lost: ${names} to CPU ${cpu} at ${at}: its ${what} was taken as a guest wake-up (host_ipi == 0) with the message pending, and nothing has read it since` +
          (waiters.length > 0 ? `; CPU${waiters.length === 1 ? '' : 's'} ${waiters.join(', ')} wait${waiters.length === 1 ? 's' : ''} for CPU ${cpu} in csd_lock_wait` : ''),
      );
    }
  }
  return { lines, callWaited };
}

/**
 * The hang rule on the machine's progress: a CPU is hung when its own core has counted more than
 * `hangSteps` steps of its wait in csd_lock_wait and every core that is not idle has run more than
 * `hangSteps` steps since the wait was first seen (`waits`: wait key -> every core's step then;
 * entries of ended waits are dropped). An idle core has nothing to do, so it holds nobody back.
 * Returns the longest such wait, or null.
 */
export function hangSuspected(statuses: CoreStatus[], waits: Map<string, number[]>, hangSteps: number, kind: 'soft-lockup' | 'hung-task' = 'soft-lockup'): HangWait | null {
  const seen = new Set<string>();
  let hang: HangWait | null = null;
  const steps = statuses.map((s) => s.step);
  for (const s of statuses) {
    const list = kind === 'soft-lockup' ? s.stuck : s.hung;
    for (let i = 0; i + 2 < list.length; i += 3) {
      const cpu = list[i] as number;
      const target = list[i + 1] as number;
      const waited = list[i + 2] as number;
      const key = `${cpu}/${target}/${s.step - waited}`;
      seen.add(key);
      let from = waits.get(key);
      if (from === undefined) {
        from = steps;
        waits.set(key, from);
      }
      if (waited <= hangSteps) continue;
      let machine = Infinity;
      statuses.forEach((c, j) => {
        if (!c.idle) machine = Math.min(machine, c.step - (from[j] ?? c.step));
      });
      if (machine === Infinity) machine = waited;
      if (machine > hangSteps && (hang === null || waited > hang.own_steps)) hang = { kind, cpu, waiting_for: target, own_steps: waited, machine_steps: machine };
    }
  }
  for (const k of [...waits.keys()]) if (!seen.has(k)) waits.delete(k);
  return hang;
}

/** '' when the bus is quiet and no CPU has an interrupt pending or runs a handler; else why not. */
export function whyNotQuiet(statuses: CoreStatus[]): string {
  const sent = statuses.reduce((a, s) => a + s.sent, 0);
  const received = statuses.reduce((a, s) => a + s.received, 0);
  if (sent !== received) return `${sent - received} bus messages in flight (sent ${sent}, taken ${received})`;
  const busy = statuses.filter((s) => !s.quiescent).map((s) => s.core);
  if (busy.length > 0) return `stores or barriers under way on cores ${busy.slice(0, 8).join(',')}`;
  const undrained = statuses.filter((s) => s.drain === null).map((s) => s.core);
  if (undrained.length > 0) return `cores ${undrained.slice(0, 8).join(',')} have not stopped their workload`;
  const cpus = statuses.flatMap((s) => s.drain?.cpus ?? []);
  const irq = cpus.filter((c) => c.irqPending).map((c) => c.cpu);
  if (irq.length > 0) return `interrupts pending on CPUs ${irq.slice(0, 8).join(',')}`;
  const inIrq = cpus.filter((c) => c.inIrq).map((c) => c.cpu);
  if (inIrq.length > 0) return `CPUs ${inIrq.slice(0, 8).join(',')} inside an interrupt handler`;
  return '';
}

/** The counts two quiet drain waves must agree on (step aside). */
function sameDrainCounts(a: CoreStatus[], b: CoreStatus[]): boolean {
  const key = (s: CoreStatus): string =>
    JSON.stringify([s.sent, s.received, s.ipisHandled, s.ipisSent, s.drain?.cpus.map((c) => c.messageWord), s.stuck.filter((_, i) => i % 3 !== 2), s.hung.filter((_, i) => i % 3 !== 2)]);
  return a.length === b.length && a.every((s, i) => key(s) === key(b[i] as CoreStatus));
}

/** Every core is idle or has run `settleSteps` steps between the two waves. */
function settledSince(a: CoreStatus[], b: CoreStatus[], settleSteps: number): boolean {
  return b.every((s, i) => s.idle || s.step - (a[i] as CoreStatus).step >= settleSteps);
}

export const CORE_MAIN = join('services', 'core', 'main.js');
