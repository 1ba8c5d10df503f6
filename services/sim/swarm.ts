/**
 * Swarm mode of `ipiscope sim`: one scenario over many seeds, spread over worker threads. Each
 * seed's result depends on the seed alone (the machine is deterministic), so the per-seed lines are
 * the same whatever the number of workers; they are reported in seed order as they complete.
 *
 * A worker is this module run by `new Worker(...)`: it resolves the scenario itself (a built-in
 * name or a file, as the command line gave it) and runs the seeds it is sent, one at a time.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { UsageError } from '../stdx/index.js';
import { ppcMsgName } from '../kernel/index.js';
import { runSim, type RunSimOptions, type SimResult } from './run-sim.js';
import { resolveScenario } from './scenario.js';

/** Per-seed options a worker applies (no observer: swarm runs are untraced). */
export type SwarmSimOptions = Omit<RunSimOptions, 'seed' | 'observer' | 'observerFor'>;

/** What one seed gave: the verdict contract's figures, without console and tables. */
export interface SwarmSeedResult {
  seed: number;
  verdict: SimResult['verdict'];
  kernel: string;
  ipis_sent: number;
  ipis_handled: number;
  ticks: number;
  emulated_seconds: number;
  wall_ms: number;
  ignored: number;
  /** The first ignored IPI (by the tick its message was ordered), with its interleaving. */
  first_ignored?: SimResult['ignored'][number] & { name: string };
  lockups: number;
  invalid_reason?: string;
}

export interface SwarmSummary {
  swarm: true;
  scenario: string;
  kernel: string;
  seeds: number;
  jobs: number;
  verdicts: Record<string, number>;
  /** Seeds per verdict (at most 50 each, in order). */
  seeds_by_verdict: Record<string, number[]>;
  /** Emulated seconds at the end of each run (a hang: when it was found), over the seeds. */
  emulated_seconds: { min: number; median: number; max: number };
  /** IPIs handled per run, over the seeds. */
  ipis_handled: { min: number; median: number; max: number };
  /** Hanging seeds: emulated seconds at which the first ignored IPI was ordered. */
  first_ignored_seconds?: { min: number; median: number; max: number };
  wall_ms: number;
  seeds_per_minute: number;
}

interface WorkerInit {
  scenario: string;
  options: SwarmSimOptions;
}

type ToWorker = { seed: number } | { done: true };
type FromWorker = { seed: number; result: SwarmSeedResult } | { seed: number; error: string };

export function seedResultOf(r: SimResult): SwarmSeedResult {
  const out: SwarmSeedResult = {
    seed: r.seed, verdict: r.verdict, kernel: r.kernel, ipis_sent: r.ipis_sent, ipis_handled: r.ipis_handled, ticks: r.ticks,
    emulated_seconds: r.emulated_seconds, wall_ms: r.wall_ms, ignored: r.ignored.length, lockups: r.lockups.length,
  };
  const first = firstIgnoredOf(r.ignored);
  if (first !== undefined) out.first_ignored = first;
  if (r.invalid_reason !== undefined) out.invalid_reason = r.invalid_reason;
  return out;
}

/** The first of a run's ignored IPIs (by the tick its message was ordered), named as /proc/interrupts
 * names its message. */
export function firstIgnoredOf<T extends { msg: number }>(ignored: readonly T[]): (T & { name: string }) | undefined {
  const first = ignored[0];
  return first === undefined ? undefined : { ...first, name: ppcMsgName(first.msg) };
}

/**
 * Parses a seed list: `A-B` (inclusive), `A,B,C`, or a mix (`1-10,20,30-32`). Seeds are
 * non-negative integers, each at most once, at most `max` of them.
 */
