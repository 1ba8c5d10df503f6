/**
 * Benchmarks of the machine itself in `sim`: raw memory-operation throughput, litmus runs, how
 * the cost of a step grows with the number of cores, and the kernel model on the seed's machine
 * (time to the 2019 hang on v5.3, IPI throughput on v5.4). All ratios are measured within one run.
 */
import { Random } from '../stdx/index.js';
import { LocationTable } from '../machine/index.js';
import type { Program, Topology } from '../machine/index.js';
import { World } from '../sim/world.js';
import { parseLitmus } from '../litmus/index.js';
import { runLitmus } from '../litmus/run.js';
import { runSim } from '../sim/run-sim.js';
import { resolveScenario } from '../sim/scenario.js';
import type { Bench, Figure } from './figures.js';

/** Random loads and stores over `locs` with an lwsync in 32 and a sync in 64 ops; `ops` of them. */
function* mixedWorkload(rng: Random, locs: number[], ops: number): Program {
  for (let i = 0; i < ops; i++) {
    const loc = locs[rng.int(locs.length)] as number;
    const r = rng.int(64);
    if (r === 0) yield { k: 'sync' };
    else if (r < 3) yield { k: 'lwsync' };
    else if (r < 22) yield { k: 'st', loc, value: i };
    else yield { k: 'ld', loc };
  }
}

function world(topology: Topology, nlocs: number, homeOf: (i: number) => number, opsPerThread: (cpu: number) => number, seed: number): World {
  const table = new LocationTable();
  const ids: number[] = [];
  for (let i = 0; i < nlocs; i++) ids.push(table.add(`m${i}`, homeOf(i)));
  return new World({
    topology,
    locations: table,
    seed,
    software: (cpu) => {
      const n = opsPerThread(cpu);
      if (n === 0) return null;
      const rng = new Random(seed, `bench/${cpu}`);
      return { main: () => mixedWorkload(rng, ids, n) };
    },
    policy: { applyImmediateProb: 0.25, applyDelayTicksMax: 24, applyTailProb: 0, applyTailTicksMax: 0, stallProb: 0, stallTicksMax: 1, storeDelayProb: 0, storeDelayTicksMax: 0, earlyLoadProb: 0, earlyLoadTicksMax: 0, evictIdleTicks: 0 },
  });
}

function memOpsPerSecond(cores: number, threadsPerCore: number, opsPerThread: number): { opsPerS: number; ops: number; seconds: number } {
  const t: Topology = { name: 'bench', cpuModel: 'power9', sockets: 1, coresPerSocket: cores, threadsPerCore };
  const w = world(t, 64, (i) => i % cores, () => opsPerThread, 7);
  const t0 = process.hrtime.bigint();
  w.run({ ticksMax: Number.MAX_SAFE_INTEGER });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ops = w.cores.reduce((s, c) => s + c.stats.memOps, 0);
  return { opsPerS: ops / seconds, ops, seconds };
}

