/**
 * The one call an entry point makes to trace a run: `createTracing(options)` returns the
 * `MachineObserver` to hand to the machine (`World`/`Core` `observer`, or `runSim`'s) and a
 * `shutdown()` that ends open spans and flushes every exporter. Tracing off is not an observer that
 * does nothing: it is no observer at all (`observer: null`), so the machine pays one null check.
 *
 * Two modes:
 * - `sim`: every core in this process, virtual time (`tick * nsPerTick` after a fixed epoch), span
 *   ids from a seeded stream: the same seed writes the same trace file byte for byte. The sim never
 *   yields to the event loop while it runs, so spans are exported by `SimSpanProcessor`, which
 *   writes the trace file synchronously per batch and holds OTLP batches (bounded, drops counted)
 *   until `shutdown()`.
 * - `live`: one core per process (`service.instance.id`), wall-clock timestamps, random ids; the
 *   span file written synchronously per batch (never a span dropped), OTLP through the SDK's
 *   `BatchSpanProcessor`.
 */
import type { HrTime, Tracer } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type {
  ReadableSpan,
  Sampler,
  SamplingResult,
  Span,
  SpanExporter,
  SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_INSTANCE_ID } from '@opentelemetry/semantic-conventions';
import type { Context } from '@opentelemetry/api';
import { assert, UsageError } from '../stdx/index.js';
import type { MachineObserver } from '../machine/index.js';
import { Worker } from 'node:worker_threads';
import { IpiTraceObserver, locationRoles, spanBuilderReads } from './ipi-observer.js';
import { EventPacker } from './event-pack.js';
import type { PackedChunk } from './event-pack.js';
import type { TraceWorkerReply, TraceWorkerRequest } from './trace-worker.js';
import { SeededIdGenerator } from './seeded-ids.js';
import { SpanFileExporter } from './span-file-exporter.js';
import { SCOPE_NAME, SERVICE_NAME, SPAN } from './semconv.js';

/** 2019-09-11T22:31:55Z, the date of 3a83f677a6ee: the epoch of virtual (sim) timestamps. */
export const SIM_EPOCH_S = 1_568_241_115;

export interface TracingOptions {
  /** `sim`: whole machine, virtual time, seeded ids. `live`: one core, wall clock. `off`: nothing. */
  mode: 'sim' | 'live' | 'off';
  /** Write every span as OTLP/JSON, one export request per line. */
  traceFile?: string;
  /** OTLP/HTTP protobuf endpoint, e.g. `http://127.0.0.1:4318/v1/traces`. */
  otlpUrl?: string;
  /** Fraction of IPIs traced, decided per trace id (parent-based). Default 1. */
  sampleRatio?: number;
  /** `service.instance.id`: live, the core process's id (e.g. `core-3`); sim, a prefix (`core-` by default). */
  serviceInstanceId?: string;
  /** Location names by id: the kernel's `LocationTable.names` (roles are found by name). Else call
   * `ipiObserver.setLocationNames` once the kernel is built, before the run. */
  locationNames?: readonly string[];
  /** Threads per core of the topology. */
  threadsPerCore: number;
  /** Live: this process's core and the machine's core count (on its run span: the analyzer then
   * knows whose run spans are missing). */
  core?: number;
  cores?: number;
  /** Sim: seed of the span ids (use the run's seed). */
  seed?: number | string;
  /** Sim: nanoseconds per tick (1e9 / ticksPerSecond). Default 50,000 (20,000 ticks/s). */
  nsPerTick?: number;
  /** Ticks after its message store after which a handled IPI is late. Default 1 s of ticks. */
  lateTicks?: number;
  /** Ticks an unconsumed IPI must have been ordered before the end to be ignored (the checker's). */
  settleTicks?: number;
  /** Bound on spans buffered (sim OTLP, and the live queue). Default 65,536. */
  spanQueueMax?: number;
  /** Extra exporter owned by the caller (tests: InMemorySpanExporter): flushed, not shut down. */
  exporter?: SpanExporter;
  /**
   * Sim: build and export the spans on a worker thread while the run goes on (the run's thread
   * only packs the events the span builder reads). Default: on when `locationNames` is given and
   * no caller-owned `exporter` is (that one cannot cross threads). The output is the same.
   */
  offload?: boolean;
}

