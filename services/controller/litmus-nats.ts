/**
 * `ipiscope litmus --mode nats`: each litmus run is one generation on real core processes over
 * NATS. The processes live across the runs of a test (and across tests, when a session is
 * shared): each run resets them by a StartRun control message instead of respawning.
 *
 * Run seeds, homes and the swarm draw are those of `runLitmus`, so the two modes draw the same
 * machines; the schedules differ, since the bus is real.
 */
import { Random } from '../stdx/index.js';
import type { LitmusTest } from '../litmus/index.js';
import { placementMachine } from '../litmus/run.js';
import type { LitmusResult, Placement } from '../litmus/run.js';
import { litmusOutcome } from '../sim/replay.js';
import type { LitmusSpec } from '../sim/replay.js';
import { Controller, type StartedController } from './controller.js';
import { inputErrorOf } from '../bus/control.js';

/** A litmus test a core could not run (bad input, found at run time): its file, line and detail. */
export class LitmusInputError extends Error {
  override name = 'LitmusInputError';
}

export interface LitmusNatsOptions {
  runs: number;
  seed: number | string;
  placement: Placement;
  /** NATS URLs (none: a private server for this call). */
  servers?: string[];
  /** A running set of core processes to reuse (it must have enough cores). */
  session?: StartedController;
  instrMax?: number;
  /** Wall-clock bound of one run (ms). Default 20000. */
  runTimeoutMs?: number;
  /** Broadcast locations (every write to every core; the default), or directory-tracked ones (the
   * kernel's: read misses fetch from the home, writes and syncs go to the sharers). */
  locations?: 'broadcast' | 'directory';
}

/** Wall time (us) an idle core spends per tick it jumps in a litmus run over NATS. */
export const LITMUS_IDLE_TICK_US = 20;

/** Runs one litmus test `opts.runs` times over NATS; same result type as `runLitmus`. */
export async function runLitmusNats(test: LitmusTest, text: string, opts: LitmusNatsOptions): Promise<LitmusResult> {
  const { topology } = placementMachine(test.threads.length, opts.placement);
  const ncores = topology.sockets * topology.coresPerSocket;
  const own = opts.session === undefined;
  const ctl = opts.session ?? (await new Controller(opts.servers !== undefined ? { servers: opts.servers, cores: ncores } : { cores: ncores }).start());
  const outcomes = new Map<string, number>();
  const states = new Map<string, Map<string, number>>();
  let hits = 0;
  let invalid = 0;
  let filtered = 0;
  let invalidReason: string | undefined;
  try {
    const master = new Random(opts.seed, `litmus/${test.name}/${opts.placement}`);
    for (let run = 0; run < opts.runs; run++) {
      const spec: LitmusSpec = {
        kind: 'litmus', file: test.file, text, runSeed: master.u32(), placement: opts.placement, instrMax: opts.instrMax ?? 10_000,
        ...(opts.locations === 'directory' ? { locations: 'directory' as const } : {}),
      };
      // A thread's start skew and stalls are drawn in ticks, like the simulated bus's delays; with
      // idle ticks paced at LITMUS_IDLE_TICK_US of wall time they last about as long, relative to
      // a real hop (a few hundred us), as in sim. Unpaced, every wait was jumped at once and a
      // thread ran its few instructions long before another core's writes could arrive.
      const g = await ctl.runGeneration(spec, { end: { kind: 'quiet', timeoutMs: opts.runTimeoutMs ?? 20_000 }, idleTickUs: LITMUS_IDLE_TICK_US, aheadTicksMax: 0 });
      if (g.reason !== 'finished') {
        // Bad input (the test reads no location, say) is the test's error, as in sim mode.
        const bad = inputErrorOf(g.invalidReason);
        if (bad !== undefined) throw new LitmusInputError(bad);
        invalid++;
        invalidReason = g.invalidReason ?? `run ended by ${g.reason}`;
        if (g.reason === 'invalid' && g.finals.length === 0) {
          // Nothing came back: the runs left are not run, and say so.
          invalid += opts.runs - run - 1;
          invalidReason += ` (the remaining ${opts.runs - run - 1} runs were not started)`;
          break;
        }
        continue;
      }
      const o = litmusOutcome(spec, g.finals);
      if (o.invalid !== undefined) {
        invalid++;
        invalidReason = o.invalid;
        continue;
      }
      if (o.filtered) {
        filtered++;
        continue;
      }
      outcomes.set(o.key, (outcomes.get(o.key) ?? 0) + 1);
      if (o.hit) hits++;
      if (!states.has(o.key)) states.set(o.key, o.state);
    }
  } finally {
    if (own) await ctl.stop();
  }
  const sorted: Record<string, number> = {};
  for (const k of [...outcomes.keys()].sort()) sorted[k] = outcomes.get(k) as number;
  const res: LitmusResult = { name: test.name, runs: opts.runs, hits, outcomes: sorted, invalid, states };
  if (test.filter !== undefined) res.filtered = filtered;
  if (invalidReason !== undefined) res.invalidReason = invalidReason;
  return res;
}