/** Nanoseconds of wall time per core-step, with one busy thread per core on mostly local data. */
function stepCost(cores: number, ticks: number): { nsPerCoreStep: number; busMsgs: number } {
  const t: Topology = { name: 'bench', cpuModel: 'power9', sockets: 1, coresPerSocket: cores, threadsPerCore: 1 };
  const table = new LocationTable();
  const local: number[][] = [];
  for (let c = 0; c < cores; c++) local.push([table.add(`l${c}a`, c), table.add(`l${c}b`, c)]);
  const shared = table.add('shared', 0);
  const seed = 11;
  const w = new World({
    topology: t,
    locations: table,
    seed,
    software: (cpu) => {
      const rng = new Random(seed, `step/${cpu}`);
      const mine = local[cpu] as number[];
      return {
        main: function* (): Program {
          for (;;) {
            const r = rng.int(64);
            if (r === 0) yield { k: 'st', loc: shared, value: cpu };
            else if (r < 16) yield { k: 'st', loc: mine[r & 1] as number, value: r };
            else yield { k: 'ld', loc: mine[r & 1] as number };
          }
        },
      };
    },
    policy: { applyImmediateProb: 0.25, applyDelayTicksMax: 24, applyTailProb: 0, applyTailTicksMax: 0, stallProb: 0, stallTicksMax: 1, storeDelayProb: 0, storeDelayTicksMax: 0, earlyLoadProb: 0, earlyLoadTicksMax: 0, evictIdleTicks: 0 },
  });
  const t0 = process.hrtime.bigint();
  w.run({ ticksMax: ticks });
  const ns = Number(process.hrtime.bigint() - t0);
  return { nsPerCoreStep: ns / (ticks * cores), busMsgs: w.bus.sent };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const HANG_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

const MP = `PPC MP
""
{
0:r2=x; 0:r4=y; 1:r2=y; 1:r4=x;
}
 P0           | P1           ;
 li r1,1      | lwz r1,0(r2) ;
 stw r1,0(r2) | lwz r3,0(r4) ;
 li r3,1      |              ;
 stw r3,0(r4) |              ;
exists
(1:r1=1 /\\ 1:r3=0)
`;

export const simBenches: Bench[] = [
  {
    name: 'sim.mem_ops_per_s',
    summary: 'simulated memory operations per second (one host core; 1 and 4 emulated cores, SMT4)',
    async run(): Promise<Figure[]> {
      memOpsPerSecond(1, 4, 50_000); // warm-up
      const one = memOpsPerSecond(1, 4, 500_000);
      const four = memOpsPerSecond(4, 4, 125_000);
      return [
        { bench: 'sim.mem_ops_per_s', value: Math.round(one.opsPerS), unit: 'ops/s', cores: 1, threads: 4, ops: one.ops, target: 1_000_000 },
        { bench: 'sim.mem_ops_per_s.4cores', value: Math.round(four.opsPerS), unit: 'ops/s', cores: 4, threads: 16, ops: four.ops },
      ];
    },
  },
  {
    name: 'litmus.runs_per_s',
    summary: 'litmus runs per second (MP, 2 threads, one per core), and the time of 10,000 runs',
    async run(): Promise<Figure[]> {
      const test = parseLitmus(MP, 'MP.litmus');
      runLitmus(test, { runs: 500, seed: 1, placement: 'cores' });
      const t0 = process.hrtime.bigint();
      const r = runLitmus(test, { runs: 10_000, seed: 1, placement: 'cores' });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      return [
        { bench: 'litmus.runs_per_s', value: Math.round(r.runs / s), unit: 'runs/s', test: 'MP', placement: 'cores' },
        { bench: 'litmus.mp_10k_runs_s', value: Number(s.toFixed(3)), unit: 's', target_max: 5 },
      ];
    },
  },
  {
    name: 'sim.step_ns',
    summary: 'wall time per core-step at 4, 32 and 128 cores (1 busy thread per core), and the growth',
    async run(): Promise<Figure[]> {
      stepCost(4, 20_000);
      const figs: Figure[] = [];
      const base = stepCost(4, 200_000);
      for (const [cores, ticks] of [[4, 200_000], [32, 40_000], [128, 10_000]] as const) {
        const r = cores === 4 ? base : stepCost(cores, ticks);
        figs.push({ bench: `sim.step_ns.cores_${cores}`, value: Number(r.nsPerCoreStep.toFixed(1)), unit: 'ns/core-step', cores, ratio_vs_4: Number((r.nsPerCoreStep / base.nsPerCoreStep).toFixed(2)) });
      }
      return figs;
    },
  },
  {
    name: 'sim.host_ipi_2019.seconds_to_hang',
    summary: 'host-ipi-2019 on v5.3 (the seed machine, 128 threads): wall seconds until the hang is reported, median over 8 seeds',
    async run(): Promise<Figure[]> {
      const s = resolveScenario('host-ipi-2019');
      runSim(s, { kernel: 'v5.3', seed: 99, ticksMax: 5_000 }); // warm-up
      const runs: Array<{ seed: number; verdict: string; seconds: number; ticks: number; interleavings: string[] }> = [];
      for (const seed of HANG_SEEDS) {
        const t0 = process.hrtime.bigint();
        const r = runSim(s, { kernel: 'v5.3', seed, ticksMax: 1_000_000 });
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        runs.push({ seed, verdict: r.verdict, seconds: Number(seconds.toFixed(3)), ticks: r.ticks, interleavings: r.ignored.map((i) => i.interleaving ?? 'unknown') });
      }
      const hung = runs.filter((r) => r.verdict === 'hang').length;
      return [
        {
          bench: 'sim.host_ipi_2019.seconds_to_hang', value: Number(median(runs.map((r) => r.seconds)).toFixed(3)), unit: 's',
          target_max: 1, seeds: HANG_SEEDS.length, hung, median_ticks: median(runs.map((r) => r.ticks)), runs,
        },
      ];
    },
  },
  {
    name: 'sim.ipis_per_s',
    summary: 'host-ipi-2019 on v5.4 (the fix): handled IPIs per wall second over 20,000 handled IPIs, and how many were ignored',
    async run(): Promise<Figure[]> {
      const s = resolveScenario('host-ipi-2019');
      const t0 = process.hrtime.bigint();
      const r = runSim(s, { kernel: 'v5.4', seed: 1, ipis: 20_000, ticksMax: 10_000_000 });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return [
        {
          bench: 'sim.ipis_per_s', value: Math.round(r.ipis_handled / seconds), unit: 'IPIs/s', kernel: 'v5.4',
          verdict: r.verdict, ipis_handled: r.ipis_handled, ignored: r.ignored.length, ticks: r.ticks,
          us_per_tick: Number(((seconds * 1e6) / r.ticks).toFixed(2)),
        },
      ];
    },
  },
];