export interface Tracing {
  /** Hand to the machine; null when tracing is off. */
  readonly observer: (MachineObserver & { finish(tickEnd?: number): void }) | null;
  /** The span builder (for the NATS hop helpers `traceparentFor` / `noteIncoming`), null when off. */
  readonly ipiObserver: IpiTraceObserver | null;
  /** Ends open spans (`tickEnd`: the run's last tick), writes verdicts, flushes and closes exporters. */
  shutdown(opts?: { tickEnd?: number }): Promise<void>;
  stats(): TracingStats;
}

export interface TracingStats {
  spanCount: number;
  spanCountDropped: number;
  ipisTraced: number;
}

/** Buffers ended spans and exports them in batches, synchronously where the exporter allows. */
export class SimSpanProcessor implements SpanProcessor {
  private batch: ReadableSpan[] = [];
  private readonly deferred: ReadableSpan[][] = [];
  private deferredCount = 0;
  spanCount = 0;
  spanCountDropped = 0;

  constructor(
    private readonly syncExporters: SpanExporter[],
    private readonly asyncExporters: SpanExporter[],
    private readonly batchSize = 512,
    private readonly deferredMax = 65_536,
  ) {}

  onStart(_span: Span, _ctx: Context): void {}

  onEnd(span: ReadableSpan): void {
    this.spanCount++;
    this.batch.push(span);
    if (this.batch.length >= this.batchSize) this.flushBatch();
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const b = this.batch;
    this.batch = [];
    for (const e of this.syncExporters) e.export(b, () => {});
    if (this.asyncExporters.length > 0) {
      if (this.deferredCount + b.length > this.deferredMax) {
        this.spanCountDropped += b.length;
      } else {
        this.deferred.push(b);
        this.deferredCount += b.length;
      }
    }
  }

  async forceFlush(): Promise<void> {
    this.flushBatch();
    for (const b of this.deferred.splice(0)) {
      for (const e of this.asyncExporters) {
        await new Promise<void>((resolve) => {
          e.export(b, (r) => {
            if (r.code !== ExportResultCode.SUCCESS) this.spanCountDropped += b.length;
            resolve();
          });
        });
      }
    }
    this.deferredCount = 0;
    for (const e of [...this.syncExporters, ...this.asyncExporters]) await e.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    for (const e of [...this.syncExporters, ...this.asyncExporters]) await e.shutdown();
  }
}

/**
 * Samples IPI traces by ratio, but always keeps the run span: it carries the run's end tick and
 * thresholds, and the analyzer takes a trace without it for one cut short.
 */
class RunSpanSampler implements Sampler {
  constructor(private readonly inner: Sampler) {}

  shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
    if (args[2] === SPAN.run) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    return this.inner.shouldSample(...args);
  }

  toString(): string {
    return `RunSpanSampler{${this.inner.toString()}}`;
  }
}

/** Virtual time: `SIM_EPOCH_S` plus `tick * nsPerTick`, split so no precision is lost. */
function simTime(tick: number, nsPerTick: number): HrTime {
  const ns = Math.round(tick * nsPerTick);
  const s = Math.floor(ns / 1e9);
  return [SIM_EPOCH_S + s, ns - s * 1e9];
}

/** `simTime` of the last tick asked for, kept: most events of a span share a tick, and neither
 * the SDK nor the exporters mutate an HrTime they are given. */
function simClock(nsPerTick: number): (tick: number) => HrTime {
  let lastTick = -1;
  let last: HrTime = [SIM_EPOCH_S, 0];
  return (tick) => {
    if (tick !== lastTick) {
      lastTick = tick;
      last = simTime(tick, nsPerTick);
    }
    return last;
  };
}