export function parseSeedList(text: string, max = 1_000_000): number[] {
  const seeds: number[] = [];
  const seen = new Set<number>();
  for (const part of text.split(',')) {
    const p = part.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (m === null) throw new UsageError(`--seeds ${JSON.stringify(text)}: "${p}" is not a seed or a range A-B (e.g. 1-100,200,300-310)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b < a) throw new UsageError(`--seeds: "${p}" is not a range from a smaller to a larger seed`);
    if (b - a + 1 + seeds.length > max) throw new UsageError(`--seeds: at most ${max} seeds in one swarm`);
    for (let s = a; s <= b; s++) {
      if (seen.has(s)) throw new UsageError(`--seeds: seed ${s} is listed twice`);
      seen.add(s);
      seeds.push(s);
    }
  }
  if (seeds.length === 0) throw new UsageError('--seeds: give at least one seed');
  return seeds;
}

function spread(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length === 0 ? 0 : s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  // Three decimals, as the per-seed lines print emulated seconds.
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return { min: r3(s[0] ?? 0), median: r3(median), max: r3(s[s.length - 1] ?? 0) };
}

export function summarize(scenario: string, results: SwarmSeedResult[], jobs: number, wallMs: number, ticksPerSecond: number): SwarmSummary {
  const verdicts: Record<string, number> = {};
  const byVerdict: Record<string, number[]> = {};
  for (const r of results) {
    verdicts[r.verdict] = (verdicts[r.verdict] ?? 0) + 1;
    const l = (byVerdict[r.verdict] ??= []);
    if (l.length < 50) l.push(r.seed);
  }
  const out: SwarmSummary = {
    swarm: true, scenario, kernel: results[0]?.kernel ?? '', seeds: results.length, jobs, verdicts, seeds_by_verdict: byVerdict,
    emulated_seconds: spread(results.map((r) => r.emulated_seconds)),
    ipis_handled: spread(results.map((r) => r.ipis_handled)),
    wall_ms: wallMs, seeds_per_minute: Math.round((results.length * 60_000) / Math.max(1, wallMs)),
  };
  const firsts = results.filter((r) => r.first_ignored !== undefined && r.first_ignored.ordered_tick >= 0).map((r) => (r.first_ignored?.ordered_tick ?? 0) / ticksPerSecond);
  if (firsts.length > 0) out.first_ignored_seconds = spread(firsts);
  return out;
}

/** The human line of a seed, up to its first ignored IPI (callers add what else they know). */
export function seedLineText(r: SwarmSeedResult, ticksPerSecond: number): string {
  const fi = r.first_ignored;
  return (
    `seed ${String(r.seed).padStart(6)}  ${r.verdict.toUpperCase().padEnd(7)} ${r.emulated_seconds.toFixed(3).padStart(9)} emulated s  ` +
    `${String(r.ipis_handled).padStart(7)} IPIs handled  ${r.ignored} ignored` +
    (fi !== undefined ? ` (first: ${fi.name} CPU ${fi.sender_cpu} -> CPU ${fi.target_cpu} at ${(fi.ordered_tick / ticksPerSecond).toFixed(3)} s${fi.interleaving !== undefined ? `, ${fi.interleaving}` : ''})` : '')
  );
}

/** The human summary after its headline: the spreads, the seeds by verdict, and `--expect`'s answer. */
export function summaryDetailLines(sum: Pick<SwarmSummary, 'emulated_seconds' | 'ipis_handled' | 'first_ignored_seconds' | 'seeds_by_verdict' | 'verdicts'>, expect: string | undefined, differs: readonly number[]): string[] {
  const lines = [`  emulated s at the end: min ${sum.emulated_seconds.min}, median ${sum.emulated_seconds.median}, max ${sum.emulated_seconds.max}; IPIs handled: median ${sum.ipis_handled.median}`];
  if (sum.first_ignored_seconds !== undefined) {
    lines.push(`  first ignored IPI ordered at (emulated s): min ${sum.first_ignored_seconds.min}, median ${sum.first_ignored_seconds.median}, max ${sum.first_ignored_seconds.max}`);
  }
  for (const [v, l] of Object.entries(sum.seeds_by_verdict)) lines.push(`  ${v}: seeds ${l.join(', ')}${(sum.verdicts[v] ?? 0) > l.length ? ', ...' : ''}`);
  if (expect !== undefined) lines.push(differs.length === 0 ? `  every seed: ${expect}, as expected` : `  not ${expect}: seeds ${differs.slice(0, 50).join(', ')}${differs.length > 50 ? ', ...' : ''}`);
  return lines;
}

export interface SwarmOptions {
  /** Built-in scenario name or scenario file, as given on the command line. */
  scenario: string;
  seeds: number[];
  options: SwarmSimOptions;
  jobs?: number;
  /** Called for each seed, in seed order. */
  onResult: (r: SwarmSeedResult) => void;
}

/** Runs the seeds over `jobs` worker threads (default: the machine's parallelism). */
export async function runSwarm(o: SwarmOptions): Promise<{ results: SwarmSeedResult[]; jobs: number; wallMs: number }> {
  const t0 = Date.now();
  const jobs = Math.max(1, Math.min(o.jobs ?? availableParallelism(), o.seeds.length));
  const results = new Map<number, SwarmSeedResult>();
  const order = o.seeds;
  let next = 0;
  let reported = 0;
  let failure: Error | null = null;
  const report = (): void => {
    while (reported < order.length && results.has(order[reported] as number)) o.onResult(results.get(order[reported++] as number) as SwarmSeedResult);
  };
  const workers = Array.from({ length: jobs }, () => new Worker(new URL(import.meta.url), { workerData: { scenario: o.scenario, options: o.options } satisfies WorkerInit }));
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = (): void => {
              if (failure !== null || next >= order.length) {
                w.postMessage({ done: true } satisfies ToWorker);
                return;
              }
              w.postMessage({ seed: order[next++] as number } satisfies ToWorker);
            };
            w.on('message', (m: FromWorker) => {
              if ('error' in m) {
                failure ??= new Error(`seed ${m.seed}: ${m.error}`);
              } else {
                results.set(m.seed, m.result);
                report();
              }
              feed();
            });
            w.on('error', (e) => {
              failure ??= e;
              reject(e);
            });
            w.on('exit', () => resolve());
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (failure !== null) throw failure;
  return { results: order.map((s) => results.get(s) as SwarmSeedResult), jobs, wallMs: Date.now() - t0 };
}

// The worker side.
if (!isMainThread && parentPort !== null && (workerData as WorkerInit | undefined)?.scenario !== undefined) {
  const init = workerData as WorkerInit;
  const port = parentPort;
  const scenario = resolveScenario(init.scenario);
  port.on('message', (m: ToWorker) => {
    if ('done' in m) {
      port.close();
      return;
    }
    try {
      const r = runSim(scenario, { ...init.options, seed: m.seed });
      port.postMessage({ seed: m.seed, result: seedResultOf(r) } satisfies FromWorker);
    } catch (e) {
      port.postMessage({ seed: m.seed, error: e instanceof Error ? e.message : String(e) } satisfies FromWorker);
    }
  });
}
