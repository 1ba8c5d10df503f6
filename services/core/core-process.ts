/**
 * One physical core as an OS process: its `Core` (SMT threads, ICP, the locations it homes),
 * connected to the other cores by a `NatsTransport`, driven by the controller over the control
 * subject.
 *
 * The loop (see `CoreDriver` in sim/replay.ts): take every input that has arrived, at the current
 * local step, recording (step, src, link seq, msg); run up to `sliceSteps` steps; yield to the
 * event loop so the bus can deliver; when the core has nothing to do, wait for the next input
 * (no spinning). Intra-core doorbells never leave the `Core`.
 *
 * Generations: each StartRun builds a fresh machine from its spec (a reset, without a new
 * process). Every envelope carries the generation it was sent in. Inputs of a later generation
 * (a faster peer already runs it) wait and are taken at step 0 of that generation; inputs of an
 * earlier one (the tail of a machine that ended by timeout or as invalid) are dropped and counted,
 * never taken by the next machine. The sent/received counts of the termination waves are
 * per generation, so a machine that uses fewer cores than the pool is judged by its own traffic.
 */
import { appendFileSync, closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { assert, AssertionError, InputError } from '../stdx/index.js';
import type { CoreMsg } from '../machine/index.js';
import { NatsTransport, type StartedNatsTransport } from '../bus/nats-transport.js';
import { natsConnectTarget } from '../bus/nats-url.js';
import { decodeControlMsg, encodeControlMsg, type ControlMsg } from '../bus/codec.js';
import { coreControlSubject, controllerSubject, DEFAULT_CORE_LOOP, FILE_CHUNK_MAX, INPUT_ERROR_MARK } from '../bus/control.js';
import type { CoreFileKind, CoreLoopOptions, CoreResultsJson } from '../bus/control.js';
import { parseFaultPlanValue } from '../bus/fault-plan.js';
import { CoreDriver, coreCount, topologyOf } from '../sim/replay.js';
import type { MachineSpec } from '../sim/replay.js';
import { InboxWriter } from '../sim/record-stream.js';
import { buildRunCore } from './run-core.js';
import type { RunCore, RunCoreRecord } from './run-core.js';
import { CoreTracing, coreTracingLoaded, loadCoreTracing } from './core-tracing.js';

export interface CoreProcessOptions {
  runId: string;
  core: number;
  servers: string[];
  /** Heartbeat period (ms). Default 500. */
  heartbeatMs?: number;
  /** Run seed for the transport's fault streams. */
  seed?: number;
  log?: (line: string) => void;
}

/**
 * IPISCOPE_HOP_LOG=DIR: each generation writes DIR/hops-gen-G-core-N.tsv, one line per bus message
 * sent, arrived or taken (monotonic ns, event, peer, message, local step), to see where the wall
 * time of a cross-core exchange goes. Bounded; off by default.
 */
const HOP_LOG_DIR = process.env.IPISCOPE_HOP_LOG ?? '';
const HOP_LOG_MAX = 200_000;

const RETRANSMIT_BUFFER_MAX = 8192;

/** Inputs waiting in the inbox, at most; beyond that the run is invalid (never silent). */
const INBOX_MAX = 1 << 20;

/** A paced core's clock: `tick` at `wallMs` (ms since the Unix epoch), `usPerTick` µs a tick since. */
interface PaceClock {
  wallMs: number;
  tick: number;
  usPerTick: number;
}

interface Generation {
  gen: number;
  spec: MachineSpec;
  built: RunCore;
  driver: CoreDriver;
  /** The local step at which the workload stopped (the drain), or -1 while it runs. */
  drainStep: number;
  /** Paced: the clock's origin (wall ms since the Unix epoch, and its tick then) and pace. It is
   * the run's from StartClock (tick 0 at the epoch), then, with a drain clock of its own
   * (CoreLoopOptions.drainTickUs), the drain's from the wall time and tick it began at. Null while
   * held (no StartClock yet) and unpaced. */
  clock: PaceClock | null;
  loop: CoreLoopOptions;
  /** The record of the inputs taken, streamed to disk as it grows (null: not recorded). */
  inbox: InboxWriter | null;
  sendBase: Record<string, number>;
  stopped: boolean;
  startNs: bigint;
  /** The transport's sent count when this generation started. */
  sentBase: number;
  /** Inputs taken in this generation. */
  taken: number;
  /** Pacing reference: the wall time and local step of the last input taken (or of the start). */
  paceNs: bigint;
  paceStep: number;
  /** Tracing of this generation (StartRun.tracing_json), or null: off, no observer attached. */
  tracing: CoreTracing | null;
  /** Files written at the core for the controller to fetch (CoreLoopOptions.filesAtCore). */
  files: Partial<Record<CoreFileKind, string>>;
}

/** Pacing of one generation (paced runs): how well the core kept to the run's clock. */
interface PaceState {
  gen: number;
  /** Wall ms from the epoch until the core first reached the clock (-1: not yet). */
  caughtUpMs: number;
  /** After that: the largest lag (ticks behind the clock) seen at the end of a slice. */
  lagMax: number;
  lagSum: number;
  lagSamples: number;
  /** Wall ms at which the current stretch of lag > lagTicksMax began (-1: none). */
  behindSinceMs: number;
  /** Wall ms spent behind (closed stretches) and the longest stretch. */
  behindMs: number;
  behindMaxMs: number;
  sleeps: number;
  slices: number;
  /** Slices that found nothing due (no input, no step): the timer woke the process early. */
  idleWakes: number;
  /** The process's CPU time when the generation started. */
  cpu0: NodeJS.CpuUsage;
}

/** Memory maxima before the first sample (MB). */
function noMemory(): { rss: number; pss: number; private: number; heapUsed: number; heapTotal: number; external: number } {
  return { rss: 0, pss: 0, private: 0, heapUsed: 0, heapTotal: 0, external: 0 };
}

export class CoreProcess {
  constructor(private readonly opts: CoreProcessOptions) {}

  async start(): Promise<StartedCoreProcess> {
    const p = new StartedCoreProcess(this.opts);
    await p.connect();
    return p;
  }
}

export class StartedCoreProcess {
  readonly core: number;
  private transport!: StartedNatsTransport;
  private ctl!: NatsConnection;
  /** Inputs of the current generation not taken yet: [src, link seq, msg, paced tick of arrival]
   * (no tick: take at once). */
  private pending: Array<[number, number, CoreMsg, number?]> = [];
  /** Inputs of later generations: [generation, src, link seq, msg]. */
  private future: Array<[number, number, number, CoreMsg]> = [];
  /** The generation of the last StartRun (whether or not this core is part of that machine). */
  private curGen = 0;
  private staleDropped = 0;
  /** The hop log (formatted when written: a line per event would cost the hop it measures). */
  private hops: Array<[bigint, string, number, string, number]> = [];
  /** This process's own directory for generation files (filesAtCore), made on first use. */
  private filesDir = '';

  private hop(event: string, peer: number, msg: CoreMsg): void {
    if (this.hops.length < HOP_LOG_MAX) this.hops.push([process.hrtime.bigint(), event, peer, msg.t, this.g?.driver.step ?? 0]);
  }
  private g: Generation | null = null;
  private waiting = false;
  private scheduled = false;
  private invalidReason = '';
  /** This generation's program met bad input (a litmus test that reads no location): the
   * generation is invalid with that error, the process goes on to the next one. */
  private genInputError = '';
  private heartbeat: NodeJS.Timeout | undefined;
  private exitResolve!: (code: number) => void;
  /** Resolves with the exit code when the controller ends this process. */
  readonly exited: Promise<number>;

  constructor(private readonly opts: CoreProcessOptions) {
    this.core = opts.core;
    this.exited = new Promise((r) => (this.exitResolve = r));
  }

  /** @internal */
  async connect(): Promise<void> {
    const o = this.opts;
    this.transport = await new NatsTransport({
      servers: o.servers,
      runId: o.runId,
      core: o.core,
      seed: o.seed ?? 0,
      // Repairs follow a gap within tens of ms; 8192 envelopes per link cover that many times
      // over, and a repair that finds one evicted makes the run invalid (never silent).
      retransmitBufferMax: RETRANSMIT_BUFFER_MAX,
      onMessage: (src, msg, meta) => this.onInput(src, msg, meta.seq, meta.generation, meta.traceparent),
      onInvalid: (reason) => {
        this.invalidReason ||= reason;
      },
      ...(o.log !== undefined ? { log: o.log } : {}),
    }).start();
    this.ctl = await connect({
      ...natsConnectTarget(o.servers),
      name: `ipiscope-${o.runId}-core-${o.core}-ctl`,
      noRandomize: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 50,
    });
    this.ctl.subscribe(coreControlSubject(o.runId, o.core), { callback: (err, m) => {
      if (err === null) this.onControl(m);
    } });
    await this.ctl.flush();
    this.publish({
      kind: 'registerCore',
      fields: { runId: o.runId, core: o.core, senderEpoch: this.transport.senderEpoch, pid: process.pid, host: hostname(), cpus: [], version: '1' },
    });
    this.heartbeat = setInterval(() => {
      this.sampleMemory();
      const d = this.g?.driver;
      this.publish({
        kind: 'heartbeat',
        fields: { runId: o.runId, core: o.core, senderEpoch: this.transport.senderEpoch, step: d?.step ?? 0, clock: d?.core.clock ?? 0, unixMs: Date.now() },
      });
    }, o.heartbeatMs ?? 500);
  }

  /**
   * The largest memory figures seen (MB) since the generation started (heartbeat samples): the
   * resident set, and from /proc (Linux) its proportional share (`pss`: pages shared with other
   * processes, such as the node binary's code, counted once over all sharers) and the pages private
   * to this process (what one more core process costs); the V8 heap, and memory outside it.
   */
  private mem = noMemory();

  private memSamples = 0;

  /**
   * Heartbeats sample the resident set (cheap); the V8 heap every 10th (memoryUsage walks the
   * heap's spaces); /proc's smaps_rollup every 120th and at the end (the kernel walks every
   * mapping: tens of ms for a Node process, which a profile of 32 cores showed as 8% of their time
   * when it was read on every heartbeat).
   */
  private sampleMemory(full = false): void {
    const mb = (x: number): number => Math.round(x / 1048576);
    const n = this.memSamples++;
    this.mem.rss = Math.max(this.mem.rss, mb(process.memoryUsage.rss()));
    if (full || n % 10 === 0) {
      const u = process.memoryUsage();
      this.mem.heapUsed = Math.max(this.mem.heapUsed, mb(u.heapUsed));
      this.mem.heapTotal = Math.max(this.mem.heapTotal, mb(u.heapTotal));
      this.mem.external = Math.max(this.mem.external, mb(u.external + u.arrayBuffers));
    }
    if (this.smapsReadable && (full || n % 120 === 0)) {
      try {
        const t = readFileSync('/proc/self/smaps_rollup', 'utf8');
        const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
        this.mem.pss = Math.max(this.mem.pss, mb(kb('Pss') * 1024));
        this.mem.private = Math.max(this.mem.private, mb((kb('Private_Clean') + kb('Private_Dirty')) * 1024));
      } catch {
        this.smapsReadable = false;
      }
    }
  }

  private smapsReadable = true;

  private publish(m: ControlMsg): void {
    this.ctl.publish(controllerSubject(this.opts.runId), encodeControlMsg(m));
  }

  private onInput(src: number, msg: CoreMsg, seq: number, gen: number, traceparent?: string): void {
    if (HOP_LOG_DIR !== '') this.hop('arrive', src, msg);
    if (gen < this.curGen) {
      this.staleDropped++;
      return;
    }
    if (this.pending.length + this.future.length >= INBOX_MAX) {
      this.invalidReason ||= `core ${this.core}: more than ${INBOX_MAX} inputs wait in the inbox`;
      return;
    }
    if (gen > this.curGen) {
      this.future.push([gen, src, seq, msg]);
      return;
    }
    // The trace context of the hop, before the core takes the message (a later generation's
    // inputs are taken untraced: they arrive before that generation's tracing exists).
    if (traceparent !== undefined) this.g?.tracing?.noteIncoming(msg, traceparent);
    this.pending.push([src, seq, msg, this.g !== null && this.g.loop.tickUs > 0 ? this.paceTick(this.g) : undefined]);
    if (this.waiting) this.schedule();
  }

  private pacer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  private schedule(): void {
    this.waiting = false;
    if (this.pacer !== undefined) {
      clearTimeout(this.pacer as NodeJS.Timeout);
      clearImmediate(this.pacer as NodeJS.Immediate);
    }
    this.pacer = undefined;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.slice();
    });
  }

  /** Paced runs: the tick the wall clock is in (negative before the epoch). */
  private paceTick(g: Generation): number {
    const c = g.clock;
    // Held (no StartClock yet): an input that came this early is taken at the first step.
    if (c === null) return -1;
    return c.tick + Math.floor(((performance.timeOrigin + performance.now() - c.wallMs) * 1000) / c.usPerTick);
  }

  /** Paced runs, once the clock runs: the wall time (ms since the Unix epoch) at which it reaches `tick`. */
  private wallMsOfTick(c: PaceClock, tick: number): number {
    return c.wallMs + ((tick - c.tick) * c.usPerTick) / 1000;
  }

  private pace: PaceState | null = null;

  /** This generation's pacing statistics (paced runs), created on first use. */
  private paceOf(g: Generation): PaceState {
    if (this.pace === null || this.pace.gen !== g.gen) {
      this.pace = { gen: g.gen, caughtUpMs: -1, lagMax: 0, lagSum: 0, lagSamples: 0, behindSinceMs: -1, behindMs: 0, behindMaxMs: 0, sleeps: 0, slices: 0, idleWakes: 0, cpu0: process.cpuUsage() };
    }
    return this.pace;
  }

  /**
   * The paced loop (CoreLoopOptions.tickUs): step until the core reaches the wall clock's tick
   * (busy steps and idle jumps alike), taking each input at the tick it arrived at; then sleep until
   * the tick of the core's next event, or until an input comes. The rule of `advance` is unchanged
   * (an input is taken at a step, the core jumps over idle time), so replay needs no pacing: the
   * pace only decides at which steps inputs are taken, which the record says.
   */
  private pacedSlice(g: Generation): void {
    const d = g.driver;
    const loop = g.loop;
    if (loop.epochMs === 0) {
      // The clock is held until StartClock (which schedules the core): nothing steps before it.
      this.waiting = true;
      return;
    }
    const ps = this.paceOf(g);
    ps.slices++;
    let budget = loop.sliceSteps;
    let now = this.paceTick(g);
    // How late the core comes to work that was due (its next event or an input that arrived):
    // ticks between that and the clock. Idle time that passed while it slept costs nothing.
    const due = Math.max(d.step, Math.min(d.core.nextEventTick(), this.pending.length > 0 ? ((this.pending[0] as [number, number, CoreMsg, number?])[3] ?? d.step) : Infinity));
    const late = Math.max(0, now - due);
    const steps0 = d.steps;
    const taken0 = g.taken;
    for (let rounds = 0; rounds < 64; rounds++) {
      let n = 0;
      while (n < this.pending.length && ((this.pending[n] as [number, number, CoreMsg, number?])[3] ?? d.step) <= d.step) n++;
      if (n > 0) {
        for (let i = 0; i < n; i++) {
          const [src, seq, msg] = this.pending[i] as [number, number, CoreMsg, number?];
          g.inbox?.push([d.step, src, seq, msg]);
          if (HOP_LOG_DIR !== '') this.hop('take', src, msg);
          d.take(src, msg);
        }
        g.taken += n;
        this.pending.splice(0, n);
      }
      const nextIn = this.pending.length > 0 ? ((this.pending[0] as [number, number, CoreMsg, number?])[3] ?? d.step) : Infinity;
      const limit = Math.min(now, nextIn);
      if (d.step >= limit || budget <= 0) break;
      const before = d.steps;
      // The core runs the steps before `limit` and stops at it (inputs due there are taken first).
      const r = d.advance(budget, Infinity, limit);
      budget -= d.steps - before + 1;
      // What the step sent leaves now (the check below schedules the rest of the slice).
      if (r === 'sent') break;
      if (budget <= 0) now = this.paceTick(g);
    }
    if (d.steps === steps0 && g.taken === taken0) ps.idleWakes++;
    const wallMs = performance.timeOrigin + performance.now();
    const lag = Math.max(late, now - d.step);
    if (ps.caughtUpMs < 0) {
      if (d.step >= now) ps.caughtUpMs = wallMs - loop.epochMs;
      else if (wallMs - loop.epochMs > loop.catchUpMsMax && now > 0 && g.drainStep < 0) {
        this.invalidReason ||= `core ${this.core} did not reach the run's pace within ${loop.catchUpMsMax} ms of its start (tick ${d.step}, clock at ${now}, ${loop.tickUs} µs/tick): the time scale broke`;
        return;
      }
    } else if (g.drainStep < 0) {
      // The pacing statistics are the run's, up to the drain (which may run a clock of its own).
      ps.lagMax = Math.max(ps.lagMax, lag);
      ps.lagSum += lag;
      ps.lagSamples++;
      if (lag > loop.lagTicksMax) {
        // Behind since the clock passed the work that was due by the limit (a process that got no
        // CPU, or was stopped, was behind before it could notice).
        if (ps.behindSinceMs < 0) ps.behindSinceMs = Math.min(wallMs, loop.epochMs + ((Math.min(due, d.step) + loop.lagTicksMax) * loop.tickUs) / 1000);
        const stretch = wallMs - ps.behindSinceMs;
        ps.behindMaxMs = Math.max(ps.behindMaxMs, stretch);
        if (stretch > loop.behindMsMax && g.drainStep < 0) {
          this.invalidReason ||=
            `core ${this.core} fell behind the run's pace (${loop.tickUs} µs/tick) by more than ${loop.lagTicksMax} ticks for ${Math.round(stretch)} ms ` +
            `(now ${lag} ticks behind): its messages left late for that long, so the time scale broke`;
          return;
        }
      } else if (ps.behindSinceMs >= 0) {
        ps.behindMs += wallMs - ps.behindSinceMs;
        ps.behindSinceMs = -1;
      }
    }
    if (d.step < now || (this.pending.length > 0 && ((this.pending[0] as [number, number, CoreMsg, number?])[3] ?? d.step) <= d.step)) {
      this.schedule();
      return;
    }
    // Caught up. Sleep, never poll, until the wall clock reaches the tick after the core's next
    // event (the core is at `now`, whose step runs once the clock has passed it); an input wakes it
    // at once. A coarse timer only makes the core run a few ticks at a time.
    this.waiting = true;
    const t = d.core.nextEventTick();
    if (t === Infinity && this.pending.length === 0) return;
    const wake = Math.min(Math.max(t, d.step) + 1, this.pending.length > 0 ? ((this.pending[0] as [number, number, CoreMsg, number?])[3] ?? d.step) : Infinity);
    const ms = this.wallMsOfTick(g.clock as PaceClock, wake) - wallMs;
    ps.sleeps++;
    this.pacer = setTimeout(() => this.schedule(), Math.max(1, Math.min(ms, 100)));
  }

  private slice(): void {
    const g = this.g;
    if (g === null || g.stopped || this.invalidReason !== '' || this.genInputError !== '') return;
    try {
      if (g.loop.tickUs > 0) {
        this.pacedSlice(g);
        return;
      }
      const d = g.driver;
      if (this.pending.length > 0) {
        for (const [src, seq, msg] of this.pending) {
          g.inbox?.push([d.step, src, seq, msg]);
          if (HOP_LOG_DIR !== '') this.hop('take', src, msg);
          d.take(src, msg);
        }
        g.taken += this.pending.length;
        this.pending = [];
        g.paceNs = process.hrtime.bigint();
        g.paceStep = d.step;
      }
      const us = g.loop.idleTickUs;
      const jumpMax = us > 0 ? g.paceStep + g.loop.aheadTicksMax + Math.floor(Number(process.hrtime.bigint() - g.paceNs) / 1000 / us) : Infinity;
      const r = d.advance(g.loop.sliceSteps, Infinity, Infinity, jumpMax);
      if ((r === 'idle' || r === 'paced') && this.pending.length === 0) {
        this.waiting = true;
        if (r === 'paced') {
          // Sleep, never poll: an input wakes the core at once (onInput), and the jump bound is
          // computed from the wall clock, so a coarse timer only makes local time move in larger
          // steps. Polling would take the CPU from the peer this core waits for.
          const waitUs = (d.core.nextEventTick() - d.step) * us;
          this.pacer = setTimeout(() => this.schedule(), Math.max(1, Math.min(waitUs / 1000, 50)));
        }
      } else this.schedule();
    } catch (e) {
      if (e instanceof InputError) {
        this.genInputError = `${INPUT_ERROR_MARK}${e.message}`;
        return;
      }
      if (!(e instanceof AssertionError)) throw e;
      this.invalidReason = `core ${this.core}: assertion: ${e.message}`;
    }
  }

  private onControl(m: Msg): void {
    let c: ControlMsg;
    try {
      c = decodeControlMsg(m.data);
    } catch (e) {
      this.opts.log?.(`core ${this.core}: bad control message: ${(e as Error).message}`);
      return;
    }
    const f = c.fields;
    switch (c.kind) {
      case 'startRun':
        if (String(f.tracingJson || '') !== '' && !coreTracingLoaded()) {
          // The first traced generation loads the tracing modules, then starts (the reply waits).
          void loadCoreTracing().then(() => this.onControl(m)).catch((e: unknown) => {
            this.invalidReason ||= `core ${this.core}: cannot start tracing: ${(e as Error).message}`;
            m.respond(encodeControlMsg({ kind: 'coreStatus', fields: this.status(0) }));
          });
          return;
        }
        // Idempotent: the controller asks again when a reply was lost in a reconnect.
        if (Number(f.generation) > this.curGen) this.startGeneration(Number(f.generation), JSON.parse(String(f.scenarioJson)) as MachineSpec, String(f.optionsJson || '{}'), String(f.faultPlanJson || ''), String(f.tracingJson || ''), Number(f.startUnixMs ?? 0));
        m.respond(encodeControlMsg({ kind: 'coreStatus', fields: this.status(0) }));
        return;
      case 'startClock': {
        const g = this.g;
        // Idempotent, like StartRun: a repeated request finds the clock started.
        if (g !== null && Number(f.generation) === this.curGen && g.loop.tickUs > 0 && g.loop.epochMs === 0) {
          g.loop.epochMs = Number(f.epochMs);
          g.clock = { wallMs: g.loop.epochMs, tick: 0, usPerTick: g.loop.tickUs };
          this.schedule();
        }
        m.respond(encodeControlMsg({ kind: 'coreStatus', fields: this.status(0) }));
        return;
      }
      case 'statusRequest':
        if (f.drain === true && Number(f.generation) === this.curGen) this.drain();
        m.respond(encodeControlMsg({ kind: 'coreStatus', fields: this.status(Number(f.wave)) }));
        return;
      case 'stopRun': {
        if (Number(f.senderEpoch ?? 0) !== 0 && Number(f.senderEpoch) !== this.transport.senderEpoch) return;
        if (f.exit !== true && Number(f.generation) !== this.curGen) {
          const reason = `core ${this.core} is at generation ${this.curGen}, not ${String(f.generation)}`;
          m.respond(encodeControlMsg({ kind: 'coreResults', fields: { runId: this.opts.runId, core: this.core, generation: this.curGen, verdict: 'invalid', reason, resultsJson: '' } }));
          return;
        }
        const g = this.g;
        const results = this.stopGeneration(String(f.reason));
        const reply = (): void => {
          m.respond(encodeControlMsg({ kind: 'coreResults', fields: results }));
          if (f.exit === true) void this.shutdown(0);
        };
        if (g === null || g.tracing === null) reply();
        // The span file is complete before the controller hears of the stop (it merges them).
        else void g.tracing.end(g.driver.step).then((c) => {
          if (typeof results.counters === 'object' && results.counters !== null) Object.assign(results.counters, c);
          reply();
        });
        return;
      }
      case 'fileChunkRequest':
        m.respond(encodeControlMsg({ kind: 'fileChunk', fields: this.fileChunk(Number(f.generation), String(f.file), Number(f.offset), Number(f.maxBytes)) }));
        return;
      case 'faultPlanUpdate':
        try {
          this.transport.updateFaultPlan(parseFaultPlanValue(JSON.parse(String(f.faultPlanJson)), 'fault plan update'));
        } catch (e) {
          this.opts.log?.(`core ${this.core}: fault plan update refused, the plan in force stays: ${(e as Error).message}`);
        }
        return;
      default:
        return;
    }
  }

  private startGeneration(gen: number, spec: MachineSpec, optionsJson: string, faultPlanJson: string, tracingJson = '', startUnixMs = 0): void {
    // The plan's times (a partition's at_ms) count from the start of this run, as the controller's
    // process faults do, not from when this process started.
    if (faultPlanJson !== '') this.transport.updateFaultPlan(parseFaultPlanValue(JSON.parse(faultPlanJson), 'fault plan'), startUnixMs);
    const loop: CoreLoopOptions = { ...DEFAULT_CORE_LOOP, ...(JSON.parse(optionsJson) as Partial<CoreLoopOptions>) };
    const topo = topologyOf(spec);
    assert(gen > this.curGen, () => `core ${this.core}: generation ${gen} after ${this.curGen}`);
    // A generation whose StopRun never reached us (a NATS node died) ends here.
    if (this.g !== null) {
      this.g.stopped = true;
      this.g.inbox?.close();
    }
    if (this.g?.tracing != null) void this.g.tracing.end(this.g.driver.step);
    this.curGen = gen;
    this.genInputError = '';
    this.transport.setGeneration(gen);
    this.mem = noMemory();
    // Whatever is still pending belongs to an earlier generation.
    this.staleDropped += this.pending.length;
    this.pending = [];
    const later: Array<[number, number, number, CoreMsg]> = [];
    for (const e of this.future) {
      if (e[0] === gen) this.pending.push([e[1], e[2], e[3]]);
      else if (e[0] > gen) later.push(e);
      else this.staleDropped++;
    }
    this.future = later;
    if (this.core >= coreCount(topo)) {
      // Not part of this machine (a smaller litmus test on a pool of processes): stay idle.
      this.g = null;
      return;
    }
    const sendBase: Record<string, number> = {};
    for (const [dst, high] of this.transport.linkHighSeqs()) sendBase[String(dst)] = high;
    const files: Partial<Record<CoreFileKind, string>> = {};
    if (loop.filesAtCore === true) {
      // The controller cannot see our disk: our own directory, one generation's files at a time
      // (the controller fetched the earlier ones before it started this generation).
      if (this.filesDir === '') this.filesDir = mkdtempSync(join(tmpdir(), `ipiscope-core-${this.core}-`));
      else for (const f of Object.values(this.g?.files ?? {})) rmSync(f, { force: true });
      if (loop.recordDir !== '') files.inbox = join(this.filesDir, `gen-${gen}.inbox.jsonl`);
      if (tracingJson !== '') {
        const t = JSON.parse(tracingJson) as { traceFile?: string };
        if (t.traceFile !== undefined) {
          files.trace = t.traceFile = join(this.filesDir, `gen-${gen}.spans.part`);
          tracingJson = JSON.stringify(t);
        }
      }
    } else if (loop.recordDir !== '') files.inbox = join(loop.recordDir, `gen-${gen}-core-${this.core}.inbox.jsonl`);
    let tracing: CoreTracing | null = null;
    try {
      tracing = CoreTracing.start(tracingJson, this.core, topo.threadsPerCore, coreCount(topo));
    } catch (e) {
      this.invalidReason ||= `core ${this.core}: tracing: ${(e as Error).message}`;
    }
    let driver: CoreDriver | null = null;
    const built = buildRunCore(spec, this.core, (dst, msg) => {
      if (HOP_LOG_DIR !== '') this.hop('send', dst, msg);
      if (driver !== null) driver.sent++;
      if (tracing === null) this.transport.send(dst, msg);
      else this.transport.send(dst, msg, tracing.traceparentFor(msg));
    }, () => driver?.step ?? 0, tracing?.observer ?? null);
    tracing?.setLocationNames(built.locations.names);
    driver = new CoreDriver(built.core);
    let inbox: InboxWriter | null = null;
    if (files.inbox !== undefined) {
      try {
        inbox = new InboxWriter(files.inbox);
      } catch (e) {
        this.invalidReason ||= `core ${this.core}: cannot write its record: ${(e as Error).message}`;
      }
    }
    this.g = { gen, spec, built, driver, drainStep: -1, clock: loop.tickUs > 0 && loop.epochMs !== 0 ? { wallMs: loop.epochMs, tick: 0, usPerTick: loop.tickUs } : null, loop, inbox, sendBase, stopped: false, startNs: process.hrtime.bigint(), sentBase: this.transport.sentNotDropped, taken: 0, paceNs: process.hrtime.bigint(), paceStep: 0, tracing, files };
    this.schedule();
  }

  /**
   * Stops the workload at the current local step (idempotent). Control messages are handled
   * between slices, so no step is under way: steps before `drainStep` ran with the workload, steps
   * from it on without, which is what replay reproduces from the recorded `drainStep`.
   */
  private drain(): void {
    const g = this.g;
    if (g === null || g.stopped || g.drainStep >= 0) return;
    g.drainStep = g.driver.step;
    g.built.stopWorkload();
    const dtu = g.loop.drainTickUs ?? 0;
    if (g.loop.tickUs > 0 && g.loop.epochMs !== 0 && dtu > 0 && dtu !== g.loop.tickUs) {
      // The drain's clock goes on from the tick the run's clock is in now.
      const wallMs = performance.timeOrigin + performance.now();
      const c = g.clock as PaceClock;
      g.clock = { wallMs, tick: c.tick + Math.floor(((wallMs - c.wallMs) * 1000) / c.usPerTick), usPerTick: dtu };
    }
    if (this.waiting) this.schedule();
  }

  private status(wave: number): Record<string, unknown> {
    const g = this.g;
    const stuck: number[] = [];
    if (g !== null) for (const s of g.built.stuck()) stuck.push(s.cpu, s.waitingFor, Math.max(0, g.driver.step - s.sinceStep));
    const hung: number[] = [];
    if (g !== null) for (const h of g.built.hung()) hung.push(h.cpu, h.taskCpu, Math.max(0, g.driver.step - h.sinceStep));
    return {
      runId: this.opts.runId, core: this.core, generation: g?.gen ?? 0, wave,
      step: g?.driver.step ?? 0, sent: g === null ? 0 : this.transport.sentNotDropped - g.sentBase, received: g?.taken ?? 0,
      finished: g === null ? true : g.built.core.finished,
      quiescent: g === null ? true : g.built.core.quiescent,
      idle: this.pending.length === 0 && (g === null || (this.waiting && this.pacer === undefined) || g.stopped),
      ipisHandled: g?.built.ipisHandled() ?? 0, ipisSent: g?.built.ipisSent() ?? 0,
      stuck, hung, offlineWakesMax: g?.built.offlineWakesMax() ?? 0, lost: g?.built.lostIpis() ?? [], invalidReason: this.invalidReason || this.genInputError || (this.transport.invalid ?? ''),
      drainJson: g === null || g.drainStep < 0 ? '' : JSON.stringify({ drainStep: g.drainStep, cpus: g.built.drainState() }),
    };
  }

  private stopGeneration(reason: string): Record<string, unknown> {
    const g = this.g;
    const why = this.invalidReason || this.genInputError;
    const base = { runId: this.opts.runId, core: this.core, verdict: why === '' ? 'valid' : 'invalid', reason: why || reason };
    if (g === null) return { ...base, generation: 0, resultsJson: '' };
    g.stopped = true;
    const final = g.built.final(g.driver.step);
    let record: RunCoreRecord | undefined;
    if (g.inbox !== null) {
      const inputs = g.inbox.count;
      record = { core: this.core, endStep: g.driver.step, inboxFile: g.inbox.close(), inputs, sendBase: g.sendBase };
      if (g.drainStep >= 0) record.drainStep = g.drainStep;
    }
    if (HOP_LOG_DIR !== '' && this.hops.length > 0) {
      mkdirSync(HOP_LOG_DIR, { recursive: true });
      // Appended: the exit's StopRun comes after the run's, and arrivals logged between them are
      // the same generation's.
      appendFileSync(join(HOP_LOG_DIR, `hops-gen-${g.gen}-core-${this.core}.tsv`), this.hops.map((h) => h.join('\t')).join('\n') + '\n');
      this.hops = [];
    }
    const st = this.transport.stats();
    this.sampleMemory(true);
    const counters: Record<string, number> = {
      steps: g.driver.steps, inputs: g.taken, stale_inputs_dropped: this.staleDropped,
      // Maxima over the cores (`_max`): resident set, V8 heap, and memory outside it (MB).
      mem_rss_mb_max: this.mem.rss, mem_pss_mb_max: this.mem.pss, mem_private_mb_max: this.mem.private, mem_heap_used_mb_max: this.mem.heapUsed, mem_heap_total_mb_max: this.mem.heapTotal, mem_external_mb_max: this.mem.external,
    };
    const ps = this.pace;
    if (g.loop.tickUs > 0 && ps !== null && ps.gen === g.gen) {
      const nowMs = performance.timeOrigin + performance.now();
      const open = ps.behindSinceMs >= 0 ? nowMs - ps.behindSinceMs : 0;
      // `_max` counters are gathered by maximum, the others summed over the cores.
      counters.pace_lag_ticks_max = ps.lagMax;
      counters.pace_lag_ticks_sum = Math.round(ps.lagSum);
      counters.pace_lag_samples = ps.lagSamples;
      counters.pace_behind_ms = Math.round(ps.behindMs + open);
      counters.pace_behind_stretch_ms_max = Math.round(Math.max(ps.behindMaxMs, open));
      counters.pace_catch_up_ms_max = Math.round(ps.caughtUpMs < 0 ? nowMs - g.loop.epochMs : ps.caughtUpMs);
      counters.pace_sleeps = ps.sleeps;
      counters.pace_slices = ps.slices;
      counters.pace_idle_wakes = ps.idleWakes;
      const cpu = process.cpuUsage(ps.cpu0);
      counters.pace_cpu_ms = Math.round((cpu.user + cpu.system) / 1000);
      counters.pace_lagging_cores = ps.behindMs + open > 0 ? 1 : 0;
    }
    for (const [k, v] of Object.entries(st)) if (typeof v === 'number') counters[`bus_${k}`] = v;
    // By kind and link (`faultlink_<kind>@<src>-><dst>`): a link's faults are its sender's
    // decisions; the controller sums them by kind.
    for (const fc of st.faults) counters[`faultlink_${fc.kind}@${fc.link}`] = (counters[`faultlink_${fc.kind}@${fc.link}`] ?? 0) + fc.count;
    const results: CoreResultsJson = { final, sendBase: g.sendBase, transport: {} };
    if (record !== undefined) results.record = record;
    return { ...base, generation: g.gen, counters, resultsJson: JSON.stringify(results) };
  }

  /** A piece of one of the current generation's files (FileChunkRequest), or why not. */
  private fileChunk(gen: number, file: string, offset: number, maxBytes: number): Record<string, unknown> {
    const base = { runId: this.opts.runId, core: this.core, generation: gen, file, offset };
    const g = this.g;
    if (g === null || g.gen !== gen) return { ...base, error: `core ${this.core} holds no files of generation ${gen} (it is at ${this.curGen})` };
    if (!g.stopped) return { ...base, error: `core ${this.core}: generation ${gen} is still running` };
    const path = g.files[file as CoreFileKind];
    if (path === undefined) return { ...base, error: `core ${this.core} wrote no ${file} file in generation ${gen}` };
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      return { ...base, error: `core ${this.core}: ${(e as Error).message}` };
    }
    try {
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(maxBytes || FILE_CHUNK_MAX, FILE_CHUNK_MAX)));
      let n = 0;
      while (n < buf.length) {
        const r = readSync(fd, buf, n, buf.length - n, offset + n);
        if (r === 0) break;
        n += r;
      }
      return { ...base, totalBytes: fstatSync(fd).size, data: buf.subarray(0, n) };
    } finally {
      closeSync(fd);
    }
  }

  async shutdown(code: number): Promise<void> {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.g !== null) this.g.stopped = true;
    try {
      await this.ctl.flush();
      await this.transport.close();
      await this.ctl.close();
    } catch {
      // the bus is gone; we are leaving anyway
    }
    if (this.filesDir !== '') rmSync(this.filesDir, { recursive: true, force: true });
    this.exitResolve(code);
  }
}