function wallNow(): HrTime {
  const ns = process.hrtime.bigint();
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

export function createTracing(opts: TracingOptions): Tracing {
  if (opts.mode === 'off') {
    return {
      observer: null,
      ipiObserver: null,
      shutdown: async () => {},
      stats: () => ({ spanCount: 0, spanCountDropped: 0, ipisTraced: 0 }),
    };
  }
  const ratio = opts.sampleRatio ?? 1;
  if (!(ratio >= 0 && ratio <= 1))
    throw new UsageError(`sample ratio ${ratio} is not in [0, 1]; give e.g. --trace-sample 0.1`);
  assert(opts.threadsPerCore > 0, 'threadsPerCore > 0');
  if (opts.otlpUrl !== undefined) {
    try {
      new URL(opts.otlpUrl);
    } catch {
      throw new UsageError(
        `--otlp ${opts.otlpUrl} is not a URL; give e.g. http://127.0.0.1:4318/v1/traces`,
      );
    }
  }
  if (opts.mode === 'sim' && opts.locationNames !== undefined && opts.exporter === undefined && opts.offload !== false) {
    // A trace file that cannot be written is a usage error now, not after the run (the worker
    // opens it again, truncating this empty file).
    if (opts.traceFile !== undefined) void new SpanFileExporter(opts.traceFile).shutdown();
    return offloadedTracing(opts, opts.locationNames);
  }
  const nsPerTick = opts.nsPerTick ?? 50_000;
  const sim = opts.mode === 'sim';
  const sync: SpanExporter[] = [];
  const asyncs: SpanExporter[] = [];
  let fileExporter: SpanFileExporter | null = null;
  if (opts.traceFile !== undefined) {
    fileExporter = new SpanFileExporter(opts.traceFile);
    sync.push(fileExporter);
  }
  if (opts.exporter !== undefined) {
    // The caller owns it (tests read it after shutdown): flush it, never shut it down.
    const e = opts.exporter;
    sync.push({
      export: (spans, cb) => e.export(spans, cb),
      shutdown: async () => {},
      forceFlush: async () => e.forceFlush?.(),
    });
  }
  if (opts.otlpUrl !== undefined) {
    asyncs.push(new OTLPTraceExporter({ url: opts.otlpUrl }));
  }
  const queueMax = opts.spanQueueMax ?? 65_536;
  const OTLP_QUEUE_MAX = 8192;
  let simProcessor: SimSpanProcessor | null = null;
  const processors: SpanProcessor[] = [];
  if (sim) {
    simProcessor = new SimSpanProcessor(sync, asyncs, 512, queueMax);
    processors.push(simProcessor);
  } else {
    // Live: the span file (and a caller's exporter) is written synchronously in batches, as in
    // sim, so that no span is ever dropped from it (a BatchSpanProcessor drops past its queue,
    // and the analyzer judges a run only from every span of it); OTLP goes through the SDK's
    // BatchSpanProcessor.
    if (sync.length > 0) processors.push(new SimSpanProcessor(sync, [], 512, queueMax));
    for (const e of asyncs) {
      processors.push(
        new BatchSpanProcessor(e, {
          // Bounded below the span file's queue: spans wait here only while the endpoint is slow
          // or gone (a core makes tens to hundreds a second), and a traced core's heap is capped.
          maxQueueSize: Math.min(queueMax, OTLP_QUEUE_MAX),
          maxExportBatchSize: 512,
          scheduledDelayMillis: 1000,
        }),
      );
    }
  }
  const sampler: Sampler =
    ratio >= 1
      ? new AlwaysOnSampler()
      : new RunSpanSampler(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }));
  const ids = sim ? new SeededIdGenerator(opts.seed ?? 1) : undefined;
  const providers: BasicTracerProvider[] = [];
  let spanCount = 0;
  const counting: SpanProcessor = {
    onStart: () => {},
    onEnd: () => {
      spanCount++;
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const tracerFor = (core: number): Tracer => {
    const instance = sim
      ? `${opts.serviceInstanceId ?? 'core-'}${core}`
      : (opts.serviceInstanceId ?? `core-${core}`);
    const p = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: SERVICE_NAME,
        [ATTR_SERVICE_INSTANCE_ID]: instance,
        'service.namespace': 'ipiscope',
      }),
      spanProcessors: [counting, ...processors],
      sampler,
      ...(ids !== undefined ? { idGenerator: ids } : {}),
      spanLimits: { eventCountLimit: 4096, attributeCountLimit: 128, linkCountLimit: 64 },
    });
    providers.push(p);
    return p.getTracer(SCOPE_NAME);
  };
  const observer = new IpiTraceObserver({
    ...(opts.locationNames !== undefined ? { locationNames: opts.locationNames } : {}),
    tracerFor,
    timeOf: sim ? simClock(nsPerTick) : () => wallNow(),
    lateTicks: opts.lateTicks ?? Math.round(1e9 / nsPerTick),
    settleTicks: opts.settleTicks ?? Math.round(1e9 / nsPerTick),
    wholeMachine: sim,
    threadsPerCore: opts.threadsPerCore,
    ...(opts.core !== undefined ? { core: opts.core } : {}),
    ...(opts.cores !== undefined ? { cores: opts.cores } : {}),
  });
  let done = false;
  return {
    observer,
    ipiObserver: observer,
    async shutdown(o = {}) {
      if (done) return;
      done = true;
      observer.finish(o.tickEnd);
      // Processors are shared by every core's provider: flush and shut each down once.
      for (const p of processors) await p.shutdown();
    },
    stats: () => ({
      spanCount,
      spanCountDropped: simProcessor?.spanCountDropped ?? 0,
      ipisTraced: observer.ipisTraced,
    }),
  };
}

