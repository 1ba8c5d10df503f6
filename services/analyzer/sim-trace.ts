/**
 * A traced `sim` run: `createTracing({mode: 'sim'})` built by `runSim` once the scenario's kernel
 * exists (the tracer finds its locations by name), attached as its observer, and shut down with the
 * run's last tick. Used by `ipiscope sim --trace-file/--otlp`, tests and benchmarks.
 */
import { assert } from '../stdx/index.js';
import { resolveMachine } from '../machine/topology.js';
import { runSim } from '../sim/index.js';
import type { RunSimOptions, Scenario, SimResult } from '../sim/index.js';
import { createTracing } from '../tracing/index.js';
import type { Tracing, TracingOptions, TracingStats } from '../tracing/index.js';

export interface TracedSimOptions {
  traceFile?: string;
  otlpUrl?: string;
  sampleRatio?: number;
  exporter?: TracingOptions['exporter'];
  /** Build the spans in this thread instead of the tracing worker (see `createTracing`). */
  offload?: boolean;
}

export async function runSimTraced(
  s: Scenario,
  opts: RunSimOptions,
  t: TracedSimOptions,
): Promise<{ result: SimResult; stats: TracingStats }> {
  const topo = resolveMachine(s.machine);
  const tps = s.clock.ticksPerSecond;
  let tracing: Tracing | null = null;
  const result = runSim(s, {
    ...opts,
    observerFor: (locationNames) => {
      tracing = createTracing({
        mode: 'sim',
        ...t,
        locationNames,
        threadsPerCore: topo.threadsPerCore,
        seed: opts.seed ?? s.seed,
        nsPerTick: 1e9 / tps,
        settleTicks: Math.floor(s.limits.settleSecs * tps),
      });
      assert(tracing.observer !== null, 'sim tracing has an observer');
      return tracing.observer;
    },
  });
  const tr = tracing as Tracing | null;
  assert(tr !== null, 'runSim built the tracer');
  await tr.shutdown({ tickEnd: result.ticks });
  return { result, stats: tr.stats() };
}
