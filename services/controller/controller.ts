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
 *   same waves: a CPU stuck in csd_lock_wait for more than `hangSteps` local steps (hang), the
 *   IPI goal reached, the wall-clock duration spent, or a core past `stepsMax`.
 *
 * Faults: the network part of the fault plan is applied by each core's transport at the sender;
 * the process part (pause / kill / restart) is carried out here with SIGSTOP/SIGCONT and SIGKILL
 * (+ respawn). A killed or restarted core loses its whole machine state (its threads, its homes'
 * coherence order and its unacknowledged outgoing links), which no scenario here tolerates: the
 * generation ends as invalid, with the reason. A pause loses nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { assert, UserError } from '../stdx/index.js';
import { decodeControlMsg, encodeControlMsg } from '../bus/codec.js';
import type { ControlMsg } from '../bus/codec.js';
import { coreControlSubject, controllerSubject, DEFAULT_CORE_LOOP } from '../bus/control.js';
import type { CoreLoopOptions, CoreResultsJson } from '../bus/control.js';
import { emptyFaultPlan, FaultInjector, type FaultPlan } from '../bus/fault-plan.js';
import { NatsServer, type StartedNatsServer } from '../bus/nats-launcher.js';
import { faultsSubject } from '../bus/nats-transport.js';
import { coreCount, topologyOf } from '../sim/replay.js';
import type { CoreFinal, CoreRecord, MachineSpec } from '../sim/replay.js';

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
}

export type EndPolicy =
  | { kind: 'quiet'; timeoutMs: number }
  | { kind: 'scenario'; ipis: number; hangSteps: number; durationMs: number; stepsMax: number };

export type EndReason = 'finished' | 'ipis' | 'hang' | 'duration' | 'steps-max' | 'timeout' | 'invalid';

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
}

export interface GenerationResult {
  generation: number;
  reason: EndReason;
  invalidReason?: string;
  finals: CoreFinal[];
  records: CoreRecord[];
  counters: Record<string, number>;
  faultsInjected: Record<string, number>;
  statusWaves: number;
  /** Per core: the last status it reported. */
  lastStatus: CoreStatus[];
  wallMs: number;
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
  invalidReason: string;
}

/** The compiled core entry point, next to this module in dist/. */
export function coreMainPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const p = resolve(here, '..', 'core', 'main.js');
  if (!existsSync(p)) throw new UserError(`core entry point ${p} not found; run \`npm run build\` first.`);
  return p;
}

/** How long a core may take to answer StartRun / a status request (reconnects included). */
const START_DEADLINE_MS = 10_000;
const STATUS_DEADLINE_MS = 5_000;
/** StopRun writes the core's record: a first attempt gets half the time. */
const STOP_DEADLINE_MS = 20_000;

/**
 * V8 flags of a core process: a small young generation (the default semi-space of 16 MB is most
 * of a core's resident memory; its garbage is short-lived messages and generator frames).
 */
