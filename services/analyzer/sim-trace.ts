/**
 * A traced `sim` run: the scenario's kernel location table (built exactly as `runSim` builds it,
 * so ids match), `createTracing({mode: 'sim'})` attached as `runSim`'s observer, shut down with
 * the run's last tick. Used by tests, benchmarks and until `ipiscope sim --trace-file` is wired.
 */
import { Kernel, resolveKernel } from '../kernel/index.js';
import { resolveMachine } from '../machine/topology.js';
import { runSim, StressWorkload } from '../sim/index.js';
import type { RunSimOptions, Scenario, SimResult } from '../sim/index.js';
import { createTracing } from '../tracing/index.js';
import type { TracingOptions, TracingStats } from '../tracing/index.js';

/** The kernel's location names for a scenario and run options, as `runSim` lays them out. */
export function simLocationNames(s: Scenario, opts: RunSimOptions = {}): string[] {
  const seed = opts.seed ?? s.seed;
  const topo = resolveMachine(s.machine);
  const patches = resolveKernel({
    kernel: opts.kernel ?? s.kernel,
    patches: opts.patches,
    revert: opts.revert,
  });
  const wl = new StressWorkload(s, topo, seed, () => 0);
  const k = new Kernel({
    topology: topo,
    patches,
    ablations: { demuxReadRelaxed: opts.demuxReadRelaxed ?? s.ablations.demuxReadRelaxed },
    csdPairs: wl.csdPairs(),
    tasks: wl.tasks,
    kvm: s.kvm,
  });
  return [...k.locs.names];
}

export interface TracedSimOptions {
  traceFile?: string;
  otlpUrl?: string;
  sampleRatio?: number;
  exporter?: TracingOptions['exporter'];
}

export async function runSimTraced(
  s: Scenario,
  opts: RunSimOptions,
  t: TracedSimOptions,
): Promise<{ result: SimResult; stats: TracingStats }> {
  const topo = resolveMachine(s.machine);
  const tps = s.clock.ticksPerSecond;
  const tracing = createTracing({
    mode: 'sim',
    ...t,
    locationNames: simLocationNames(s, opts),
    threadsPerCore: topo.threadsPerCore,
    seed: opts.seed ?? s.seed,
    nsPerTick: 1e9 / tps,
    settleTicks: Math.floor(s.limits.settleSecs * tps),
  });
  const result = runSim(s, {
    ...opts,
    ...(tracing.observer !== null ? { observer: tracing.observer } : {}),
  });
  await tracing.shutdown({ tickEnd: result.ticks });
  return { result, stats: tracing.stats() };
}
