/**
 * Tracing of one core process's machine (`ipiscope run --trace-file/--otlp`): the core's own
 * spans in `live` mode (`service.instance.id` = `core-<n>`, wall-clock timestamps), its observer
 * attached to its `Core`, and the NATS hop: `traceparentFor` gives the header of a traced bus
 * message, `noteIncoming` hands the one that came with a message to the span builder before the
 * core takes the message, so the target's consumer span continues the sender's IPI trace.
 *
 * Off (no StartRun.tracing_json) there is nothing: no observer, no OpenTelemetry module loaded
 * (`loadCoreTracing` imports it on the first traced generation only).
 */
import type { CoreMsg, MachineObserver } from '../machine/index.js';
import type { Tracing } from '../tracing/create-tracing.js';

/**
 * Tracing of one core's machine for one generation (StartRun.tracing_json; absent or '' = off,
 * and then no observer is attached). The core traces in `live` mode: its own spans, wall-clock
 * timestamps, `service.instance.id` = `core-<n>`.
 */
export interface CoreTracingOptions {
  /** This core's span file (OTLP/JSON, one export request per line); the controller merges. */
  traceFile?: string;
  /** OTLP/HTTP protobuf endpoint the core sends its spans to directly. */
  otlpUrl?: string;
  /** Fraction of IPIs traced (parent-based: a hop follows its sender's decision). Default 1. */
  sampleRatio?: number;
  /** Written on the core's run span: an unconsumed IPI ordered this many ticks before the end is
   * ignored (0 after a drain: nothing is in flight any more). */
  settleTicks?: number;
  /** Written on the core's run span: a handled IPI later than this many ticks is late. */
  lateTicks?: number;
}

type TracingModule = typeof import('../tracing/create-tracing.js');
let mod: TracingModule | null = null;

/** Loads the tracing modules (once per process); a generation that traces waits for it. */
export async function loadCoreTracing(): Promise<void> {
  mod ??= await import('../tracing/create-tracing.js');
}

export function coreTracingLoaded(): boolean {
  return mod !== null;
}

export class CoreTracing {
  readonly observer: MachineObserver;
  private ended: Promise<Record<string, number>> | null = null;

  private constructor(private readonly tracing: Tracing) {
    this.observer = tracing.observer as MachineObserver;
  }

  /**
   * The tracing of `core` for one generation, or null when `tracingJson` is empty. Throws (a
   * UsageError) when the options are bad or the span file cannot be opened; call
   * `loadCoreTracing` first.
   */
  static start(tracingJson: string, core: number, threadsPerCore: number, cores: number): CoreTracing | null {
    if (tracingJson === '') return null;
    if (mod === null) throw new Error('loadCoreTracing() must run before a traced generation starts');
    const o = JSON.parse(tracingJson) as CoreTracingOptions;
    if (o.traceFile === undefined && o.otlpUrl === undefined) return null;
    const t = mod.createTracing({
      mode: 'live',
      serviceInstanceId: `core-${core}`,
      threadsPerCore,
      core,
      cores,
      ...(o.traceFile !== undefined ? { traceFile: o.traceFile } : {}),
      ...(o.otlpUrl !== undefined ? { otlpUrl: o.otlpUrl } : {}),
      ...(o.sampleRatio !== undefined ? { sampleRatio: o.sampleRatio } : {}),
      ...(o.settleTicks !== undefined ? { settleTicks: o.settleTicks } : {}),
      ...(o.lateTicks !== undefined ? { lateTicks: o.lateTicks } : {}),
    });
    return t.observer === null ? null : new CoreTracing(t);
  }

  /** The built kernel's location names (before the first step: roles are found by name). */
  setLocationNames(names: readonly string[]): void {
    this.tracing.ipiObserver?.setLocationNames(names);
  }

  /** The `traceparent` header for a bus message this core sends, if it belongs to a traced IPI. */
  traceparentFor(msg: CoreMsg): string | undefined {
    return this.ended === null ? this.tracing.ipiObserver?.traceparentFor(msg) : undefined;
  }

  /** A bus message arrived with a `traceparent` header: call before the core takes it. */
  noteIncoming(msg: CoreMsg, traceparent: string): void {
    if (this.ended === null) this.tracing.ipiObserver?.noteIncoming(msg, traceparent);
  }

  /**
   * Ends open spans at `tickEnd` (the core's last step), writes its run span and flushes every
   * exporter (the span file is complete when this resolves). Idempotent: a repeated StopRun
   * waits for the same flush. Resolves with counters for CoreResults.
   */
  end(tickEnd: number): Promise<Record<string, number>> {
    this.ended ??= this.tracing.shutdown({ tickEnd }).then(
      () => {
        const s = this.tracing.stats();
        return { trace_spans: s.spanCount, trace_spans_dropped: s.spanCountDropped, trace_ipis: s.ipisTraced, trace_failed: 0 };
      },
      () => ({ trace_spans: this.tracing.stats().spanCount, trace_spans_dropped: 0, trace_ipis: 0, trace_failed: 1 }),
    );
    return this.ended;
  }
}