const CORE_NODE_FLAGS = ['--max-semi-space-size=2'];

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
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
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

  get pids(): number[] {
    return [...this.children.values()].map((c) => c.pid ?? -1);
  }

  /** @internal */
  async init(): Promise<void> {
    this.nc = await connect({ servers: this.servers, name: `ipiscope-${this.runId}-controller`, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
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
      if (this.unexpectedExit !== '') throw new UserError(`a core process failed to start: ${this.unexpectedExit}`);
      if (Date.now() > deadline) {
        throw new UserError(
          `only ${this.registered.size} of ${this.ncores} cores registered on ${controllerSubject(this.runId)} ` +
            `within ${this.opts.registerTimeoutMs ?? 60_000} ms; check that the cores reach NATS at ${this.servers.join(', ')}.`,
        );
      }
      await this.until(200);
    }
  }

  private spawnCore(core: number): void {
    const servers = this.opts.coreServers?.(core) ?? this.servers;
    const child = spawn(
      process.execPath,
      [...CORE_NODE_FLAGS, coreMainPath(), '--run', this.runId, '--core', String(core), '--nats', servers.join(','), '--seed', String(this.opts.seed ?? 0)],
      { stdio: ['pipe', 'ignore', 'pipe'] },
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
    if (c.kind === 'registerCore') {
      this.registered.set(Number(f.core), { pid: Number(f.pid), epoch: Number(f.senderEpoch) });
      this.wake();
    } else if (c.kind === 'heartbeat') {
      this.heartbeats.set(Number(f.core), Date.now());
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
        if (Date.now() + 20 >= end || this.stopping) {
          throw new Error(`core ${core} did not answer ${m.kind} in ${deadlineMs} ms (${attempt} attempts; last: ${(e as Error).message})`, { cause: e });
        }
        await this.until(20);
      }
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
    const n = coreCount(topologyOf(spec));
    if (n > this.ncores) throw new UserError(`the machine has ${n} cores but only ${this.ncores} core processes run`);
    const loop: CoreLoopOptions = {
      sliceSteps: o.sliceSteps ?? 512, recordDir: o.recordDir ?? '', idleTickUs: o.idleTickUs ?? 0,
      aheadTicksMax: o.aheadTicksMax ?? DEFAULT_CORE_LOOP.aheadTicksMax,
    };
    const plan = o.faultPlan ?? emptyFaultPlan();
    const cores = Array.from({ length: n }, (_, i) => i);
    let startError = '';
    await Promise.all(
      cores.map((core) =>
        this.requestRetrying(core, {
          kind: 'startRun',
          fields: {
            runId: this.runId, seed: String(this.opts.seed ?? 0), topologyJson: JSON.stringify(topologyOf(spec)),
            scenarioJson: JSON.stringify(spec), faultPlanJson: JSON.stringify(plan), startUnixMs: Date.now(),
            generation: gen, optionsJson: JSON.stringify(loop),
          },
        }, START_DEADLINE_MS, START_DEADLINE_MS / 2).catch((e: unknown) => {
          startError ||= (e as Error).message;
        }),
      ),
    );
    this.opts.onGenerationStarted?.(gen);
    const timers = this.scheduleProcessFaults(plan);
    let reason: EndReason = 'timeout';
    let invalidReason: string | undefined;
    let prev: CoreStatus[] | null = null;
    let last: CoreStatus[] = [];
    let waves = 0;
    const end = o.end;
    const deadline = t0 + (end.kind === 'quiet' ? end.timeoutMs : end.durationMs);
    try {
      for (;;) {
        if (startError !== '') {
          reason = 'invalid';
          invalidReason = `generation ${gen} did not start on every core: ${startError}`;
          break;
        }
        if (this.unexpectedExit !== '' || this.processFaultInvalid !== '') {
          reason = 'invalid';
          invalidReason = this.processFaultInvalid || this.unexpectedExit;
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
          invalidReason = `a core stopped answering status requests: ${(e as Error).message}`;
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
          const hang = statuses.some((s) => hasLongWait(s.stuck, end.hangSteps));
          if (hang) reason = 'hang';
          else if (end.ipis > 0 && handled >= end.ipis) reason = 'ipis';
          else if (statuses.some((s) => s.step >= end.stepsMax)) reason = 'steps-max';
          else if (Date.now() > deadline) reason = 'duration';
          else if (sent === received && statuses.every((s) => s.finished && s.quiescent && s.idle)) reason = 'finished';
          else {
            await this.until(20);
            continue;
          }
          break;
        }
      }
    } finally {
      for (const t of timers) clearTimeout(t);
      for (const core of this.pausedNow) this.children.get(core)?.kill('SIGCONT');
      this.pausedNow.clear();
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
        for (const [k, v] of Object.entries(f.counters as Record<string, number>)) counters[k] = (counters[k] ?? 0) + Number(v);
      }
      const rj = String(f.resultsJson ?? '');
      if (rj === '') continue;
      const res = JSON.parse(rj) as CoreResultsJson;
      finals.push(res.final as CoreFinal);
      if (res.recordFile !== '') records.push(JSON.parse(readFileSync(res.recordFile, 'utf8')) as CoreRecord);
    }
    if (reason !== 'invalid' && finals.length !== n) {
      reason = 'invalid';
      invalidReason = `only ${finals.length} of ${n} cores returned their final state`;
    }
    for (const [k, v] of Object.entries(counters)) if (k.startsWith('fault_')) this.faultsInjected[k.slice(6)] = v;
    finals.sort((a, b) => a.core - b.core);
    records.sort((a, b) => a.core - b.core);
    const out: GenerationResult = {
      generation: gen, reason, finals, records, counters, faultsInjected: { ...this.faultsInjected }, statusWaves: waves,
      lastStatus: last, wallMs: Date.now() - t0,
    };
    if (invalidReason !== undefined) out.invalidReason = invalidReason;
    return out;
  }

  private readonly pausedNow = new Set<number>();
  private processFaultInvalid = '';

  private scheduleProcessFaults(plan: FaultPlan): NodeJS.Timeout[] {
    const faults = new FaultInjector(plan, { seed: 0, nowMs: () => 0 }).processFaults();
    const timers: NodeJS.Timeout[] = [];
    const count = (k: string): void => {
      this.faultsInjected[k] = (this.faultsInjected[k] ?? 0) + 1;
    };
    for (const f of faults) {
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
            this.processFaultInvalid ||=
              `core ${f.core} was ${f.kind === 'kill' ? 'killed' : 'killed and restarted'} by the fault plan at ${f.atMs} ms: ` +
              'a restarted core has lost its threads, its homes and its links, so the run cannot be trusted';
            if (f.kind === 'restart') this.spawnCore(f.core);
            this.wake();
          }
        }, f.atMs),
      );
    }
    return timers;
  }

  /** Ends every core process and the private NATS; safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const exits = [...this.children.values()].map(
      (c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))),
    );
    if (this.nc !== undefined && !this.nc.isClosed()) {
      await Promise.all(
        [...this.children.keys()].map((core) =>
          this.request(core, { kind: 'stopRun', fields: { runId: this.runId, reason: 'end', generation: this.generation, exit: true } }, 2000).catch(() => undefined),
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

function toStatus(m: ControlMsg): CoreStatus {
  const f = m.fields;
  return {
    core: Number(f.core), step: Number(f.step), sent: Number(f.sent), received: Number(f.received),
    finished: f.finished === true, quiescent: f.quiescent === true, idle: f.idle === true,
    ipisHandled: Number(f.ipisHandled), ipisSent: Number(f.ipisSent),
    stuck: Array.isArray(f.stuck) ? (f.stuck as unknown[]).map(Number) : [], invalidReason: String(f.invalidReason ?? ''),
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

function hasLongWait(stuck: number[], hangSteps: number): boolean {
  for (let i = 0; i + 2 < stuck.length; i += 3) if ((stuck[i + 2] as number) > hangSteps) return true;
  return false;
}

export const CORE_MAIN = join('services', 'core', 'main.js');