/** Chunks posted and not yet done by the worker, at most (each ~390 KB): beyond, the run waits. */
const OUTSTANDING_MAX = 32;
/** A worker that takes no chunk for this long is declared failed (the run stops waiting on it). */
const STALL_MS = 60_000;

/** The process's tracing worker, shared by its traced runs one after another (kept warm). */
let sharedWorker: { worker: Worker; error: Error | null; busy: boolean } | null = null;

function traceWorker(): { worker: Worker; error: Error | null; busy: boolean } {
  if (sharedWorker !== null && sharedWorker.error === null && !sharedWorker.busy) return sharedWorker;
  const w = { worker: new Worker(new URL('./trace-worker.js', import.meta.url)), error: null as Error | null, busy: false };
  w.worker.on('error', (e) => {
    w.error = e;
  });
  w.worker.on('exit', () => {
    w.error ??= new Error('the tracing worker exited');
    if (sharedWorker === w) sharedWorker = null;
  });
  if (sharedWorker === null || sharedWorker.error !== null) sharedWorker = w;
  return w;
}

/**
 * Sim tracing on a worker thread: the observer handed to the machine packs events into chunks
 * (see event-pack.ts) and posts them; the worker runs the same `IpiTraceObserver` and exporters.
 * The run's thread waits (Atomics.wait) only when the worker is `OUTSTANDING_MAX` chunks behind.
 */
function offloadedTracing(opts: TracingOptions, names: readonly string[]): Tracing {
  const progressBuf = new SharedArrayBuffer(8);
  const progress = new Int32Array(progressBuf);
  const { exporter: _none, ...options } = opts;
  const w = traceWorker();
  w.busy = true;
  w.worker.ref();
  const worker = w.worker;
  worker.postMessage({ t: 'start', options: { ...options, offload: false }, progress: progressBuf } satisfies TraceWorkerRequest);
  const { role } = locationRoles(names);
  let posted = 0;
  let stalled = '';
  const post = (chunk: PackedChunk): void => {
    if (stalled !== '' || Atomics.load(progress, 1) === 1) return;
    let waitedMs = 0;
    for (;;) {
      const done = Atomics.load(progress, 0);
      if (posted - done < OUTSTANDING_MAX || Atomics.load(progress, 1) === 1) break;
      if (Atomics.wait(progress, 0, done, 1000) === 'timed-out') {
        waitedMs += 1000;
        if (waitedMs >= STALL_MS) {
          stalled = `the tracing worker took no events for ${STALL_MS / 1000} s`;
          return;
        }
      }
    }
    worker.postMessage({ t: 'chunk', chunk } satisfies TraceWorkerRequest, [chunk.data.buffer as ArrayBuffer]);
    posted++;
  };
  const packer = new EventPacker((ev) => spanBuilderReads(ev, role), post);
  const observer = Object.assign(packer, { finish: (_tickEnd?: number): void => {} });
  let stats: TracingStats = { spanCount: 0, spanCountDropped: 0, ipisTraced: 0 };
  let done = false;
  return {
    observer,
    ipiObserver: null,
    async shutdown(o = {}) {
      if (done) return;
      done = true;
      packer.flush();
      let onMessage: (m: TraceWorkerReply) => void = () => {};
      let onExit: () => void = () => {};
      const reply = new Promise<TraceWorkerReply>((resolve, reject) => {
        onMessage = resolve;
        onExit = () => reject(w.error ?? new Error('the tracing worker exited before the run ended'));
        worker.once('message', onMessage);
        worker.once('exit', onExit);
      });
      worker.postMessage({ t: 'end', tickEnd: o.tickEnd ?? packer.tickMax } satisfies TraceWorkerRequest);
      let r: TraceWorkerReply;
      try {
        r = await reply;
      } finally {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        w.busy = false;
        // Idle between runs: it must not keep the process alive.
        worker.unref();
      }
      if (r.t === 'failed') throw new Error(`tracing failed: ${r.message}`);
      if (stalled !== '') throw new Error(`tracing failed: ${stalled}`);
      stats = { spanCount: r.spanCount, spanCountDropped: r.spanCountDropped, ipisTraced: r.ipisTraced };
    },
    stats: () => stats,
  };
}
